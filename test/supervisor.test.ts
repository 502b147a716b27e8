// Supervised process.service entries: restart with exponential backoff, max
// attempts, stable threshold, non-retryable errors, normal exits, dependency order, stop.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { createRuntime, Supervisor, backoffMs } from '../src/index.js';

const lua = (id: string, body: string) => ({ id, kind: 'process.lua', method: 'main', modules: ['time'],
  source: `local time = require("time")\nreturn { main = function(...)\n${body}\nend }` });
const svc = (name: string, proc: string, lifecycle: Record<string, unknown>) =>
  ({ id: `s:${name}`, kind: 'process.service', process: proc, host: 's:p', lifecycle: { auto_start: true, ...lifecycle } });

test('backoff grows by the factor and is capped', () => {
  const p = { initialDelayMs: 1000, maxDelayMs: 90_000, backoffFactor: 2, jitter: 0.1, maxAttempts: 0 };
  assert.deepEqual([1, 2, 3, 4, 8].map((a) => backoffMs(p, a)), [1000, 2000, 4000, 8000, 90_000]);
});

test('services restart with backoff, stop at max_attempts, honour non-retryable and normal exits, start in order', async () => {
  const logs: Array<Record<string, unknown>> = [];
  const log = pino({ level: 'info', base: undefined }, { write: (m: string) => { logs.push(JSON.parse(m)); } });
  const restart = { initial_delay: '40ms', max_delay: '1s', backoff_factor: 2, jitter: 0 };
  const rt = await createRuntime({ entries: [
    { id: 's:p', kind: 'process.host', host: { workers: 1 } },
    lua('s:p_crash', 'error("boom")'),
    lua('s:p_fatal', 'return nil, "configuration is wrong"'),
    lua('s:p_done', 'return "finished"'),
    lua('s:p_slow_crash', 'time.sleep("60ms"); error("late boom")'),
    lua('s:p_serve', 'local e = process.events():receive(); return e.kind .. ":" .. tostring(e.reason)'),
    svc('crasher', 's:p_crash', { restart: { ...restart, max_attempts: 3 } }),
    svc('fatal', 's:p_fatal', { restart }),
    svc('done', 's:p_done', { restart }),
    svc('stable', 's:p_slow_crash', { stable_threshold: '30ms', restart: { ...restart, max_attempts: 2 } }),
    svc('b', 's:p_serve', { requires: ['s:a'], restart }),
    svc('a', 's:p_serve', { restart }),
  ] });
  const sup = new Supervisor(rt, log, () => 0.5); // jitter factor 0 either way
  try {
    await sup.start();
    const order = sup.status().map((s) => s.id);
    assert.ok(order.indexOf('s:a') < order.indexOf('s:b'), `a before b: ${order.join(', ')}`);
    // Wait for the outcome, not for a time: the crasher's three restarts (40 + 80 + 160 ms of
    // backoff) and three restarts of the 60 ms stable service take ~300 ms on a quiet machine and
    // longer on a loaded one. Past 10 s the assertions below report what did not happen.
    const stableRestartCount = () => logs.filter((l) => l['service'] === 's:stable' && l['msg'] === 'service failed; restarting').length;
    for (let waited = 0; waited < 10_000; waited += 20) {
      const crasher = sup.status().find((s) => s.id === 's:crasher');
      if (crasher?.state === 'failed' && stableRestartCount() >= 3) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    const st = new Map(sup.status().map((s) => [s.id, s]));
    const delays = logs.filter((l) => l['service'] === 's:crasher' && l['msg'] === 'service failed; restarting').map((l) => l['delayMs']);
    assert.deepEqual(delays, [40, 80, 160], 'exponential backoff');
    assert.equal(st.get('s:crasher')!.state, 'failed');
    assert.equal(st.get('s:crasher')!.attempts, 3);
    assert.match(st.get('s:crasher')!.lastError ?? '', /boom/);
    assert.equal(st.get('s:fatal')!.state, 'exited', 'non-retryable error: not restarted');
    assert.equal(st.get('s:fatal')!.attempts, 0);
    assert.equal(st.get('s:done')!.state, 'exited', 'normal exit: not restarted');
    // each run lasts past the stable threshold, so the counter keeps going back to 1 and the
    // service keeps restarting beyond max_attempts (2)
    const stableRestarts = logs.filter((l) => l['service'] === 's:stable' && l['msg'] === 'service failed; restarting');
    assert.ok(stableRestarts.length >= 3, `stable restarts: ${stableRestarts.length}`);
    assert.ok(stableRestarts.every((l) => l['attempt'] === 1));
    assert.equal(st.get('s:a')!.state, 'running');
    await sup.stop();
    const after = new Map(sup.status().map((s) => [s.id, s]));
    assert.equal(after.get('s:a')!.state, 'stopped');
    assert.equal(after.get('s:b')!.state, 'stopped');
  } finally {
    await rt.stop(500);
  }
});
