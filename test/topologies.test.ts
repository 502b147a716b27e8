// The supervision seed's topologies, run as written (config/examples/supervision): star (10
// children linked to a failing parent), chain (linked, 5 deep plus the test's driver link), and
// a supervised worker pool that restarts a killed worker.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { createRuntime, type Runtime } from '../src/index.js';

let rt: Runtime;
let out = '';
before(async () => {
  rt = await createRuntime({ root: resolve('config/examples/supervision'), write: (_fd, b) => { out += Buffer.from(b).toString(); } });
});
after(async () => { await rt.stop(500); });

const until = async (what: () => boolean, ms = 5000) => {
  const end = Date.now() + ms;
  while (!what()) { if (Date.now() > end) throw new Error(`timed out; output so far:\n${out}`); await new Promise((r) => setTimeout(r, 10)); }
};
const live = async () => (await rt.stats()).reduce((a, s) => a + s.processes, 0);

test('star: ten children linked to the parent all die with it', async () => {
  const before = await live();
  const e = await rt.run('app.workers:star_parent');
  assert.match(e.error?.message ?? '', /PARENT_STAR_FAILURE/);
  for (let i = 0; i < 100 && (await live()) > before; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(await live(), before, 'every child went down with the parent');
});

test('chain: the root failing takes the whole chain down', async () => {
  const before = await live();
  const e = await rt.run('app.workers:chain_root');
  assert.match(e.error?.message ?? '', /CHAIN_ROOT_FAILURE/);
  for (let i = 0; i < 100 && (await live()) > before; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(await live(), before, 'all 4 chain nodes died by cascade, long before their 5 s sleep');
});

test('worker pool: a killed worker is restarted by the supervisor', async () => {
  out = '';
  const pool = await rt.spawn('app.supervisor:pool', 'app:processes', [3]);
  await until(() => out.includes('Supervisor started with 3 workers'));
  const m = /Worker 2 started: (\{[^}]+\})/.exec(out);
  assert.ok(m, out);
  rt.terminate(m[1]!);
  await until(() => out.includes('Worker 2 died after') && /Worker 2 started: \{/.test(out.slice(out.indexOf('Worker 2 died after'))));
  rt.terminate(pool);
});
