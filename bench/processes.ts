// Processes a bench starts: how to end one (SIGTERM, then SIGKILL), wait for its ready line, read its CPU time, and read the warnings it logged.
import type { ChildProcess } from 'node:child_process';
import { createWriteStream, readdirSync, readFileSync } from 'node:fs';

/** A process this bench started, and how to end it. */
export interface Started {
  readonly name: string;
  readonly child: ChildProcess;
  readonly pid: number;
  readonly exited: Promise<void>;
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
export async function stopProcess(p: Started, graceMs = 10_000): Promise<void> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return;
  p.child.kill('SIGTERM');
  const killer = setTimeout(() => p.child.kill('SIGKILL'), graceMs);
  await p.exited;
  clearTimeout(killer);
}

/** Resolves when `p` prints `marker` (stdout or stderr); fails if it exits first or after `timeoutMs`. */
export function waitForLine(p: Started, marker: string, timeoutMs: number, logFile: string): Promise<void> {
  const log = createWriteStream(logFile);
  p.child.stdout?.pipe(log);
  p.child.stderr?.pipe(log);
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`${p.name}: no "${marker}" after ${timeoutMs / 1000} s (log: ${logFile})`)), timeoutMs);
    const onData = (d: Buffer): void => {
      if (seen.length < 1 << 16) seen += d.toString('utf8');
      if (seen.includes(marker)) {
        clearTimeout(timer);
        p.child.stdout?.off('data', onData);
        resolve();
      }
    };
    p.child.stdout?.on('data', onData);
    void p.exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`${p.name} exited before "${marker}": ${seen.slice(-2000).trim()}`));
    });
  });
}

/** Lines of a pino log at level warn (40) or above. */
export function warningsIn(logFile: string): number {
  return readFileSync(logFile, 'utf8')
    .split('\n')
    .filter((line) => /^\{"level":[4-6]0,/.test(line)).length;
}

/** The first `n` lines of a pino log at level warn (40) or above, each as its level and message. */
export function firstWarnings(logFile: string, n: number): string[] {
  return readFileSync(logFile, 'utf8')
    .split('\n')
    .filter((line) => /^\{"level":[4-6]0,/.test(line))
    .slice(0, n)
    .map((line) => {
      const o = JSON.parse(line) as { level: number; msg?: string; event?: string; err?: { message?: string } };
      return `level ${o.level}: ${o.msg ?? ''}${o.event ? ` (${o.event})` : ''}${o.err?.message ? `: ${o.err.message}` : ''}`;
    });
}

/** Seconds of CPU (user + system) process `pid` has used, from /proc/PID/stat (proc(5): utime, stime in clock ticks). */
export function cpuSeconds(pid: number, ticksPerSecond: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond;
}

/**
 * Nanoseconds of CPU process `pid` has run so far, summed over its threads (/proc/PID/task/TID/schedstat,
 * first field: the scheduler's sum_exec_runtime). Unlike /proc/PID/stat's 10 ms ticks it resolves a
 * one-second round to the microsecond; a thread that has already exited is not counted (a Node
 * server's threads live as long as it does).
 */
export function cpuNanos(pid: number): number {
  let sum = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      sum += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // The thread ended between the listing and the read: its time is gone with it.
    }
  }
  return sum;
}

/** How many lines of a pino log have a message (`msg`) starting with `prefix`. */
export function logMessagesStartingWith(logFile: string, prefix: string): number {
  const needle = `"msg":${JSON.stringify(prefix).slice(0, -1)}`;
  return readFileSync(logFile, 'utf8')
    .split('\n')
    .filter((line) => line.includes(needle)).length;
}

/** Ticks of CPU (user + system) of a process and, with `reaped`, of its waited-for children; 0 once it is gone. */
function procTicks(pid: number, reaped: boolean): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Fields after the command: state is index 0, utime 11, stime 12, cutime 13, cstime 14 (proc(5)).
    return Number(f[11]) + Number(f[12]) + (reaped ? Number(f[13]) + Number(f[14]) : 0);
  } catch {
    return 0;
  }
}

/** Seconds of CPU a PostgreSQL server (its data folder) has used so far: the postmaster, its exited backends, and its live ones. */
export function postgresCpuSeconds(dataDir: string, ticksPerSecond: number): number {
  const pid = Number(readFileSync(`${dataDir}/postmaster.pid`, 'utf8').split('\n')[0]);
  const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter((c) => c !== '').map(Number);
  return (procTicks(pid, true) + children.reduce((sum, c) => sum + procTicks(c, false), 0)) / ticksPerSecond;
}
