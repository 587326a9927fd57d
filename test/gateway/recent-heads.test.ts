// RecentHeads gives the answers of the Map of seq -> head it replaced (oldest dropped past the bound), across growth, wrap-around and gaps.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { RecentHeads } from '../../src/gateway/agents/recent-heads.js';
import { RECENT_HEADS } from '../../src/gateway/agents/heartbeat-chain.js';

/** The model: what HeartbeatChain kept before (a Map, its oldest entry deleted past the bound). */
class MapModel {
  readonly map = new Map<number, string>();
  constructor(private readonly bound: number) {}
  put(seq: number, head: string): void {
    this.map.set(seq, head);
    if (this.map.size > this.bound) this.map.delete(this.map.keys().next().value as number);
  }
}

const head = (): string => randomBytes(32).toString('hex');

test('same answers as the Map it replaced, for any bound and any increasing seqs with gaps', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 300 }), fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 0, maxLength: 700 }), (bound, steps) => {
      const ring = new RecentHeads(bound);
      const model = new MapModel(bound);
      let seq = 0;
      for (const step of steps) {
        seq += step;
        const h = head();
        ring.put(seq, h);
        model.put(seq, h);
      }
      assert.equal(ring.size, model.map.size);
      for (let s = 0; s <= seq + 1; s++) assert.equal(ring.get(s), model.map.get(s), `seq ${s} of ${seq}, bound ${bound}`);
    }),
    { numRuns: 200 },
  );
});

test('at the production bound: the last RECENT_HEADS heads are kept, older ones forgotten', () => {
  const ring = new RecentHeads(RECENT_HEADS);
  const heads: string[] = [];
  const n = RECENT_HEADS * 2 + 17;
  for (let seq = 1; seq <= n; seq++) {
    heads[seq] = head();
    ring.put(seq, heads[seq] as string);
  }
  assert.equal(ring.size, RECENT_HEADS);
  assert.equal(ring.get(n), heads[n]);
  assert.equal(ring.get(n - RECENT_HEADS + 1), heads[n - RECENT_HEADS + 1]);
  assert.equal(ring.get(n - RECENT_HEADS), undefined);
  assert.equal(ring.get(1), undefined);
});

test('refuses what it cannot keep exactly: a seq not above the last, a head that is not 64 hex digits, a bad bound', () => {
  const ring = new RecentHeads(8);
  ring.put(5, head());
  assert.throws(() => ring.put(5, head()), /seq 5 is not above the last one kept/);
  assert.throws(() => ring.put(6, 'zz'.repeat(32)), /64 hex digits/);
  assert.throws(() => new RecentHeads(0), /bound must be a positive integer/);
  assert.equal(ring.size, 1, 'a refused put keeps nothing');
});

test('a refused put at the bound evicts nothing', () => {
  const ring = new RecentHeads(2);
  const a = head();
  ring.put(1, a);
  ring.put(2, head());
  assert.throws(() => ring.put(3, 'not hex'), /64 hex digits/);
  assert.equal(ring.get(1), a);
  assert.equal(ring.size, 2);
});

/** The check `put` made before it counted char codes: the heads it refused must be refused still, and no others. */
const OLD_HEAD_HEX = /^[0-9a-fA-F]{64}$/;

/** Strings near a head: valid ones, one unit swapped for any UTF-16 unit (lone surrogates, and ones whose low byte is a hex digit), lengths around 64, and anything. */
const candidates: fc.Arbitrary<string> = (() => {
  const hex = fc.stringMatching(/^[0-9a-fA-F]{64}$/);
  const anyUnit = fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c));
  return fc.oneof(
    hex,
    fc.tuple(hex, fc.nat({ max: 63 }), anyUnit).map(([h, i, u]) => h.slice(0, i) + u + h.slice(i + 1)),
    fc.tuple(hex, fc.nat({ max: 63 }), anyUnit).map(([h, i, u]) => h.slice(0, i) + u + h.slice(i)),
    fc.stringMatching(/^[0-9a-fA-F]{60,68}$/),
    fc.string({ unit: 'binary', maxLength: 70 }),
  );
})();

test('put refuses exactly the heads the old regex refused, and keeps the others as lower-case hex', () => {
  fc.assert(
    fc.property(candidates, (text) => {
      const ring = new RecentHeads(4);
      const refused = (() => {
        try {
          ring.put(1, text);
          return false;
        } catch (err) {
          assert.ok(err instanceof RangeError && err.message === 'a head must be 64 hex digits', String(err));
          return true;
        }
      })();
      assert.equal(refused, !OLD_HEAD_HEX.test(text), JSON.stringify(text));
      assert.equal(ring.get(1), refused ? undefined : text.toLowerCase());
    }),
    { numRuns: 20_000 },
  );
  // The units whose low byte is a hex digit, which Buffer's hex decoding would take for one.
  for (const unit of ['\u0130', '\u0161', '\u0666', '\uff41', '\ud830']) assert.throws(() => new RecentHeads(1).put(1, unit + 'a'.repeat(63)), /64 hex digits/, JSON.stringify(unit));
});
