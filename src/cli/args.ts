// Argument parsing for subcommands, on node:util parseArgs, turning its errors into UsageError.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { errorMessage } from '../identity/error-message.js';
import { UsageError } from './cli-error.js';

type Options = NonNullable<ParseArgsConfig['options']>;

/** Parsed flags and positionals of one subcommand. */
export interface Parsed {
  readonly values: Record<string, string | boolean | string[] | undefined>;
  readonly positionals: string[];
}

/** Parses `argv` against `options` (strict); unknown flags and missing values become UsageError. */
export function parse(argv: string[], options: Options, allowPositionals = true): Parsed {
  try {
    const { values, positionals } = parseArgs({ args: argv, options, allowPositionals, strict: true });
    return { values: values as Parsed['values'], positionals };
  } catch (err) {
    throw new UsageError(errorMessage(err).split('\n')[0] ?? 'bad arguments');
  }
}

/** A required string flag. */
export function required(parsed: Parsed, name: string): string {
  const v = parsed.values[name];
  if (typeof v !== 'string' || v === '') throw new UsageError(`--${name} is required`);
  return v;
}

/** An optional string flag. */
export function optional(parsed: Parsed, name: string): string | undefined {
  const v = parsed.values[name];
  return typeof v === 'string' ? v : undefined;
}

/** Exactly one positional argument, named `what` in the error. */
export function onePositional(parsed: Parsed, what: string): string {
  if (parsed.positionals.length !== 1) throw new UsageError(`expected one argument: ${what}`);
  return parsed.positionals[0] as string;
}

/** A positive number flag (seconds, counts), or `fallback`. */
export function positiveNumber(parsed: Parsed, name: string, fallback: number): number {
  const v = optional(parsed, name);
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`--${name} must be a positive number, got ${JSON.stringify(v)}`);
  return n;
}

/** All of stdin as bytes. */
export async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
