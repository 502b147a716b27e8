// The control endpoint's table of JS exit watchers (src/runtime/control.ts): watch numbers and
// control PIDs -> their watch, with the part of Map's interface control.ts and the tests that look
// inside it use (get, set, delete, size, iteration, keys).
//
// Owns: the table. May call: nothing.
//
// Why not a Map. Every job adds one watch and removes it at its EXIT, numbered in sequence by one
// counter (spawnLua's watch numbers). In a Map that churn costs a hash insert, lookup and delete
// per job and a rehash of the backing store every few dozen jobs (a new table: the deleted entries
// are only dropped by a rehash): ~3.7% of the main thread's samples at 64 jobs in flight (Node 24,
// `perf record`, Builtins_MapPrototypeSet and FindOrderedHashMapEntry). Here a watch number goes
// into slot `n & mask` of two parallel arrays (the number, the watch), allocated once: an insert,
// a lookup and a delete are an index, a compare and a store, and nothing is allocated per job.
// Numbers are handed out in order and most watches live a few milliseconds, so a slot is almost
// always free again when its number comes round; one still taken (a watch that lives while
// SLOTS more are made: a long job, a service's EXIT callback) sends the new number to an ordinary
// Map, as are control PIDs (strings). Either way the answers are a Map's (test/watch-table.test.ts
// compares them on seeded sequences of operations).

/** Slots for numbered watches: more than the jobs a runtime keeps in flight in practice. */
export const WATCH_SLOTS = 4096;

export class WatchTable<V> {
  private readonly mask: number;
  private readonly nums: number[];
  private readonly vals: Array<V | undefined>;
  /** Per slot: when its watch was added (iteration is in that order, as a Map's). */
  private readonly added: number[];
  private seq = 0;
  /** Slots in use. */
  private used = 0;
  /** Strings, and numbers whose slot was taken (or that are not slot keys), with when they were added. */
  private readonly other = new Map<string | number, { v: V; seq: number }>();

  constructor(slots = WATCH_SLOTS) {
    if (slots < 1 || (slots & (slots - 1)) !== 0) throw new RangeError(`slots must be a power of two, got ${slots}`);
    this.mask = slots - 1;
    this.nums = new Array<number>(slots).fill(-1);
    this.vals = new Array<V | undefined>(slots).fill(undefined);
    this.added = new Array<number>(slots).fill(0);
  }

  get size(): number {
    return this.used + this.other.size;
  }

  get(k: string | number): V | undefined {
    if (typeof k === 'number') {
      const i = k & this.mask;
      if (this.nums[i] === k && this.vals[i] !== undefined) return this.vals[i];
    }
    return this.other.size === 0 ? undefined : this.other.get(k)?.v;
  }

  /** Add or replace `k` (a value of undefined is not stored: use delete). */
  set(k: string | number, v: V): void {
    if (typeof k === 'number' && Number.isSafeInteger(k) && k >= 0) {
      const i = k & this.mask;
      if (this.vals[i] === undefined) {
        if (this.other.size === 0 || !this.other.has(k)) {
          this.nums[i] = k;
          this.vals[i] = v;
          this.added[i] = ++this.seq;
          this.used++;
          return;
        }
      } else if (this.nums[i] === k) {
        this.vals[i] = v;
        return;
      }
    }
    const o = this.other.get(k);
    if (o !== undefined) o.v = v;
    else this.other.set(k, { v, seq: ++this.seq });
  }

  delete(k: string | number): boolean {
    if (typeof k === 'number') {
      const i = k & this.mask;
      if (this.nums[i] === k && this.vals[i] !== undefined) {
        this.vals[i] = undefined;
        this.nums[i] = -1;
        this.used--;
        return true;
      }
    }
    return this.other.size === 0 ? false : this.other.delete(k);
  }

  /** The keys in the order they were added, as a Map's keys(). */
  *keys(): IterableIterator<string | number> {
    for (const [k] of this) yield k;
  }

  /** [key, watch] pairs in the order they were added, as a Map's (a cold path: failing a dead worker's watches, the stop). */
  *[Symbol.iterator](): IterableIterator<[string | number, V]> {
    const all: Array<[number, string | number, V]> = [];
    if (this.used > 0) {
      for (let i = 0; i <= this.mask; i++) {
        const v = this.vals[i];
        if (v !== undefined) all.push([this.added[i]!, this.nums[i]!, v]);
      }
    }
    for (const [k, o] of this.other) all.push([o.seq, k, o.v]);
    all.sort((a, b) => a[0] - b[0]);
    for (const [, k, v] of all) yield [k, v];
  }
}
