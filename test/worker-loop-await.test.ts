// The worker loop's reply wait and its step-again rule (src/host/loop.ts), under fakes: a step
// that sent frames to another thread spins with the reply window (Doorbell.spin's await phase),
// the window halves while answers do not come within it nor soon after it (down to a floor),
// doubles when the park after an empty window was ended soon by the answer, and is restored when
// one comes within it; a step that sent nothing spins as before; input that came during a step is
// stepped at once, without an event-loop turn in between.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AWAIT_REPLY_MS, WorkerLoop } from '../src/host/loop.js';

interface Script {
  /** Step k's flush sent batches to this many other threads. */
  sends: number[];
  /** Step k ends with input already there (a peer answered during the step). */
  inputAfter?: boolean[];
  /** The spin after step k finds work (else the loop parks, and a notify ends the park). */
  spins: boolean[];
  /** Step k leaves a timer due at once (the loop steps again without input). */
  timerAfter?: boolean[];
  /** How long (ms) the park after step k lasts before its notify (default 1: longer than any window). */
  parkMs?: number[];
}

/**
 * Run `fn` with performance.now() frozen: the loop lets the event loop run once BREATHE_MS has
 * passed, which on a loaded machine would add steps to the script at random.
 */
let clock = 0;
async function frozenClock(fn: () => Promise<void>): Promise<void> {
  const now = performance.now;
  clock = now.call(performance);
  performance.now = () => clock;
  try { await fn(); } finally { performance.now = now; }
}

function harness(s: Script, awaitMaxMs?: number) {
  const log: string[] = [];
  let k = -1;
  let input = false;
  let stop: () => void = () => {};
  const stopped = new Promise<void>((r) => { stop = r; });
  // (LuaKernel's shape: step returns "more", the next deadline is a field)
  const kernel = {
    nextDeadline: -1,
    step(): boolean {
      k++;
      log.push(`step${k}`);
      input = s.inputAfter?.[k] ?? false;
      this.nextDeadline = s.timerAfter?.[k] ? 0 : -1;
      return false;
    },
    count: () => 0,
  };
  const bell = {
    spin: (_check: () => boolean, awaitMs?: number) => {
      log.push(awaitMs === undefined ? 'spin' : `await(${awaitMs})`);
      const found = s.spins[k] ?? false;
      if (found) input = true;
      return found;
    },
    cancelPark: () => {},
    parkAsync: () => {
      log.push('park');
      if (k >= s.sends.length - 1) { stop(); return new Promise<never>(() => {}); }
      clock += s.parkMs?.[k] ?? 1; // the frozen clock moves only here
      input = true; // a notify: the peer's answer came
      return Promise.resolve('ok');
    },
    interrupt: () => true,
  };
  const ep = {
    bell,
    drainLength: () => { const had = input; input = false; return had ? 1 : 0; },
    lastBatch: () => new Uint8Array(1),
    flush: () => s.sends[k] ?? 0,
    hasInput: () => input,
    hasBacklog: () => false,
    prepareToPark: () => true,
  };
  const dir = { beat: () => {} };
  const loop = new WorkerLoop(kernel as never, ep as never, dir as never, undefined, { postMessage: () => {} } as never,
    () => {}, 0, awaitMaxMs);
  return { loop, log, stopped };
}

test('a step that sent to another thread waits for the answer; the window halves while none comes and is restored when one does', () => frozenClock(async () => {
  const w = AWAIT_REPLY_MS;
  const { loop, log, stopped } = harness({ sends: [1, 1, 1, 0, 1, 1], spins: [false, false, true, false, false, false] });
  void loop.run();
  await stopped;
  assert.deepEqual(log, [
    'step0', `await(${w})`, 'park',
    'step1', `await(${w / 2})`, 'park',
    'step2', `await(${w / 4})`, // answered within the window
    'step3', 'spin', 'park', // sent nothing: the adaptive spin only
    'step4', `await(${w})`, 'park',
    'step5', `await(${w / 2})`, 'park',
  ]);
}));

test('unanswered sends shrink the window to its floor, not to nothing; 0 turns the reply wait off', () => frozenClock(async () => {
  const w = AWAIT_REPLY_MS;
  const h = harness({ sends: [1, 1, 1, 1, 1, 1, 1], spins: [] });
  void h.loop.run();
  await h.stopped;
  const waits = h.log.filter((e) => e.startsWith('await')).map((e) => Number(e.slice(6, -1)));
  assert.equal(waits.length, 7);
  assert.deepEqual(waits.slice(0, 4), [w, w / 2, w / 4, w / 8]);
  const floor = waits[6]!;
  assert.ok(floor > 0 && floor === waits[5] && floor <= w / 8, `the window stops at a floor above 0 (${waits.join(', ')})`);
  const off = harness({ sends: [1, 1], spins: [] }, 0);
  void off.loop.run();
  await off.stopped;
  assert.deepEqual(off.log, ['step0', 'spin', 'park', 'step1', 'spin', 'park']);
}));

test('input that came during a step is stepped at once, before the event loop turns', () => frozenClock(async () => {
  const h = harness({ sends: [1, 1, 1], inputAfter: [true, true, false], spins: [] });
  const order: string[] = [];
  setImmediate(() => order.push(`immediate after ${h.log.filter((e) => e.startsWith('step')).length} steps`));
  void h.loop.run();
  await h.stopped;
  await new Promise<void>((r) => setImmediate(r));
  assert.deepEqual(h.log.slice(0, 3), ['step0', 'step1', 'step2']);
  assert.deepEqual(order, ['immediate after 3 steps']);
}));

test('a step without input (a due timer) keeps waiting for the answer the step before it asked for', () => frozenClock(async () => {
  const h = harness({ sends: [1, 0], timerAfter: [true, false], spins: [] });
  void h.loop.run();
  await h.stopped;
  assert.deepEqual(h.log, ['step0', 'step1', `await(${AWAIT_REPLY_MS})`, 'park']);
}));

test('a park that the answer ended soon after an empty window (within twice it) doubles the window again', () => frozenClock(async () => {
  const w = AWAIT_REPLY_MS;
  // steps 0-1: nothing for long after the window (halved twice); step 2: the answer came after
  // more than twice the window (halved); steps 3-5: within twice the window (doubled, up to w)
  const { loop, log, stopped } = harness({ sends: [1, 1, 1, 1, 1, 1, 1], spins: [], parkMs: [1, 1, 0.6 * w, 0.2 * w, 0.2 * w, 0.2 * w] });
  void loop.run();
  await stopped;
  const waits = log.filter((e) => e.startsWith('await')).map((e) => Number(e.slice(6, -1)));
  assert.deepEqual(waits, [w, w / 2, w / 4, w / 8, w / 4, w / 2, w]);
}));
