// Errors meant for the caller: a stable code, a message naming what is wrong, and a hint saying what to do next.
import { ValidationError } from '../../protocol/validate.js';

/** The error codes of the HTTP contract (docs/api.md "Errors"), with their statuses. */
export const ERROR_STATUS = {
  bad_request: 400,
  not_linked: 401,
  nonce_invalid: 401,
  nonce_expired: 401,
  wrong_subnet: 401,
  bad_signature: 401,
  insufficient_funds: 402,
  forbidden: 403,
  cross_site: 403,
  trust_limit: 403,
  not_found: 404,
  method_not_allowed: 405,
  wrong_host: 421,
  conflict: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  rate_limited: 429,
  internal: 500,
  unavailable: 503,
  /** A standby gateway's answer (src/gateway/ha/standby-server.ts); `active` names the active gateway when known. */
  standby: 503,
} as const;

/** A contract error code. */
export type ErrorCode = keyof typeof ERROR_STATUS;

/**
 * An error whose message is shown to the caller (koa's "exposed" errors). Anything else that
 * is thrown becomes a generic 500 with the details only in the log.
 */
export class PublicError extends Error {
  readonly status: number;

  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly hint?: string,
    readonly extra: Readonly<Record<string, unknown>> = {},
  ) {
    super(message);
    this.name = 'PublicError';
    this.status = ERROR_STATUS[code];
  }
}

/** The JSON body of an error response. */
export function errorBody(err: PublicError): { error: Record<string, unknown> } {
  return { error: { ...err.extra, code: err.code, message: err.message, ...(err.hint ? { hint: err.hint } : {}) } };
}

/** A 400 for a ValidationError, naming its field. */
export function fromValidation(err: ValidationError): PublicError {
  return new PublicError('bad_request', err.message, err.hint, { field: err.field });
}

/** Common errors, worded once. */
export const errors = {
  notFound: (what: string): PublicError => new PublicError('not_found', `${what} not found`),
  notLinked: (gatewayUrl: string): PublicError =>
    new PublicError(
      'not_linked',
      'this Mycelium /64 is not linked to a Unyt identity',
      `link it from this machine with your Unyt key: hypha link --gateway ${gatewayUrl} --key YOUR.key (it asks for the challenge, checks it names this gateway and this machine's /64, signs it and links); GET ${gatewayUrl}/ explains it`,
    ),
  forbidden: (message: string, hint?: string): PublicError => new PublicError('forbidden', message, hint),
};
