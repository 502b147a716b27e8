// The soak's optional phases (stress/soak.ts): --kill-worker and --fuzz. Both run after the
// churn, on the same runtime; each fuzz property is followed by the baseline check, the
// worker kill (the last phase: it takes an agent with it) checks its own outcomes.
import type { ExitInfo } from '../src/index.js';
import type { Soak } from './soak.js';
import { fuzzPhases } from './soak-fuzz.js';
import { HOSTS, sleep, within } from './soak-util.js';

/**
 * Optional (--kill-worker): kill the last worker of soak:main through the runtime's test door
 * (Runtime.testFault: an uncaught error in the worker's JS; worker crash recovery).
 * Expected: every JS-watched victim on that worker gets exactly one exit with "worker crashed",
 * the others end normally; services restart; the runtime keeps serving jobs on every host.
 */
export async function killWorkerPhase(s: Soak): Promise<void> {
  const hook = (tid: number) => s.rt.testFault(tid, 'throw');
  const st = await s.rt.stats();
  const tid = st.filter((s) => s.host === 'soak:main').at(-1)!.tid;
  const exits = new Map<string, ExitInfo[]>();
  const pids: string[] = [];
  for (let i = 0; i < 8; i++) {
    pids.push(await s.rt.spawn('soak:victim', 'soak:main', [{ fate: 'normal' }], (e) => {
      const l = exits.get(e.pid) ?? []; l.push(e); exits.set(e.pid, l);
    }));
  }
  s.stopping = true; // the agent on that worker dies with it: no longer a violation
  console.log(`-- kill-worker phase: killing worker ${tid}`);
  s.killing = true;
  await hook(tid);
  await sleep(3000);
  for (const p of pids) if (!exits.has(p)) { try { s.rt.send(p, 'go'); } catch { /* dead */ } }
  await sleep(2000);
  let crashed = 0;
  for (const p of pids) {
    const l = exits.get(p) ?? [];
    if (l.length !== 1) { s.fail(`kill-worker: ${p} got ${l.length} exits`); continue; }
    if (l[0]!.error) {
      if (!/worker crashed/.test(l[0]!.error.message)) s.fail(`kill-worker: ${p} ended with ${l[0]!.error.message}`);
      crashed++;
    }
  }
  if (crashed === 0) s.fail('kill-worker: no victim reported "worker crashed"');
  if (!(await s.waitServices())) s.fail('kill-worker: services did not come back');
  for (const h of HOSTS) {
    const v = await within(s.rt.exec('soak:job', [5], { host: h }), 10_000);
    if (v !== 55) s.fail(`kill-worker: job on ${h} after the kill gave ${String(v)}`);
  }
  console.log(`-- kill-worker phase: ${crashed} of ${pids.length} victims crashed with the worker`);
}

export async function fuzzPhase(s: Soak, deadline: number): Promise<void> {
  const phases = fuzzPhases();
  if (phases.length === 0) { console.log('-- fuzz phase: no fuzz properties registered (stress/soak-fuzz.ts); nothing to run'); return; }
  const share = Math.max(5000, (deadline - Date.now()) / phases.length);
  for (const p of phases) {
    const r = await p.run({ rt: s.rt, seed: s.o.seed, deadline: Date.now() + share, log: (l) => console.log(`   ${p.name}: ${l}`) });
    s.count('fuzz_cases', r.cases);
    for (const f of r.failures) s.fail(`fuzz ${p.name}: ${f}`);
    console.log(`-- fuzz ${p.name}: ${r.cases} cases, ${r.failures.length} failures`);
    await s.checkBaseline(-1);
  }
}
