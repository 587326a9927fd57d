// Structured logs (pino) for every hypha process, with secrets redacted wherever they might appear.
import { createRequire } from 'node:module';
import type { Logger } from 'pino';

/**
 * pino is CommonJS: required rather than imported, so that Node does not scan its source for
 * named exports at start (cjs-module-lexer); that scan cost every process, the farmer agent
 * among them, megabytes of resident memory (bench/README.md "Agent footprint").
 */
const { pino } = createRequire(import.meta.url)('pino') as typeof import('pino');

/** Paths pino blanks out in every log line, whatever logs them. */
export const REDACT_PATHS = [
  'mnemonic',
  '*.mnemonic',
  'seedHex',
  '*.seedHex',
  'secretKey',
  '*.secretKey',
  'config.provisioner.options.mnemonic',
  'req.headers.authorization',
  'req.headers.cookie',
];

/** A logger for one component, JSON to stdout; level from HYPHA_LOG_LEVEL (default info). */
export function createLogger(name: string): Logger {
  return pino({
    name,
    level: process.env.HYPHA_LOG_LEVEL ?? 'info',
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
  });
}
