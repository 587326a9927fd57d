// The one way a page allows its own inline style sheet or script: by the sha256 of its exact text in the Content-Security-Policy.
import { createHash } from 'node:crypto';
import type { SafeHtml } from './html.js';

/** The CSP source expression (`'sha256-…'`) that allows exactly this inline style sheet or script. */
export function cspHash(asset: SafeHtml): string {
  return `'sha256-${createHash('sha256').update(asset.text, 'utf8').digest('base64')}'`;
}
