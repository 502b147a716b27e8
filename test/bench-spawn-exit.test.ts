// bench/spawn.ts's `spawn-exit` on 2 workers (issue 15's "spawn + exit, 2 workers ÷ 1 worker" row):
// one driver per worker, and the drivers' timed runs start at one instant after every driver's
// untimed warm run has ended (runDrivers' startTogether), so the figure's span — the first timed
// start to the last timed end — holds no driver's warm run (docs/design/scheduler.md, "Session 15:
// spawn+exit on two workers, Node 20").
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnExitWorkload } from '../bench/spawn.js';
import type { BenchContext } from '../bench/harness.js';

test('spawn-exit on 2 workers: every timed run starts at the common instant, after every warm run ended', { timeout: 120_000 }, async () => {
  const ctx: BenchContext = { quick: true, allWorkers: 2, timeoutMs: 60_000, note: () => {} };
  const variant = spawnExitWorkload.variants(ctx).find((v) => v.workers === 2)!;
  const [fig] = await variant.run(ctx);
  assert.ok(fig && fig.value > 0 && Number.isFinite(fig.value));
  const d = fig.details!;
  // each driver waited for the instant "start" carried before its first timed spawn
  const late = String(d['startAfterInstantUs']).split('/').map(Number);
  assert.equal(late.length, 2);
  for (const l of late) assert.ok(l >= 0, `a driver started ${-l} µs before the common instant`);
  // no driver's timed run began before the other's warm run had ended
  assert.ok(Number(d['warmEndSkewSeconds']) >= 0);
  assert.ok(Number(d['startSkewSeconds']) >= 0);
  const span = Number(d['spanSeconds']);
  // (driverSeconds are rounded to 0.1 ms)
  for (const s of String(d['driverSeconds']).split('/').map(Number)) assert.ok(s > 0 && s <= span + 1e-4, `a driver's run ${s} s outside the span ${span} s`);
});

test('spawn-exit on 1 worker: one driver, no wait (nobody to start with)', { timeout: 120_000 }, async () => {
  const ctx: BenchContext = { quick: true, allWorkers: 2, timeoutMs: 60_000, note: () => {} };
  const variant = spawnExitWorkload.variants(ctx).find((v) => v.workers === 1)!;
  const [fig] = await variant.run(ctx);
  assert.ok(fig && fig.value > 0);
  assert.equal(fig.details!['startAfterInstantUs'], undefined);
  assert.equal(Number(fig.details!['warmEndSkewSeconds']), 0);
});
