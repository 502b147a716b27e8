// The soak's fuzz phase (`npm run soak -- --fuzz`): the hook point where fuzz properties run
// longer than they do in `npm test`, against the soak's live runtime, after the churn.
//
// To plug a property in, add it to FUZZ_PHASES below (or call registerFuzzPhase from a module
// imported here). `run` gets the running runtime (hosts soak:main with 2 workers and soak:side
// with 1; entries in stress/soak-app, and whatever the property spawns of its own), a seed
// derived from the soak's seed, and a deadline; it returns how many cases it ran and the failures
// it found (each a line naming the seed / counterexample). After every phase the soak checks the
// runtime is still serving and that processes, names, directory slots and ring backlogs are back
// at their baseline, so a property only needs to check its own outcomes.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Runtime } from '../src/index.js';

export interface FuzzContext {
  rt: Runtime;
  seed: number;
  /** Date.now() value by which the phase should return. */
  deadline: number;
  log: (line: string) => void;
}

export interface FuzzPhase {
  name: string;
  run(ctx: FuzzContext): Promise<{ cases: number; failures: string[] }>;
}

// The fuzz suites of `npm test` (test/fuzz-*.test.ts), run longer: WIPPY_FUZZ_RUNS multiplies
// every property's cases (test/helpers/fuzz.ts) and the soak's seed replaces theirs. They run in
// a child process (node --test), each on runtimes of their own, so a counterexample that wedged
// a runtime there cannot take the soak's with it.
const SUITES = ['fuzz-registry', 'fuzz-codec', 'fuzz-values', 'fuzz-process-api'];
const FUZZ_RUNS = Number(process.env['WIPPY_FUZZ_RUNS']) || 5;

function suitePhase(name: string): FuzzPhase {
  return {
    name,
    async run(ctx) {
      const file = fileURLToPath(new URL(`../test/${name}.test.js`, import.meta.url));
      const r = spawnSync(process.execPath, ['--test', '--test-reporter=tap', file], {
        env: { ...process.env, WIPPY_FUZZ_RUNS: String(FUZZ_RUNS), WIPPY_FUZZ_SEED: String(ctx.seed) },
        encoding: 'utf8', maxBuffer: 64 << 20, timeout: Math.round(Math.max(60_000, ctx.deadline - Date.now() + 60_000)),
      });
      const out = r.stdout ?? '';
      const pass = Number(/^# pass (\d+)/m.exec(out)?.[1] ?? 0);
      const fail = Number(/^# fail (\d+)/m.exec(out)?.[1] ?? 0);
      const failures: string[] = [];
      if (r.status !== 0 || fail > 0) {
        for (const m of out.matchAll(/^not ok \d+ - (.*)$/gm)) failures.push(`${m[1]} (WIPPY_FUZZ_SEED=${ctx.seed} WIPPY_FUZZ_RUNS=${FUZZ_RUNS})`);
        if (failures.length === 0) failures.push(`exit ${r.status ?? r.signal}: ${(r.stderr ?? '').slice(-400)}`);
      }
      ctx.log(`${pass} properties passed at ${FUZZ_RUNS}x their npm-test size`);
      return { cases: pass, failures };
    },
  };
}

const FUZZ_PHASES: FuzzPhase[] = SUITES.map(suitePhase);

export function registerFuzzPhase(p: FuzzPhase): void { FUZZ_PHASES.push(p); }

export function fuzzPhases(): readonly FuzzPhase[] { return FUZZ_PHASES; }
