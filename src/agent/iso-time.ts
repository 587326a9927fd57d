// A UTC instant as Date.prototype.toISOString writes it, computed by arithmetic, so the agent's log lines never page in ICU's time-zone data.

/** Milliseconds in a day. */
const DAY_MS = 86_400_000;

/**
 * `ms` (milliseconds since the epoch) as `YYYY-MM-DDTHH:mm:ss.sssZ`, the same string as
 * `new Date(ms).toISOString()`. Why not that: V8's first toISOString builds its date cache,
 * which loads ICU's time-zone data (~0.7 MiB of the node binary paged in, bench/README.md
 * "Agent footprint") although a UTC string needs no zone. Years outside 0000–9999 (which
 * toISOString writes with a sign and six digits) and invalid times are left to toISOString.
 */
export function isoTime(ms: number): string {
  if (!Number.isFinite(ms)) return new Date(ms).toISOString();
  const days = Math.floor(ms / DAY_MS);
  const { year, month, day } = civilFromDays(days);
  if (year < 0 || year > 9999) return new Date(ms).toISOString();
  const inDay = ms - days * DAY_MS;
  const hours = Math.floor(inDay / 3_600_000);
  const minutes = Math.floor((inDay % 3_600_000) / 60_000);
  const seconds = Math.floor((inDay % 60_000) / 1000);
  const millis = Math.floor(inDay % 1000);
  return `${pad(year, 4)}-${pad(month, 2)}-${pad(day, 2)}T${pad(hours, 2)}:${pad(minutes, 2)}:${pad(seconds, 2)}.${pad(millis, 3)}Z`;
}

/**
 * The proleptic Gregorian date `days` after 1970-01-01: shifted to eras of 400 years that start
 * on 1 March, so the leap day falls at the end of each era's year and every era is the same.
 */
function civilFromDays(days: number): { year: number; month: number; day: number } {
  const shifted = days + 719_468; // days from 0000-03-01 to 1970-01-01
  const era = Math.floor(shifted / 146_097); // days in 400 years
  const dayOfEra = shifted - era * 146_097;
  const yearOfEra = Math.floor((dayOfEra - Math.floor(dayOfEra / 1460) + Math.floor(dayOfEra / 36_524) - Math.floor(dayOfEra / 146_096)) / 365);
  const dayOfYear = dayOfEra - (365 * yearOfEra + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100));
  const monthFromMarch = Math.floor((5 * dayOfYear + 2) / 153);
  const day = dayOfYear - Math.floor((153 * monthFromMarch + 2) / 5) + 1;
  const month = monthFromMarch < 10 ? monthFromMarch + 3 : monthFromMarch - 9;
  const year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0);
  return { year, month, day };
}

function pad(n: number, width: number): string {
  return String(n).padStart(width, '0');
}
