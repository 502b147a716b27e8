// The worker loop's park (src/host/loop.ts) under fakes: a spawn pushed into the worker's own run
// queue between its last look and its park announcement must not be left waiting. The pusher
// rings before the park is announced (it reads RUNNING: no notify), so the loop itself must see
// the queued item after announcing (the doorbell protocol's step C2) and step again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WorkerLoop } from '../src/host/loop.js';

function harness(pushAt: 'announce' | 'never') {
  const log: string[] = [];
  let queued = 0;
  let announced = false;
  let injected = false;
  const kernel = {
    nextDeadline: -1,
    step: () => {
      log.push('step');
      if (queued > 0) { queued--; log.push('took'); }
      return false; // more (LuaKernel.step); the next deadline is the field above
    },
    count: () => 0,
  };
  const bell = {
    spin: () => false,
    cancelPark: () => { announced = false; log.push('cancel'); },
    parkAsync: () => { log.push(`park(queued=${queued})`); return new Promise<never>(() => {}); },
    interrupt: () => true,
  };
  const ep = {
    bell,
    drainLength: () => 0,
    flush: () => {},
    hasInput: () => false,
    hasBacklog: () => false,
    sentFrames: [],
    prepareToPark: () => {
      announced = true;
      // The race: the main thread's push lands now, and its ring() read the state just before
      // (at the first announcement, whichever step it follows).
      if (pushAt === 'announce' && !injected) { injected = true; queued++; }
      return true;
    },
  };
  const dir = { beat: () => {} };
  const tasks = {
    visible: () => !announced && queued > 0,
    ownQueued: () => queued,
    queuedElsewhere: () => false,
  };
  const loop = new WorkerLoop(kernel as never, ep as never, dir as never, tasks as never, { postMessage: () => {} } as never, () => {});
  return { loop, log };
}

/**
 * Until the loop has parked: on a loaded machine a step can take longer than BREATHE_MS, and the
 * loop then lets its event loop run once before it parks, so one setImmediate is not enough.
 * After such a breathe the loop steps once more before it looks at parking (correct: input may
 * have come meanwhile), so the logs below allow repeated steps where a breathe can fall, and are
 * otherwise asserted whole.
 */
async function parked(log: string[]): Promise<void> {
  for (let i = 0; i < 5_000 && !log.some((e) => e.startsWith('park(')); i++) await new Promise((r) => setTimeout(r, 1));
}

test('a spawn queued here while the park is being announced is taken before the worker parks', async () => {
  const { loop, log } = harness('announce');
  void loop.run();
  await parked(log);
  assert.match(log.join(','), /^(step,)+cancel,step,took,(step,)*park\(queued=0\)$/);
});

test('with nothing queued the worker parks after one step', async () => {
  const { loop, log } = harness('never');
  void loop.run();
  await parked(log);
  assert.match(log.join(','), /^(step,)+park\(queued=0\)$/);
});

test('a worker whose kernel always has more to run still lets its event loop run (timers, control)', { timeout: 30_000 }, async () => {
  // Busy steps run back to back (no event-loop turn between two of them), but the loop must still
  // await its event loop at least every BREATHE_MS: here the kernel has more work until a timer
  // callback says otherwise, so a loop that never yielded would step forever.
  const log: string[] = [];
  let timerFired = false;
  let steps = 0;
  const kernel = {
    nextDeadline: -1,
    step: () => { steps++; return !timerFired; },
    count: () => 0,
  };
  const ep = {
    bell: {
      spin: () => false, cancelPark: () => {}, interrupt: () => true,
      parkAsync: () => { log.push('park'); return new Promise<never>(() => {}); },
    },
    drainLength: () => 0, flush: () => {}, hasInput: () => false, hasBacklog: () => false, prepareToPark: () => true, sentFrames: [],
  };
  const tasks = { visible: () => false, ownQueued: () => 0, queuedElsewhere: () => false };
  const loop = new WorkerLoop(kernel as never, ep as never, { beat: () => {} } as never, tasks as never,
    { postMessage: () => {} } as never, () => {});
  setTimeout(() => { timerFired = true; log.push('timer'); }, 1);
  void loop.run();
  while (!log.includes('park')) await new Promise((r) => setTimeout(r, 1));
  assert.deepEqual(log, ['timer', 'park']);
  assert.ok(steps >= 2, `steps: ${steps}`);
});
