// The agent's outbox on disk: heartbeats and chain heads the gateway has not yet durably counted, bounded, replayed on reconnect.
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { GENESIS_HEAD, type ChainHeadMessage, type HeartbeatMessage } from '../protocol/index.js';
import { writeSecureFile } from '../identity/index.js';

/** A message waiting in the outbox. */
export type OutMessage = HeartbeatMessage | ChainHeadMessage;

/** The chain as the agent has it. */
export interface ChainPosition {
  readonly seq: number;
  readonly head: string;
}

interface Saved {
  ackedSeq: number;
  seq: number;
  head: string;
}

/**
 * `outbox.jsonl` holds every message not yet acknowledged, one per line (appended, so a
 * heartbeat costs one small write); `chain.json` holds the chain position at the last
 * acknowledgement. When the outbox passes its bound, the oldest heartbeats are dropped and
 * counted: the gateway will see a gap, which is honest, rather than the agent running out of disk.
 */
export class OutBuffer {
  private messages: OutMessage[] = [];
  /** How many of `messages` are heartbeats, kept as they change rather than counted on every push (O(outbox) per heartbeat while the gateway is away). */
  private heartbeats = 0;
  private saved: Saved = { ackedSeq: 0, seq: 0, head: GENESIS_HEAD };
  /** Heartbeats dropped because the outbox was full. */
  dropped = 0;

  constructor(private readonly dir: string, private readonly maxHeartbeats: number) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const chainPath = join(dir, 'chain.json');
    if (existsSync(chainPath)) this.saved = JSON.parse(readFileSync(chainPath, 'utf8')) as Saved;
    const outPath = join(dir, 'outbox.jsonl');
    if (existsSync(outPath)) {
      for (const line of readFileSync(outPath, 'utf8').split('\n')) {
        if (line === '') continue;
        try {
          this.messages.push(JSON.parse(line) as OutMessage);
        } catch {
          // A line cut by a crash: the heartbeat it held is lost, and the gateway will see the gap.
        }
      }
      this.heartbeats = countHeartbeats(this.messages);
      this.rewrite();
    }
  }

  /** Where the chain stands: after the last buffered heartbeat, or at the last acknowledgement. */
  position(): ChainPosition {
    for (let i = this.messages.length - 1; i >= 0; i--) {
      const m = this.messages[i] as OutMessage;
      if (m.type === 'heartbeat') return { seq: m.seq, head: this.headAfter(m) };
    }
    return { seq: this.saved.seq, head: this.saved.head };
  }

  /** The highest seq the gateway acknowledged. */
  get ackedSeq(): number {
    return this.saved.ackedSeq;
  }

  /** Buffers a message (before it is sent, so a crash cannot lose a sent-but-unbuffered one). */
  push(message: OutMessage, headAfter?: string): void {
    const stored = headAfter === undefined ? message : ({ ...message, headAfter } as unknown as OutMessage);
    this.messages.push(stored);
    appendFileSync(join(this.dir, 'outbox.jsonl'), JSON.stringify(stored) + '\n', { mode: 0o600 });
    if (message.type === 'heartbeat') this.heartbeats++;
    if (this.heartbeats > this.maxHeartbeats) {
      // Drop the oldest heartbeats only: chain heads are small, and each still vouches for its period.
      while (this.heartbeats > this.maxHeartbeats) {
        this.messages.splice(this.messages.findIndex((m) => m.type === 'heartbeat'), 1);
        this.heartbeats--;
        this.dropped++;
      }
      this.rewrite();
    }
  }

  /** Messages to (re)send after the gateway said where it stands: heartbeats from `fromSeq`, and every chain head. */
  replay(fromSeq: number): OutMessage[] {
    return this.messages.filter((m) => m.type === 'chain-head' || m.seq >= fromSeq).map(strip);
  }

  /** The gateway durably counted everything up to `seq`: forget it. */
  ack(seq: number): void {
    if (seq <= this.saved.ackedSeq) return;
    const last = [...this.messages].reverse().find((m): m is HeartbeatMessage => m.type === 'heartbeat' && m.seq <= seq);
    const position = last ? { seq: last.seq, head: this.headAfter(last) } : { seq: this.saved.seq, head: this.saved.head };
    this.saved = { ackedSeq: seq, ...position };
    this.messages = this.messages.filter((m) => m.seq > seq);
    this.heartbeats = countHeartbeats(this.messages);
    writeSecureFile(join(this.dir, 'chain.json'), JSON.stringify(this.saved));
    this.rewrite();
  }

  /** Re-anchors the chain where the gateway says it stands (after the agent lost its own state). */
  reanchor(seq: number, head: string): void {
    this.messages = [];
    this.heartbeats = 0;
    this.saved = { ackedSeq: seq, seq, head };
    writeSecureFile(join(this.dir, 'chain.json'), JSON.stringify(this.saved));
    this.rewrite();
  }

  /** Messages waiting. */
  get size(): number {
    return this.messages.length;
  }

  private headAfter(m: HeartbeatMessage): string {
    return (m as HeartbeatMessage & { headAfter?: string }).headAfter ?? this.saved.head;
  }

  private rewrite(): void {
    writeSecureFile(join(this.dir, 'outbox.jsonl'), this.messages.map((m) => JSON.stringify(m) + '\n').join(''));
  }
}

function countHeartbeats(messages: readonly OutMessage[]): number {
  let n = 0;
  for (const m of messages) if (m.type === 'heartbeat') n++;
  return n;
}

function strip(m: OutMessage): OutMessage {
  if (m.type !== 'heartbeat') return m;
  const { headAfter: _h, ...rest } = m as HeartbeatMessage & { headAfter?: string };
  return rest;
}
