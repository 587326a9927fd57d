// HTML escaping for the server-rendered pages (admin and customer): one escape helper, and a template tag that applies it to every interpolated value.

const ESCAPES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** A value the page may show as text. */
export type Printable = string | number | bigint | boolean | null | undefined;

/**
 * The one escape helper: text made safe for an HTML text node or a double- or single-quoted
 * attribute value. `null` and `undefined` become the empty string.
 */
export function escapeHtml(value: Printable): string {
  if (value === null || value === undefined) return '';
  return String(value).replace(/[&<>"']/g, (c) => ESCAPES[c] as string);
}

/** Markup that is already safe to emit: only `html` makes it, so a plain string can never pass for it. */
export class SafeHtml {
  /** @internal use the `html` tag. */
  constructor(readonly text: string) {}

  toString(): string {
    return this.text;
  }
}

/**
 * Template tag for markup: the literal parts are trusted (they are in the source), every
 * interpolated value goes through `escapeHtml` unless it is a `SafeHtml` from another `html`
 * call. Arrays are rendered element by element; `null`, `undefined` and `false` render nothing.
 */
export function html(strings: TemplateStringsArray, ...values: unknown[]): SafeHtml {
  let out = strings[0] as string;
  for (let i = 0; i < values.length; i++) out += render(values[i]) + (strings[i + 1] as string);
  return new SafeHtml(out);
}

function render(value: unknown): string {
  if (value instanceof SafeHtml) return value.text;
  if (Array.isArray(value)) return value.map(render).join('');
  if (value === false) return '';
  // An object would print as "[object Object]": a bug in the caller, never something to show.
  if (typeof value === 'object' && value !== null) throw new TypeError('html: cannot interpolate an object; pass a string, a number or html``');
  if (typeof value === 'function' || typeof value === 'symbol') throw new TypeError(`html: cannot interpolate a ${typeof value}`);
  return escapeHtml(value as Printable);
}
