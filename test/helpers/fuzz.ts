// Shared settings for the fuzz tests (test/fuzz-*.test.ts): how many cases each property runs,
// with which seed, and how a runtime that a case may have wedged is torn down.
//
// Size. `npm test` runs every property at a small size (the whole fuzz set is meant to take
// ~20-40 s on a quiet two-core machine). The soak run, or anyone chasing a bug, sets
//
//   WIPPY_FUZZ_RUNS=<multiplier>   cases per property x multiplier (default 1; e.g. 50 for soak)
//   WIPPY_FUZZ_SEED=<integer>      replaces every property's seed (default: a fixed seed derived
//                                  from the property's name, so runs are repeatable)
//
// A failing property prints fast-check's report: the seed, the shrink path and the minimal
// counterexample. Re-run one case exactly with WIPPY_FUZZ_SEED=<seed> and the same multiplier.
import type { Parameters } from 'fast-check';
import type { Runtime } from '../../src/index.js';

function envNumber(name: string): number | undefined {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number, got "${raw}"`);
  return n;
}

/** Cases per property are multiplied by this (WIPPY_FUZZ_RUNS, default 1). */
export const FUZZ_MULTIPLIER = envNumber('WIPPY_FUZZ_RUNS') ?? 1;
const SEED_OVERRIDE = envNumber('WIPPY_FUZZ_SEED');

/** A stable 31-bit seed from a property's name (FNV-1a), so each property has its own sequence. */
export function seedOf(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  return (h >>> 0) & 0x7fffffff;
}

/** Runs for a property that runs `base` cases in `npm test`. */
export function runs(base: number): number {
  return Math.max(1, Math.round(base * FUZZ_MULTIPLIER));
}

/** fast-check parameters for the property `name`: its seed, `base` x multiplier runs. */
export function fuzzParams<T>(name: string, base: number, extra: Parameters<T> = {}): Parameters<T> {
  return { seed: SEED_OVERRIDE ?? seedOf(name), numRuns: runs(base), verbose: 0, includeErrorInReport: true, ...extra };
}

/**
 * Stops a runtime, and if that does not finish in `graceMs` (a worker wedged by a case under
 * test), terminates its worker threads so the test process can still exit and report.
 */
export async function stopRuntime(rt: Runtime, graceMs = 500): Promise<'stopped' | 'terminated'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => { timer = setTimeout(() => resolve('timeout'), graceMs + 2000); });
  const outcome = await Promise.race([rt.stop(graceMs).then(() => 'stopped' as const), timeout]);
  clearTimeout(timer);
  if (outcome === 'stopped') return 'stopped';
  const threads = (rt as unknown as { threads?: Array<{ worker: { terminate(): Promise<number> } }> }).threads ?? [];
  await Promise.all(threads.map((th) => th.worker.terminate()));
  return 'terminated';
}

/** Resolves to `p`'s value, or rejects with "<what>: no answer in <ms> ms" (a hang is a failure). */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer in ${ms} ms (hung)`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}
