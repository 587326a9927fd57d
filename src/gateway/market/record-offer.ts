// The offer an order or deployment was sold as: the catalog's, or the one its farmer's signed bid describes.
import { parseAmount } from '../../protocol/money.js';
import type { Offer } from '../../protocol/offer.js';
import type { SignedBid } from '../../protocol/bid.js';

/** The offer id orders and deployments made from a bid carry (it names no catalog offer). */
export const BID_OFFER_ID = 'bid';

/** The offer a bid sells: its size, at its price. */
export function bidOffer(bid: SignedBid): Offer {
  return { id: BID_OFFER_ID, cpu: bid.cpu, memoryGb: bid.memoryGb, diskGb: bid.diskGb, pricePerHourMicros: parseAmount('bid.pricePerHour', bid.pricePerHour), unit: bid.unit };
}

/** The offer of a record: its bid's when it has one, else the catalog's by id (undefined when withdrawn). */
export function recordOffer(record: { readonly offer: string; readonly bid?: SignedBid }, catalog: (id: string) => Offer | undefined): Offer | undefined {
  return record.bid ? bidOffer(record.bid) : catalog(record.offer);
}
