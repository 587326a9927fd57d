// The offer catalog: data/offers.json, with price overrides from the gateway config.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { errorMessage } from '../identity/error-message.js';
import { ValidationError, expectArray, expectInteger, expectObject, expectOnlyKeys, expectString } from '../protocol/validate.js';
import { UNIT, formatAmount, parseAmount } from '../protocol/money.js';
import type { Offer } from '../protocol/offer.js';

/** The catalog shipped with hypha (the grid's own sizes). */
export const DEFAULT_OFFERS_FILE = fileURLToPath(new URL('../../../data/offers.json', import.meta.url));

/** Loads offers from `path`, applying `prices` overrides (decimal strings by offer id). */
export function loadOffers(path: string, prices: Readonly<Record<string, string>> = {}): Offer[] {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new ValidationError('offersFile', `cannot read the offer catalog ${path}: ${errorMessage(err)}`);
  }
  const doc = expectObject(raw, 'offers.json');
  expectOnlyKeys(doc, ['unit', 'offers'], 'offers.json');
  const unit = doc.unit === undefined ? UNIT : expectString(doc.unit, 'offers.json.unit', { maxLength: 16 });
  const offers = expectArray(doc.offers, 'offers.json.offers', 1, 100, (v, f): Offer => {
    const o = expectObject(v, f);
    expectOnlyKeys(o, ['id', 'cpu', 'memoryGb', 'diskGb', 'pricePerHour', 'flist'], f);
    const id = expectString(o.id, `${f}.id`, { maxLength: 32, pattern: /^[a-z0-9][a-z0-9-]*$/, patternName: 'lower-case letters, digits and -' });
    const price = prices[id] ?? o.pricePerHour;
    return {
      id,
      cpu: expectInteger(o.cpu, `${f}.cpu`, 1, 1024),
      memoryGb: expectInteger(o.memoryGb, `${f}.memoryGb`, 1, 65536),
      diskGb: expectInteger(o.diskGb, `${f}.diskGb`, 1, 1_000_000),
      pricePerHourMicros: parseAmount(`${f}.pricePerHour`, price),
      unit,
      ...(o.flist === undefined ? {} : { flist: expectString(o.flist, `${f}.flist`, { maxLength: 2048 }) }),
    };
  });
  const ids = new Set<string>();
  for (const o of offers) {
    if (ids.has(o.id)) throw new ValidationError('offers.json.offers', `offer id ${o.id} appears twice`);
    ids.add(o.id);
  }
  for (const id of Object.keys(prices)) if (!ids.has(id)) throw new ValidationError(`config.prices.${id}`, 'names no offer in the catalog');
  return offers;
}

/** An offer as the API shows it (GET /v1/offers) and the customer page lists it. */
export interface OfferView {
  readonly id: string;
  readonly cpu: number;
  readonly memoryGb: number;
  readonly diskGb: number;
  /** A decimal string of `unit`. */
  readonly pricePerHour: string;
  readonly unit: string;
  /** VMs of this offer that can be placed right now. */
  readonly available: number;
}

/** An offer as the API shows it (amounts as decimal strings). */
export function offerView(offer: Offer, available: number): OfferView {
  return {
    id: offer.id,
    cpu: offer.cpu,
    memoryGb: offer.memoryGb,
    diskGb: offer.diskGb,
    pricePerHour: formatAmount(offer.pricePerHourMicros),
    unit: offer.unit,
    available,
  };
}
