// Money at the edges: decimal strings with up to 6 places <-> integer micro-units (bigint). Never a float.

/** Decimal places of every amount; "0.050000" has 6. */
export const AMOUNT_DECIMALS = 6;
/** Micro-units per whole unit. */
export const MICROS_PER_UNIT = 10n ** BigInt(AMOUNT_DECIMALS);
/** The unit hypha prices and pays in: SPORE, Project Mycelium's token. */
export const UNIT = 'SPORE';

/** An amount that could not be read; `field` names where it came from. */
export class AmountError extends RangeError {
  constructor(readonly field: string, message: string) {
    super(`${field}: ${message}`);
    this.name = 'AmountError';
  }
}

const DECIMAL = /^(0|[1-9][0-9]{0,29})(?:\.([0-9]{1,6}))?$/;

/**
 * Parses a non-negative decimal string ("12", "0.05", "0.050000") into micro-units.
 * Refused: numbers (floats lose money), signs, exponents, spaces, more than 6 places,
 * more than 30 integer digits.
 */
export function parseAmount(field: string, value: unknown): bigint {
  if (typeof value !== 'string') {
    throw new AmountError(field, `must be a decimal string such as "1.500000", got ${typeof value === 'number' ? 'a number' : typeof value}`);
  }
  const m = DECIMAL.exec(value);
  if (!m) throw new AmountError(field, `${JSON.stringify(value.slice(0, 40))} is not a decimal amount with at most ${AMOUNT_DECIMALS} places`);
  const whole = BigInt(m[1] as string);
  const frac = BigInt((m[2] ?? '').padEnd(AMOUNT_DECIMALS, '0'));
  return whole * MICROS_PER_UNIT + frac;
}

/** Like parseAmount, but zero is refused too. */
export function parsePositiveAmount(field: string, value: unknown): bigint {
  const micros = parseAmount(field, value);
  if (micros === 0n) throw new AmountError(field, 'must be more than zero');
  return micros;
}

/** The decimal string of an amount in micro-units, always with 6 places: 50000n -> "0.050000". */
export function formatAmount(micros: bigint): string {
  const negative = micros < 0n;
  const abs = negative ? -micros : micros;
  const whole = abs / MICROS_PER_UNIT;
  const frac = (abs % MICROS_PER_UNIT).toString().padStart(AMOUNT_DECIMALS, '0');
  return `${negative ? '-' : ''}${whole}.${frac}`;
}
