// What curl prints with `-w '\n%{http_code}'` (the body, a newline, the status), split back into the status, the body and the body parsed.
/** One curl answer. */
export interface CurlOutput {
  readonly status: number;
  /** The body as text. */
  readonly text: string;
  /** The parsed body when it is JSON; undefined otherwise (a plain-text page, an empty body). */
  readonly json: unknown;
}

/** Splits curl's output at its last newline: the body before it, the HTTP status after it. */
export function parseCurlOutput(stdout: string): CurlOutput {
  const cut = stdout.lastIndexOf('\n');
  const text = stdout.slice(0, cut);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: Number(stdout.slice(cut + 1)), text, json };
}
