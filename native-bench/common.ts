/**
 * Small helpers shared by the reference benchmarks: percentiles, medians,
 * "am I the entry script", and an explicit garbage collector.
 */

import { pathToFileURL } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** Value at quantile `q` (0..1) of an ascending-sorted array; NaN if empty. */
export function percentile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.round(q * sorted.length) - 1));
  return sorted[i];
}

/** Median of unsorted numbers (the lower one for an even count). */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[(sorted.length - 1) >> 1];
}

/** Rounds to `digits` decimals, for readable JSON. */
export function round(x: number, digits = 0): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** True when the module with this `import.meta.url` is the script node was started with. */
export function isMain(importMetaUrl: string): boolean {
  const entry = process.argv[1];
  return entry !== undefined && importMetaUrl === pathToFileURL(entry).href;
}

let gcFn: (() => void) | undefined;

/**
 * Returns a full, synchronous garbage collection. When node was not started
 * with --expose-gc, the flag is switched on at run time; V8 installs `gc` on
 * contexts created after that, so a fresh vm context hands it over. The
 * memory figures need this: heapUsed deltas without a GC include garbage.
 */
export function getGc(): () => void {
  if (gcFn !== undefined) return gcFn;
  const existing = (globalThis as { gc?: () => void }).gc;
  if (typeof existing === 'function') {
    gcFn = existing;
  } else {
    setFlagsFromString('--expose-gc');
    gcFn = runInNewContext('gc') as () => void;
  }
  return gcFn;
}

/** Value of `--name value` in argv, or undefined. */
export function argValue(argv: readonly string[], name: string): string | undefined {
  const i = argv.indexOf(name);
  return i >= 0 && i + 1 < argv.length ? argv[i + 1] : undefined;
}
