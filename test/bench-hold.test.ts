// bench/spawn.ts's `hold` (issue 15's "spawn until blocked in receive, 2 workers ÷ 1 worker" row)
// and bench/threadcpu.ts's per-thread counters, which its figure's details carry.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { holdWorkload } from '../bench/spawn.js';
import { threadStats, threadStatDelta } from '../bench/threadcpu.js';
import type { BenchContext } from '../bench/harness.js';

const linux = process.platform === 'linux';

test('threadStats: a thread that touches fresh memory and computes shows the faults and the CPU', { skip: !linux && 'needs /proc' }, () => {
  const before = threadStats();
  assert.ok(before.size >= 1, 'at least this thread is listed');
  // 16 MiB never touched before: one minor fault per 4 KiB page at least once written
  const buf = Buffer.allocUnsafeSlow(16 << 20);
  for (let i = 0; i < buf.length; i += 4096) buf[i] = 1;
  let x = 0;
  for (let i = 0; i < 5e7; i++) x = (x + i) % 1000003;
  const after = threadStats();
  // all threads: on Node 20 every thread is named "node", on Node 24 this one "MainThread"
  const d = threadStatDelta(before, after, '')!;
  assert.ok(d.minflt >= (16 << 20) / 4096 / 2, `minor faults ${d.minflt} for 4,096 pages written`);
  assert.ok(d.cpu > 0, 'CPU time grew');
  assert.ok(d.utimeTicks >= 0 && d.stimeTicks >= 0);
  assert.ok(x >= 0);
  // a prefix nobody has: no counters
  assert.equal(threadStatDelta(before, after, 'no-such-thread-name'), undefined);
});

test('hold on 2 workers: one holder per worker, both start at the common instant, N held and released', { timeout: 120_000 }, async () => {
  const ctx: BenchContext = { quick: true, allWorkers: 2, timeoutMs: 60_000, note: () => {} };
  const variant = holdWorkload.variants(ctx).find((v) => v.workers === 2)!;
  const figs = await variant.run(ctx);
  assert.deepEqual(figs.map((f) => f.figure), [
    'Lua heap per blocked process', 'RSS per blocked process (whole Node process)',
    'RSS per blocked process, marginal (N more on top of N)', 'spawn until all blocked in receive',
  ]);
  const spawn = figs[3]!;
  assert.ok(spawn.value > 0 && Number.isFinite(spawn.value));
  const d = spawn.details!;
  // each holder's 5,000 children and the holder on its worker, but for spawns a worker published at
  // the backlog mark, which its sibling may take (under load a holder can fall behind: 4962/5040
  // was seen at load 9), so a worker holds at least 5,001 less what it published
  const placement = String(d['placement']).split('/').map(Number);
  // both holders waited for the instant "go" carried before their first spawn
  const late = String(d['holderStartAfterInstantUs']).split('/').map(Number);
  assert.equal(late.length, 2);
  for (const l of late) assert.ok(l >= 0, `a holder started ${-l} µs before the common instant`);
  // spawns published at the mark are counted per worker, and never more than a worker queued
  const pub = String(d['publishedAtMark']).split('/').map(Number);
  assert.equal(pub.length, 2);
  for (const p of pub) assert.ok(p >= 0 && p <= 5000);
  assert.equal(placement.length, 2);
  assert.equal(placement[0]! + placement[1]!, 10_002, 'every child alive while held');
  placement.forEach((n, i) => assert.ok(n >= 5001 - pub[i]!, `worker ${i + 1} holds ${n}, published ${pub[i]} of its 5,000: it lost more than it published`));
});
