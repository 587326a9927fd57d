// The farmer agent's structured log: one JSON object a line on stdout, pino's fields and levels, secret fields blanked at any depth.
import { format } from 'node:util';
import { isoTime } from './iso-time.js';

/**
 * What the agent logs through: pino's call shapes (`log.info({ field }, 'message %s', arg)` or
 * `log.info('message')`), so a pino logger (the tests' `pino({ enabled: false })`) fits too.
 */
export interface AgentLog {
  debug(objOrMsg: unknown, msg?: string, ...args: unknown[]): void;
  info(objOrMsg: unknown, msg?: string, ...args: unknown[]): void;
  warn(objOrMsg: unknown, msg?: string, ...args: unknown[]): void;
  error(objOrMsg: unknown, msg?: string, ...args: unknown[]): void;
}

/** pino's level numbers, so lines read the same as the gateway's (pino) logs. */
const LOG_LEVELS = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60, silent: Infinity } as const;

/** A level name HYPHA_LOG_LEVEL may hold. */
type LogLevelName = keyof typeof LOG_LEVELS;

/**
 * Field names blanked wherever they appear in a logged object, however deep: the last segments of
 * protocol/logger.ts REDACT_PATHS (pino blanks those at the paths listed; this blanks them at any
 * path, which is stricter). A seed or secret key must never reach a log.
 */
export const SECRET_FIELDS: ReadonlySet<string> = new Set(['mnemonic', 'seedHex', 'secretKey', 'authorization', 'cookie']);

/** What replaces a secret field's value (pino's censor in protocol/logger.ts). */
export const REDACTED = '[redacted]';

/** How deep an object is copied into a line; deeper values are summarised (a log line is not a dump). */
const MAX_DEPTH = 6;

/** Options of a JSON-lines logger; the defaults are the production agent's. */
export interface JsonLinesOptions {
  /** Lowest level written (default HYPHA_LOG_LEVEL, else info). */
  readonly level?: string;
  /** Where each line goes (default stdout, written synchronously on Linux pipes and files). */
  readonly write?: (line: string) => void;
  /** The time of a line (default now); an ISO string, as pino's isoTime. */
  readonly now?: () => Date;
}

/**
 * A logger for `name` that writes `{"level":30,"time":"…","pid":…,"name":…,…fields,"msg":"…"}`
 * lines, the shape of pino's with the options of protocol/logger.ts. The agent uses it instead
 * of pino: pino and its eight dependencies cost the agent ~1 MiB of resident memory for the few
 * lines an hour it writes (bench/README.md "Agent footprint").
 */
export function createJsonLinesLogger(name: string, options: JsonLinesOptions = {}): AgentLog {
  const levelName = options.level ?? process.env.HYPHA_LOG_LEVEL ?? 'info';
  if (!Object.hasOwn(LOG_LEVELS, levelName)) {
    throw new RangeError(`HYPHA_LOG_LEVEL: unknown level ${JSON.stringify(levelName)}; use one of ${Object.keys(LOG_LEVELS).join(', ')}`);
  }
  const min = LOG_LEVELS[levelName as LogLevelName];
  const write = options.write ?? ((line: string) => void process.stdout.write(line));
  const now = options.now ?? (() => new Date());
  const at = (level: number) => (objOrMsg: unknown, msg?: string, ...args: unknown[]): void => {
    if (level < min) return;
    write(logLine(level, now(), name, objOrMsg, msg, args) + '\n');
  };
  return { debug: at(LOG_LEVELS.debug), info: at(LOG_LEVELS.info), warn: at(LOG_LEVELS.warn), error: at(LOG_LEVELS.error) };
}

/** One line's JSON: the fixed fields, the object's fields (secrets blanked), then the message. */
function logLine(level: number, time: Date, name: string, objOrMsg: unknown, msg: string | undefined, args: readonly unknown[]): string {
  const line: Record<string, unknown> = { level, time: isoTime(time.getTime()), pid: process.pid, name };
  let text: string | undefined;
  if (typeof objOrMsg === 'string') {
    // pino's `log.info('message %s', arg)`: the second argument is the first format argument.
    text = msg === undefined ? objOrMsg : format(objOrMsg, msg, ...args);
  } else {
    if (objOrMsg instanceof Error) line.err = errorFields(objOrMsg);
    else if (objOrMsg !== null && typeof objOrMsg === 'object') {
      for (const [k, v] of Object.entries(objOrMsg)) if (!(k in line)) line[k] = safeValue(k, v, 1, new Set());
    }
    if (msg !== undefined) text = args.length > 0 ? format(msg, ...args) : msg;
    else if (objOrMsg instanceof Error) text = objOrMsg.message;
  }
  if (text !== undefined) line.msg = text;
  return JSON.stringify(line);
}

/** `value` made fit for a line: secrets blanked by field name, errors as pino's err serializer, bigints as strings, cycles and depth bounded. */
function safeValue(key: string, value: unknown, depth: number, seen: Set<object>): unknown {
  if (SECRET_FIELDS.has(key)) return REDACTED;
  if (typeof value === 'bigint') return value.toString();
  if (value === null || typeof value !== 'object') return typeof value === 'function' || typeof value === 'symbol' ? undefined : value;
  if (value instanceof Error) return errorFields(value);
  if (value instanceof Date) return isoTime(value.getTime());
  if (seen.has(value)) return '[Circular]';
  if (depth > MAX_DEPTH) return Array.isArray(value) ? '[Array]' : '[Object]';
  seen.add(value);
  let out: unknown;
  if (ArrayBuffer.isView(value)) out = `[${value.constructor.name} ${value.byteLength} bytes]`;
  else if (Array.isArray(value)) out = value.map((v: unknown) => safeValue('', v, depth + 1, seen));
  else {
    const copy: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) copy[k] = safeValue(k, v, depth + 1, seen);
    out = copy;
  }
  seen.delete(value);
  return out;
}

/** An error as pino's standard serializer writes it: its type, message and stack. */
function errorFields(err: Error): Record<string, unknown> {
  return { type: err.name, message: err.message, stack: err.stack };
}
