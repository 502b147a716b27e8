// The control endpoint's watcher table (src/runtime/watch-table.ts) against a Map on seeded
// sequences of operations: watch numbers in sequence with most removed soon and some kept long
// (their slot is taken when the number comes round), control PIDs (strings), replacements and
// deletes of absent keys. After every operation get, size and the iteration order must be the
// Map's; deliberate mutants of the table must be caught.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WatchTable } from '../src/runtime/watch-table.js';
import { mulberry32 } from './helpers/prng.js';

interface Table { get(k: string | number): unknown; set(k: string | number, v: unknown): void; delete(k: string | number): boolean; readonly size: number; [Symbol.iterator](): Iterator<[string | number, unknown]> }

/** Run `ops` seeded operations on `t` and a Map; the first difference as a message, or undefined. */
function differs(t: Table, seed: number, ops: number): string | undefined {
  const rnd = mulberry32(seed);
  const m = new Map<string | number, unknown>();
  let next = 0;
  const live: Array<string | number> = [];
  for (let step = 0; step < ops; step++) {
    const r = rnd();
    let k: string | number;
    if (r < 0.45) { k = ++next; const v = { w: k }; t.set(k, v); m.set(k, v); live.push(k); }
    else if (r < 0.85 && live.length > 0) {
      // most watches end soon: take from the oldest few, sometimes a random one
      const j = rnd() < 0.8 ? Math.floor(rnd() * Math.min(live.length, 8)) : Math.floor(rnd() * live.length);
      k = live.splice(j, 1)[0]!;
      const a = t.delete(k), b = m.delete(k);
      if (a !== b) return `step ${step}: delete(${k}) ${a} vs ${b}`;
    } else if (r < 0.9) { k = `{node:control|0x${Math.floor(rnd() * 64).toString(16)}}`; const v = { c: k }; t.set(k, v); m.set(k, v); if (!live.includes(k)) live.push(k); }
    else if (r < 0.95 && live.length > 0) { k = live[Math.floor(rnd() * live.length)]!; const v = { again: k }; t.set(k, v); m.set(k, v); }
    else { k = rnd() < 0.5 ? next + 1 + Math.floor(rnd() * 100) : 'absent'; const a = t.delete(k), b = m.delete(k); if (a !== b) return `step ${step}: delete of absent ${k}: ${a} vs ${b}`; }
    if (t.size !== m.size) return `step ${step}: size ${t.size} vs ${m.size}`;
    if (t.get(k) !== m.get(k)) return `step ${step}: get(${k})`;
    const probe = live.length > 0 ? live[Math.floor(rnd() * live.length)]! : 0;
    if (t.get(probe) !== m.get(probe)) return `step ${step}: get(${probe})`;
    if (step % 97 === 0) {
      const a = [...t].map(([key]) => key).join(','), b = [...m].map(([key]) => key).join(',');
      if (a !== b) return `step ${step}: iteration ${a.slice(0, 80)} vs ${b.slice(0, 80)}`;
      if ([...(t as unknown as Map<string | number, unknown>).keys()].join(',') !== b) return `step ${step}: keys()`;
    }
  }
  return undefined;
}

test('the table answers as a Map on seeded operations (small tables: slots taken when their number comes round)', () => {
  for (const slots of [1, 2, 8, 64, 4096]) {
    for (let seed = 1; seed <= 5; seed++) {
      assert.equal(differs(new WatchTable<unknown>(slots), seed * 7919 + slots, 4000), undefined, `slots ${slots}, seed ${seed}`);
    }
  }
});

test('a number whose slot is taken goes to the map and is found, deleted and iterated there', () => {
  const t = new WatchTable<string>(4);
  t.set(1, 'long');       // slot 1, kept
  t.set(5, 'collides');   // slot 1 taken: the map
  assert.equal(t.get(1), 'long');
  assert.equal(t.get(5), 'collides');
  assert.equal(t.size, 2);
  t.delete(1);
  assert.equal(t.get(5), 'collides', 'still found once the slot is free');
  t.set(5, 'replaced');   // stays where it is (no duplicate in the free slot)
  assert.equal(t.size, 1);
  assert.deepEqual([...t], [[5, 'replaced']]);
  assert.equal(t.delete(5), true);
  assert.equal(t.size, 0);
  assert.equal(t.get(5), undefined);
});

test('mutants of the table are caught by the comparison with a Map', () => {
  const mutants: Array<[string, (t: any) => void]> = [
    ['delete forgets the count', (t) => { const d = t.delete.bind(t); t.delete = (k: string | number) => { const r = d(k); if (r && typeof k === 'number' && t.used < t.nums.length - 1) t.used++; return r; }; }],
    ['a taken slot is overwritten', (t) => { const s = t.set.bind(t); t.set = (k: string | number, v: unknown) => { if (typeof k === 'number') { const i = k & t.mask; if (t.vals[i] !== undefined && t.nums[i] !== k) { t.nums[i] = k; t.vals[i] = v; return; } } s(k, v); }; }],
    ['get ignores the key check', (t) => { t.get = (k: string | number) => (typeof k === 'number' && t.vals[k & t.mask] !== undefined ? t.vals[k & t.mask] : t.other.get(k)?.v); }],
    ['iteration in slot order', (t) => { t[Symbol.iterator] = function* () { for (let i = 0; i <= t.mask; i++) if (t.vals[i] !== undefined) yield [t.nums[i], t.vals[i]]; for (const [k, o] of t.other) yield [k, o.v]; }; }],
  ];
  for (const [name, mutate] of mutants) {
    let caught = false;
    for (const slots of [2, 8, 64]) {
      const t = new WatchTable<unknown>(slots);
      mutate(t);
      if (differs(t, 1234 + slots, 4000) !== undefined) { caught = true; break; }
    }
    assert.ok(caught, `mutant "${name}" was not caught`);
  }
});

test('slots must be a power of two', () => {
  assert.throws(() => new WatchTable(3), RangeError);
  assert.throws(() => new WatchTable(0), RangeError);
});
