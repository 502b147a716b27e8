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

const FUZZ_PHASES: FuzzPhase[] = [];

export function registerFuzzPhase(p: FuzzPhase): void { FUZZ_PHASES.push(p); }

export function fuzzPhases(): readonly FuzzPhase[] { return FUZZ_PHASES; }
