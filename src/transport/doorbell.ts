// Doorbell: wakes a consumer thread that is parked, and only then.
//
// Model. Every thread of the runtime has a line in one shared Doorbell region (layout in
// src/shm/layout.ts) holding its park state: RUNNING, PARKED or NOTIFIED. A thread that runs
// out of work spins a bounded, adaptive number of iterations re-checking its input rings and
// queues, then parks in Atomics.waitAsync (the event loop keeps running its timers and I/O) or, in
// tests and pure worker loops, Atomics.wait. A producer, after publishing into a consumer's ring,
// calls ring(consumer): one Atomics.load of the consumer's state, and an Atomics.notify only if
// the consumer is parked. A running or spinning consumer costs its producers a shared cache-line
// read, no system call: a cross-thread wake-up costs 11 µs p50 / 21 µs p99 on our machines
// (measured here: docs/design/scheduler.md), so it is paid only by consumers that really sleep.
//
// Protocol.
//   consumer                                     producer
//   C1 Atomics.store(state, PARKED)              P1 publish: Atomics.store(tail) of a ring
//   C2 re-check every input (Atomics.load(tail)) P2 Atomics.load(state)
//      if work: C3' Atomics.store(state, RUNNING)   if PARKED: P3 Atomics.compareExchange(state,
//   C3 Atomics.wait(state, PARKED)                        PARKED → NOTIFIED), and if it succeeded,
//   C4 Atomics.store(state, RUNNING), go check       P4 Atomics.notify(state)
//
// Why no wake-up is lost. All Atomics operations are sequentially consistent: they appear in one
// total order S that every thread agrees on.
//   1. Suppose the consumer parks for good: C2 found nothing, so C2's load of tail precedes the
//      producer's P1 in S (otherwise C2 would have seen the new tail).
//   2. Program order gives C1 < C2 and P1 < P2, hence C1 < C2 < P1 < P2 in S: P2 reads PARKED, or
//      a later value written by another producer (NOTIFIED; then that producer notifies) or by the
//      consumer itself (RUNNING; then the consumer is awake and goes to check its rings at C4).
//   3. If P2 reads PARKED, P3 moves the state to NOTIFIED (or another producer did, and notifies).
//   4. Atomics.wait compares the word and goes to sleep atomically with respect to notify (both
//      take the waiter list lock of the address). So either the consumer has not reached C3 yet:
//      then C3 sees NOTIFIED ≠ PARKED and returns "not-equal" at once; or it is asleep in C3: then
//      P4 wakes it. Either way it reaches C4 and re-checks.
// C3 may be two waits, a blocking Atomics.wait with a short timeout (parkBriefly) and then
// park()/parkAsync(): each compares the word with PARKED, so step 4 holds for each of them.
// The NOTIFIED state also makes the notify happen once per park however many producers ring: only
// the producer whose compareExchange wins makes the system call. There is one waiter per word (the
// thread itself), so notify wakes all waiters on it, which also clears a stale waitAsync.
//
// Spinning. Parking on every empty queue loses two orders of magnitude in latency (a spinning
// ping-pong takes ~340 ns per round trip, a parked one 25–55 µs), so a thread spins first. But
// spinning collapses under load (3.3 M → 6 k round trips/s with one core busy elsewhere), so a
// thread spins only while spinning threads < free cores, where free = cores - busy threads. With
// AWAKE = busy + spinning threads, counting oneself, that rule reads AWAKE ≤ cores. "cores" are
// the cores the machine's other processes leave us, when the main thread measures them
// (BELL_CORES, src/transport/freecores.ts); else the `cores` option (os.availableParallelism()). The spin
// length adapts (like glibc's adaptive mutexes, with a park-feedback step): a spin that finds
// work after i iterations pulls the limit towards 2i; a spin that ends in a park doubles the limit
// if the park was cut short by a notify (spinning a little longer would have caught the work) and
// halves it otherwise (nothing came; stop burning the core).
//
// Alternatives rejected.
//   - Notify unconditionally after each publish: a futex system call per message (~1 µs even with
//     no waiter) and 11–30 µs wake-ups of threads that were about to look anyway.
//   - A flag the producer clears with a plain store: the producer can read "not parked" just
//     before the consumer parks, and the wake-up is lost (the race steps 1–4 exclude).
//   - postMessage as the wake-up: 54–86 µs per round trip, and it ties the transport to the event
//     loop.
import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';
import {
  BELL_ANNOUNCED, BELL_AWAKE, BELL_CORES, BELL_NOTIFIED, BELL_PARKED, BELL_PARKS, BELL_RUNNING, BELL_SPINNING, BELL_STATE,
  BELL_WAKES, bellLine, doorbellBytes,
} from '../shm/layout.js';

// One spin iteration is one call of the caller's `check`, so its cost is the caller's: measured
// ~7 ns for a check of one empty SpscRing (an Atomics.load), ~37 ns for four rings and a deque.
// The defaults below assume a check of one or two rings; a thread checking more inputs should pass
// limits scaled down so that maxSpins × (cost of one check) stays ≈ 15 µs.

/**
 * Floor of the adaptive spin: 64 iterations ≈ 0.5 µs at ~7 ns per check, above the ~340 ns round
 * trip of a peer that is itself spinning, so a reply in flight is still caught after an idle spell.
 */
export const DEFAULT_MIN_SPINS = 64;
/**
 * Ceiling and starting limit: 2048 iterations ≈ 14–16 µs at ~7 ns per check, the cost of the
 * wake-up it tries to avoid (11 µs p50, 21 µs p99). Spinning longer than a wake-up costs can save
 * at most what it burns.
 */
export const DEFAULT_MAX_SPINS = 2048;
/**
 * A park that a notify ends within this many µs means the spin was too short: 50 µs is work that
 * came within ~30 µs of parking plus a p99 wake-up (21 µs), which a doubled spin may catch. Longer
 * parks (or timeouts) halve the limit instead.
 */
export const DEFAULT_SHORT_PARK_MICROS = 50;
/**
 * Checks between two looks at the clock and the spin rule in spin()'s await phase: ~0.5–2 µs of
 * checks, so a look (performance.now() ≈ 30 ns, two Atomics.loads) costs a few per cent.
 */
const AWAIT_CHECKS = 64;

/**
 * The window of a wait for an expected answer (a reply after a request): how long to spin for it
 * before parking, adapted to how long answers take. Used by the worker loop's reply wait (the
 * window extends Doorbell.spin's adaptive phase: spin(check, window)) and by the main thread's
 * result spin (the window is the whole spin: its deadline); src/host/loop.ts, src/runtime/mainloop.ts.
 *
 * The rule (the doorbell's own park feedback, applied to a window in time):
 *   - an answer within the window: `hit(waited)`. With `track` the window is pulled towards
 *     2 × waited (an eighth of the way per answer: the main thread's result spin, which keeps its
 *     spin short); without, it is restored to the maximum (the worker's reply wait);
 *   - the window ended empty and the caller parked: `missed(waited)` once the park ends, `waited`
 *     being the time from the wait's start to then. Soon — within the maximum and within `soon`
 *     × the window — a longer window would have caught the answer and saved the wake-up: the
 *     window doubles; later, it halves (nothing was coming soon: stop burning the core), never
 *     below the minimum. The result spin takes any answer within the maximum as soon (`soon`
 *     unbounded); the reply wait only one within twice the window: answers that come much later
 *     than the window are a peer that is itself parked or has no core, and spinning for those
 *     takes the core its answer needs (measured with the spin rule forced open at load average
 *     18–20: doubling on any answer within the maximum kept the window at 0.2 ms and took 1.27× the
 *     CPU per cross-worker round trip for 0.59× the round trips/s).
 * Before, the worker's window halved at every empty end and grew back only when an answer came
 * within it: once at its floor (20 µs) it stayed there even when the answers then came just after
 * it (at 25–40 µs: one slow burst on a quiet machine left every later message a park).
 */
export class SpinWindow {
  /** The current window in ms. */
  ms: number;

  constructor(readonly minMs: number, readonly maxMs: number, private readonly track = false, private readonly soon = Infinity) {
    this.ms = maxMs;
  }

  /** The answer came `waitedMs` after the wait began, within the window. */
  hit(waitedMs: number): void {
    if (!this.track) { this.ms = this.maxMs; return; }
    const target = Math.min(this.maxMs, Math.max(this.minMs, 2 * waitedMs));
    this.ms += (target - this.ms) / 8;
  }

  /** The window ended empty; the park after it ended `waitedMs` after the wait began. */
  missed(waitedMs: number): void {
    this.ms = waitedMs < Math.min(this.maxMs, this.soon * this.ms) ? Math.min(this.maxMs, this.ms * 2) : Math.max(this.minMs, this.ms / 2);
  }
}

/** How the last spin() ended (Doorbell.spinEnd): observability for the stage stamps (src/host/stages.ts). */
export const SPIN_FOUND = 0;
/** The spin rule refused the spin at its start (no free core for one more spinner). */
export const SPIN_REFUSED = 1;
/** The await phase ended because the spin rule no longer held (a thread woke, or the free cores fell). */
export const SPIN_RULED = 2;
/** The spin ran out (its limit, or the await window) with nothing found. */
export const SPIN_EMPTY = 3;

export interface DoorbellOptions {
  /** Cores the runtime may spin on (default: os.availableParallelism()). */
  cores?: number;
  /** Adaptive spin floor, in check iterations (default DEFAULT_MIN_SPINS). */
  minSpins?: number;
  /** Adaptive spin ceiling and initial limit (default DEFAULT_MAX_SPINS). */
  maxSpins?: number;
  /** Parks shorter than this end as "the spin was too short" (default DEFAULT_SHORT_PARK_MICROS). */
  shortParkMicros?: number;
}

export type ParkResult = 'ok' | 'not-equal' | 'timed-out';

export interface DoorbellStats {
  awake: number;
  spinning: number;
  /** Per thread: how many times it parked, and how many notifies it was sent. */
  parks: number[];
  wakes: number[];
  /**
   * Per thread: how many parks it announced (prepareToPark). At most one notify per announcement
   * (only a PARKED state is rung), and an announcement its re-check cancels is not a park, so
   * notifies ≤ announcements is the bound; notifies ≤ parks is not.
   */
  announced: number[];
}

// Atomics.waitAsync is ES2024; Node 20 has it, the ES2022 lib typings do not.
type WaitAsync = (a: Int32Array, index: number, value: number, timeout?: number) =>
  { async: false; value: 'not-equal' | 'timed-out' } | { async: true; value: Promise<'ok' | 'timed-out'> };
const waitAsync = (Atomics as unknown as { waitAsync: WaitAsync }).waitAsync;

export class Doorbell {
  /** A doorbell region for `threads` threads (ids 0 .. threads-1). */
  static create(threads: number): SharedArrayBuffer {
    if (!Number.isInteger(threads) || threads < 1) throw new RangeError(`Doorbell needs at least one thread, got ${threads}`);
    return new SharedArrayBuffer(doorbellBytes(threads));
  }

  readonly self: number;
  readonly threads: number;
  readonly cores: number;
  readonly minSpins: number;
  readonly maxSpins: number;
  private readonly shortParkMs: number;
  private readonly words: Int32Array;
  private readonly state: number;
  private limit: number;
  /** How the last spin() ended: SPIN_FOUND, SPIN_REFUSED, SPIN_RULED or SPIN_EMPTY (a plain store; observability). */
  spinEnd = SPIN_FOUND;
  /** Not counted in AWAKE: between prepareToPark() and resume(), or closed. */
  private away = false;
  private closed = false;
  private parkedAt = 0;
  private waiting: Promise<ParkResult> | null = null;
  private readonly onWake = (result: ParkResult): ParkResult => {
    this.waiting = null;
    this.resume(result);
    return result;
  };

  /** Thread `self`'s handle on a doorbell region. It counts as awake until it parks. */
  constructor(sab: SharedArrayBuffer, self: number, options: DoorbellOptions = {}) {
    this.words = new Int32Array(sab);
    this.threads = this.words.length / bellLine(0) - 1;
    if (!Number.isInteger(self) || self < 0 || self >= this.threads) throw new RangeError(`thread ${self} is not in [0, ${this.threads})`);
    this.self = self;
    this.state = bellLine(self) + BELL_STATE;
    this.cores = options.cores ?? availableParallelism();
    this.minSpins = options.minSpins ?? DEFAULT_MIN_SPINS;
    this.maxSpins = Math.max(this.minSpins, options.maxSpins ?? DEFAULT_MAX_SPINS);
    this.shortParkMs = (options.shortParkMicros ?? DEFAULT_SHORT_PARK_MICROS) / 1000;
    this.limit = this.maxSpins;
    // Pairs with the Atomics.load(AWAKE) of spinning threads (the spin rule).
    Atomics.add(this.words, BELL_AWAKE, 1);
  }

  // --- producer -------------------------------------------------------------------------------

  /**
   * Wake thread `target` if it is parked (call after publishing work for it). True if this call
   * sent the notify. Cost when the target is not parked: one Atomics.load.
   */
  ring(target: number): boolean {
    const state = bellLine(target) + BELL_STATE;
    // P2: pairs with Atomics.store(state, PARKED) in prepareToPark() (C1); ordered after the
    // caller's Atomics.store(tail) (P1), see the header.
    if (Atomics.load(this.words, state) !== BELL_PARKED) return false;
    // P3: pairs with the Atomics.wait/waitAsync comparison in park()/parkAsync() (C3) and the
    // Atomics.store(state, RUNNING) in resume() (C4); only one producer wins per park.
    if (Atomics.compareExchange(this.words, state, BELL_PARKED, BELL_NOTIFIED) !== BELL_PARKED) return false;
    // Observability only; pairs with Atomics.load(WAKES) in stats().
    Atomics.add(this.words, bellLine(target) + BELL_WAKES, 1);
    // P4: wakes the Atomics.wait/waitAsync in park()/parkAsync() (C3).
    Atomics.notify(this.words, state);
    return true;
  }

  /** True if thread `target` is parked (a snapshot; pairs with the stores of its park state). */
  isParked(target: number): boolean {
    return Atomics.load(this.words, bellLine(target) + BELL_STATE) === BELL_PARKED;
  }

  /** Wake this thread's own pending parkAsync() (e.g. from a timer or I/O callback). */
  interrupt(): boolean {
    return this.ring(this.self);
  }

  // --- consumer -------------------------------------------------------------------------------

  /** The current adaptive spin limit, in iterations. */
  get spinLimit(): number {
    return this.limit;
  }

  /**
   * Call `check` until it returns true or the adaptive limit runs out; true if it found work.
   * Returns false at once when spinning is not allowed (spinning threads ≥ free cores). `check`
   * must not throw (the spinning count would stay raised); it is called in a tight loop, so keep
   * it to a few Atomics.loads (SpscRing.isEmpty, Deque.size).
   *
   * `awaitMs` > 0: a reply is expected (the caller just sent a request and has nothing else to
   * run), so keep spinning past the adaptive limit until `awaitMs` has passed since the spin
   * began. The spin rule is looked at again every AWAIT_CHECKS iterations of that phase, so a
   * thread of ours that wakes up, or a core that other processes take (BELL_CORES), ends it. The
   * adaptive limit learns only from the first phase.
   */
  spin(check: () => boolean, awaitMs = 0): boolean {
    const words = this.words;
    // Pairs with the Atomics.add/sub(SPINNING) of other threads deciding whether to spin.
    const spinning = Atomics.add(words, BELL_SPINNING, 1) + 1;
    if (!this.mayKeepSpinning(spinning)) {
      // Undoes the add above; pairs with the Atomics.add(SPINNING) of other threads.
      Atomics.sub(words, BELL_SPINNING, 1);
      this.spinEnd = SPIN_REFUSED;
      return false;
    }
    const started = awaitMs > 0 ? performance.now() : 0;
    const limit = this.limit;
    let i = 0;
    while (i < limit && !check()) i++;
    let found = i < limit;
    this.spinEnd = found ? SPIN_FOUND : SPIN_EMPTY;
    if (!found && awaitMs > 0) found = this.awaitSpin(check, started + awaitMs);
    // Pairs with the Atomics.add(SPINNING) above, on other threads.
    Atomics.sub(words, BELL_SPINNING, 1);
    if (i === limit) return found;
    const target = Math.min(this.maxSpins, Math.max(this.minSpins, 2 * i));
    this.limit = limit + ((target - limit) >> 3);
    return true;
  }

  /**
   * The spin rule for a thread already counted in SPINNING, `spinning` being that count: spinning
   * threads ≤ free cores − busy threads of ours.
   */
  private mayKeepSpinning(spinning: number): boolean {
    const words = this.words;
    // Pairs with the Atomics.add/sub(AWAKE) in the constructor, prepareToPark() and resume().
    const busy = Atomics.load(words, BELL_AWAKE) - spinning;
    // Pairs with Atomics.store(BELL_CORES) in FreeCores.tick (src/transport/freecores.ts): the
    // cores other processes leave us, when the main thread measures them.
    const measured = Atomics.load(words, BELL_CORES);
    const cores = measured > 0 ? Math.min(this.cores, measured - 1) : this.cores;
    return spinning <= cores - busy;
  }

  /** The await phase of spin(): until `check` or `untilMs` (performance.now()), under the spin rule. */
  private awaitSpin(check: () => boolean, untilMs: number): boolean {
    for (;;) {
      for (let j = 0; j < AWAIT_CHECKS; j++) if (check()) { this.spinEnd = SPIN_FOUND; return true; }
      if (performance.now() >= untilMs) return false;
      // Pairs with the Atomics.add/sub(SPINNING) of other threads.
      if (!this.mayKeepSpinning(Atomics.load(this.words, BELL_SPINNING))) { this.spinEnd = SPIN_RULED; return false; }
    }
  }

  /**
   * Would spin() spin now? The same rule without joining the spinners, for a thread that must
   * first yield to its event loop before it spins (the main thread's result spin,
   * src/runtime/mainloop.ts). A snapshot: spin() decides again.
   */
  maySpin(): boolean {
    // Pairs with the Atomics.add/sub(SPINNING) of threads in spin().
    return this.limit > 0 && this.mayKeepSpinning(Atomics.load(this.words, BELL_SPINNING) + 1);
  }

  /**
   * C1: announce the park. The caller must then re-check every input (C2) and call either
   * cancelPark() if it found work, or park()/parkAsync().
   */
  prepareToPark(): void {
    if (this.away) return;
    this.away = true;
    // Observability only; pairs with Atomics.load(ANNOUNCED) in stats(), and precedes C1 so that a
    // notify of this announcement (counted after C1 in ring()) is never seen without it.
    Atomics.add(this.words, bellLine(this.self) + BELL_ANNOUNCED, 1);
    // C1: pairs with Atomics.load(state) in ring() (P2).
    Atomics.store(this.words, this.state, BELL_PARKED);
    // Pairs with Atomics.load(AWAKE) in spin() on other threads.
    Atomics.sub(this.words, BELL_AWAKE, 1);
    this.parkedAt = 0;
  }

  /** C3': the re-check found work; back to running without sleeping. */
  cancelPark(): void {
    this.resume('not-equal');
  }

  /** C3, blocking: sleep until notified or `timeoutMs` passes. For worker loops and tests. */
  park(timeoutMs = Infinity): ParkResult {
    if (!this.away || this.closed) return 'not-equal';
    if (this.parkedAt === 0) this.countPark();
    // C3: pairs with compareExchange/notify in ring() (P3/P4): sleeps only while still PARKED.
    return this.onWake(Atomics.wait(this.words, this.state, BELL_PARKED, timeoutMs));
  }

  /**
   * C3, event-loop friendly: resolves when notified or after `timeoutMs`; timers and I/O keep
   * running meanwhile. A timer or I/O callback that makes work for this thread ends the park with
   * interrupt(). Calling it again while a park is pending returns the same promise.
   */
  parkAsync(timeoutMs = Infinity): Promise<ParkResult> {
    if (this.waiting !== null) return this.waiting;
    if (!this.away || this.closed) return Promise.resolve('not-equal');
    if (this.parkedAt === 0) this.countPark();
    // C3: pairs with compareExchange/notify in ring() (P3/P4): waits only while still PARKED.
    const wait = waitAsync(this.words, this.state, BELL_PARKED, timeoutMs);
    if (!wait.async) return Promise.resolve(this.onWake(wait.value));
    this.waiting = wait.value.then(this.onWake);
    return this.waiting;
  }

  /**
   * C3, blocking for at most `ms`: the first part of a park, for a thread that may hold its event
   * loop that long (the worker loop, src/host/loop.ts: a wake-up through Atomics.wait skips the
   * event loop's hop that waitAsync's resolution takes). Rung within `ms`: running again, as after
   * park(). 'timed-out': still parked (the park state may already be NOTIFIED by a ring after the
   * timeout); the caller finishes the park with park() or parkAsync(), whose wait compares the
   * same word with PARKED, so a ring in between is not lost (the header's step 4 holds for each of
   * the two waits). One park counts once.
   */
  parkBriefly(ms: number): ParkResult {
    if (!this.away || this.closed) return 'not-equal';
    if (this.parkedAt === 0) this.countPark();
    // C3 (first part): pairs with compareExchange/notify in ring() (P3/P4): sleeps only while PARKED.
    const r = Atomics.wait(this.words, this.state, BELL_PARKED, ms);
    return r === 'timed-out' ? r : this.onWake(r);
  }

  /** Spin, then park (blocking) unless `check` finds work; true if work was found or notified. */
  idle(check: () => boolean, timeoutMs = Infinity): boolean {
    if (check() || this.spin(check)) return true;
    this.prepareToPark();
    if (check()) {
      this.cancelPark();
      return true;
    }
    return this.park(timeoutMs) !== 'timed-out';
  }

  /** Spin, then parkAsync unless `check` finds work; resolves true if work was found or notified. */
  async idleAsync(check: () => boolean, timeoutMs = Infinity): Promise<boolean> {
    if (check() || this.spin(check)) return true;
    this.prepareToPark();
    if (check()) {
      this.cancelPark();
      return true;
    }
    return (await this.parkAsync(timeoutMs)) !== 'timed-out';
  }

  /** Counters, read on demand (each load pairs with the Atomics.add/sub that counts it). */
  stats(): DoorbellStats {
    const parks: number[] = [];
    const wakes: number[] = [];
    const announced: number[] = [];
    for (let t = 0; t < this.threads; t++) {
      parks.push(Atomics.load(this.words, bellLine(t) + BELL_PARKS));
      wakes.push(Atomics.load(this.words, bellLine(t) + BELL_WAKES));
      // Read after WAKES: a notify counted there was announced before it (prepareToPark adds
      // ANNOUNCED before C1), so this load sees that announcement too.
      announced.push(Atomics.load(this.words, bellLine(t) + BELL_ANNOUNCED));
    }
    return { awake: Atomics.load(this.words, BELL_AWAKE), spinning: Atomics.load(this.words, BELL_SPINNING), parks, wakes, announced };
  }

  /** Leave the doorbell (thread exit): no longer counted as awake. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    // Pairs with Atomics.load(AWAKE) in spin() on other threads.
    if (!this.away) Atomics.sub(this.words, BELL_AWAKE, 1);
    this.away = true;
  }

  /**
   * Thread `target` died without leaving (worker recovery, src/runtime/recovery.ts): take it out
   * of the AWAKE count if it was counted (it was running), and leave its line RUNNING and
   * uncounted, the state a new thread's constructor expects when the id is reused. Cannot
   * know whether it died inside spin() (then SPINNING stays one too high: spinning is only
   * allowed a little less).
   */
  forget(target: number): void {
    // Pairs with the stores of the dead thread's park state and with ring()'s compareExchange.
    const was = Atomics.exchange(this.words, bellLine(target) + BELL_STATE, BELL_RUNNING);
    // Pairs with Atomics.load(AWAKE) in spin() on other threads.
    if (was === BELL_RUNNING) Atomics.sub(this.words, BELL_AWAKE, 1);
  }

  private countPark(): void {
    // Observability only; pairs with Atomics.load(PARKS) in stats().
    Atomics.add(this.words, bellLine(this.self) + BELL_PARKS, 1);
    this.parkedAt = performance.now();
  }

  /** C4: running again; adapt the spin limit to how the park went. */
  private resume(result: ParkResult): void {
    if (!this.away || this.closed) return;
    this.away = false;
    // C4: pairs with Atomics.load(state) in ring(); a producer seeing RUNNING skips the notify,
    // and this thread re-checks its inputs next.
    Atomics.store(this.words, this.state, BELL_RUNNING);
    // Pairs with Atomics.load(AWAKE) in spin() on other threads.
    Atomics.add(this.words, BELL_AWAKE, 1);
    if (this.parkedAt === 0) return;
    const short = result !== 'timed-out' && performance.now() - this.parkedAt < this.shortParkMs;
    // (From a limit of 0, doubling starts at 1.)
    this.limit = short ? Math.min(this.maxSpins, Math.max(1, this.limit * 2)) : Math.max(this.minSpins, this.limit >> 1);
  }
}
