// The up-time rule (upMillis, upSeconds, isUpNow) on a fake time line of heartbeats 15 s apart.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isUpNow, upMillis, upSeconds, type Sample } from '../../src/protocol/uptime.js';
import { SeededRandom, testSeed } from '../helpers/seeded-random.js';

/** The fake time line: second 0 is the start of the period [T0, T0 + 1 h). */
const T0 = Date.UTC(2026, 0, 1);
const S = 1000;
const INTERVAL = 15 * S;
const HOUR = 3600 * S;
const at = (seconds: number, up = true): Sample => ({ atMs: T0 + seconds * S, up });

/** Up samples every `step` seconds from `from` to `to` (both included). */
function beats(from: number, to: number, step = 15): Sample[] {
  const out: Sample[] = [];
  for (let s = from; s <= to; s += step) out.push(at(s));
  return out;
}
const without = (samples: Sample[], ...seconds: number[]): Sample[] => samples.filter((s) => !seconds.includes((s.atMs - T0) / S));

interface Case {
  readonly name: string;
  readonly samples: readonly Sample[];
  /** The window, in seconds of the time line; default the period [0, 3600). */
  readonly window?: readonly [number, number];
  readonly expectedMs: number;
}

const cases: Case[] = [
  { name: 'regular heartbeats through the period and one after: full credit', samples: beats(0, 3600), expectedMs: HOUR },
  { name: 'regular heartbeats from before to after the period: full credit, clipped', samples: beats(-60, 3660), expectedMs: HOUR },
  { name: 'one missed heartbeat (a 30 s gap) is still credited', samples: without(beats(0, 3600), 600), expectedMs: HOUR },
  { name: 'two missed heartbeats (a 45 s gap, exactly 3 intervals) are still credited', samples: without(beats(0, 3600), 600, 615), expectedMs: HOUR },
  { name: 'a gap one millisecond over 3 intervals earns nothing', samples: [at(0), { atMs: T0 + 45 * S + 1, up: true }, at(60)], window: [0, 60], expectedMs: 15 * S - 1 },
  { name: '4 missed heartbeats (a 75 s gap) are not credited', samples: without(beats(0, 3600), 600, 615, 630, 645), expectedMs: HOUR - 75 * S },
  { name: 'the last sample with no successor earns nothing', samples: beats(0, 1800), expectedMs: 1800 * S },
  { name: 'a single up sample earns nothing', samples: [at(100)], expectedMs: 0 },
  { name: 'an up sample before the period carries into it', samples: [at(-10), ...beats(5, 3605)], expectedMs: HOUR },
  { name: 'an up sample before the period followed by silence does not carry', samples: [at(-50), ...beats(5, 3605)], expectedMs: HOUR - 5 * S },
  { name: 'the sample before the end is clipped at the end', samples: [at(3590), at(3605)], expectedMs: 10 * S },
  { name: 'an up sample followed by a down sample is credited until the down sample', samples: [at(0), at(15, false)], expectedMs: 15 * S },
  { name: 'down samples count nothing, even when regular', samples: [at(0), at(15, false), at(30, false), at(45), at(60)], expectedMs: 30 * S },
  { name: 'only down samples: nothing', samples: beats(0, 3600).map((s) => ({ ...s, up: false })), expectedMs: 0 },
  { name: 'an empty list: nothing', samples: [], expectedMs: 0 },
  { name: 'samples only after the period: nothing', samples: beats(3600, 7200), expectedMs: 0 },
  { name: 'samples only before the period: nothing', samples: beats(-3600, -15), expectedMs: 0 },
  { name: 'from = to: nothing', samples: beats(0, 3600), window: [600, 600], expectedMs: 0 },
  { name: 'from > to: nothing', samples: beats(0, 3600), window: [600, 300], expectedMs: 0 },
  { name: 'a window inside one heartbeat interval', samples: beats(0, 60), window: [20, 25], expectedMs: 5 * S },
  { name: 'jittered heartbeats (14-16 s apart) are credited in full', samples: [0, 14, 30, 44, 60, 76, 90].map((s) => at(s)), window: [0, 90], expectedMs: 90 * S },
];

test('upMillis: the table', async (t) => {
  for (const c of cases) {
    await t.test(c.name, () => {
      const [from, to] = c.window ?? [0, 3600];
      assert.equal(upMillis(c.samples, T0 + from * S, T0 + to * S, INTERVAL), c.expectedMs);
    });
  }
});

test('upSeconds rounds a partial second down', () => {
  const samples = [at(0), { atMs: T0 + 1999, up: true }];
  assert.equal(upMillis(samples, T0, T0 + HOUR, INTERVAL), 1999);
  assert.equal(upSeconds(samples, T0, T0 + HOUR, INTERVAL), 1);
  assert.equal(upSeconds(beats(0, 3600), T0, T0 + HOUR, INTERVAL), 3600);
});

test('upMillis refuses an interval that is not positive', () => {
  for (const bad of [0, -15_000, Number.NaN]) assert.throws(() => upMillis(beats(0, 60), T0, T0 + HOUR, bad), RangeError);
});

test('upMillis (property): splitting a window at any point adds up to the whole', (t) => {
  const seed = testSeed();
  t.diagnostic(`seed ${seed} (repeat with HYPHA_TEST_SEED=${seed})`);
  const rng = new SeededRandom(seed);
  for (let run = 0; run < 500; run++) {
    const samples: Sample[] = [];
    let ms = T0 - rng.int(0, 120 * S);
    while (ms < T0 + HOUR + 120 * S) {
      samples.push({ atMs: ms, up: rng.next() < 0.85 });
      ms += rng.next() < 0.9 ? rng.int(10 * S, 20 * S) : rng.int(20 * S, 120 * S);
    }
    const cut = T0 + rng.int(0, HOUR);
    const whole = upMillis(samples, T0, T0 + HOUR, INTERVAL);
    const parts = upMillis(samples, T0, cut, INTERVAL) + upMillis(samples, cut, T0 + HOUR, INTERVAL);
    assert.equal(parts, whole, `seed ${seed} run ${run}: cut at +${cut - T0} ms`);
    assert.ok(whole >= 0 && whole <= HOUR, `seed ${seed} run ${run}: 0 <= up <= the window`);
  }
});

test('isUpNow: up while the last sample is up and at most 3 intervals old', async (t) => {
  const table: { name: string; samples: Sample[]; nowS: number; expected: boolean }[] = [
    { name: 'just after an up sample', samples: beats(0, 60), nowS: 61, expected: true },
    { name: 'exactly 3 intervals after the last up sample', samples: beats(0, 60), nowS: 105, expected: true },
    { name: 'one second more than 3 intervals', samples: beats(0, 60), nowS: 106, expected: false },
    { name: 'the last sample is down', samples: [at(0), at(15, false)], nowS: 16, expected: false },
    { name: 'no samples', samples: [], nowS: 0, expected: false },
  ];
  for (const c of table) await t.test(c.name, () => assert.equal(isUpNow(c.samples, T0 + c.nowS * S, INTERVAL), c.expected));
});
