// Helpers of the soak driver (stress/soak.ts): the seeded generator, options, the growth rule and
// the curve's formatting. Nothing here talks to the runtime.

/** A small seeded generator (mulberry32): the same seed gives the same decisions. */
export class Rand {
  private s: number;
  constructor(seed: number) { this.s = (seed >>> 0) ^ 0x9e3779b9; }
  /** Uniform in [0, 1). */
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** Integer in [lo, hi]. */
  int(lo: number, hi: number): number { return lo + Math.floor(this.next() * (hi - lo + 1)); }
  pick<T>(xs: readonly T[]): T { return xs[Math.floor(this.next() * xs.length)]!; }
  /** A key of `weights`, with probability proportional to its weight. */
  weighted<K extends string>(weights: Record<K, number>): K {
    const keys = Object.keys(weights) as K[];
    let total = 0;
    for (const k of keys) total += weights[k];
    let x = this.next() * total;
    for (const k of keys) { x -= weights[k]; if (x < 0) return k; }
    return keys[keys.length - 1]!;
  }
}

export interface SoakOptions {
  minutes: number;
  seed: number;
  /** Workers of the `soak:main` host (the `soak:side` host keeps one). */
  workers: number;
  /** Seconds between curve lines (default: about 30 lines per run, 2-20 s). */
  interval: number;
  /** Churn per phase, as seconds at 250 operations a second (the count is fixed, so phase n
   *  draws the same operations on every run of a seed); each phase ends in a quiesce and the
   *  baseline checks. */
  phase: number;
  fuzz: boolean;
  killWorker: boolean;
  /** Report listen-channel losses across upgrades as a known issue instead of failing. */
  allowListenLoss: boolean;
}

export function parseOptions(argv: string[]): SoakOptions {
  const o: SoakOptions = { minutes: 10, seed: 7, workers: 2, interval: 0, phase: 0, fuzz: false, killWorker: false, allowListenLoss: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const num = (name: string): number => {
      const v = Number(argv[++i]);
      if (!Number.isFinite(v) || v <= 0) throw new Error(`soak: ${name} needs a positive number, got '${argv[i]}'`);
      return v;
    };
    if (a === '--minutes') o.minutes = num(a);
    else if (a === '--seed') o.seed = Math.floor(num(a));
    else if (a === '--workers') o.workers = Math.floor(num(a));
    else if (a === '--interval') o.interval = num(a);
    else if (a === '--phase') o.phase = num(a);
    else if (a === '--fuzz') o.fuzz = true;
    else if (a === '--kill-worker') o.killWorker = true;
    else if (a === '--allow-listen-loss') o.allowListenLoss = true;
    else if (a === '--help' || a === '-h') {
      console.log(USAGE);
      process.exit(0);
    } else throw new Error(`soak: unknown option '${a}'\n${USAGE}`);
  }
  const total = o.minutes * 60;
  if (!o.interval) o.interval = Math.min(20, Math.max(2, Math.round(total / 30)));
  if (!o.phase) o.phase = Math.min(30, Math.max(8, Math.round(total / 6)));
  return o;
}

export const USAGE = `usage: npm run soak -- [--minutes N] [--seed N] [--workers N] [--interval S] [--phase S]
                        [--fuzz] [--kill-worker] [--allow-listen-loss]
  --minutes N          length of the churn (default 10)
  --seed N             seed of every decision (default 7)
  --workers N          workers of host soak:main (default 2; soak:side has 1)
  --interval S         seconds between curve lines (default: total/30, 2-20)
  --phase S            churn per phase: S x 250 operations (about S seconds), then a quiesce and the
                       baseline checks (default: total/6, 8-30)
  --fuzz               after the churn, the fuzz suites at WIPPY_FUZZ_RUNS x (default 5) their npm-test size
  --kill-worker        then kill a worker (Runtime.testFault) and check the recovery
  --allow-listen-loss  report messages lost from listen channels across upgrades without failing
                       (for builds from before upgrades kept them)`;

export function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/**
 * The growth rule: of the quiesced samples after warm-up (the first phase is dropped), the median
 * of the last third may exceed the median of the first third by at most `slack` (absolute) or
 * `ratio` of the first (whichever is larger). Medians and the slack absorb GC timing noise; a leak
 * of any size per operation grows with the run and fails it once the run is long enough.
 */
export function growth(samples: number[], slack: number, ratio: number): { ok: boolean; first: number; last: number; limit: number; n: number } {
  const xs = samples.slice(1);
  if (xs.length < 2) return { ok: true, first: NaN, last: NaN, limit: NaN, n: xs.length };
  const third = Math.max(1, Math.floor(xs.length / 3));
  const first = median(xs.slice(0, third));
  const last = median(xs.slice(xs.length - third));
  const limit = first + Math.max(slack, first * ratio);
  return { ok: last <= limit, first, last, limit, n: xs.length };
}

export const MiB = 1048576;
export const mib = (b: number): string => (b / MiB).toFixed(1);

export function pad(s: string | number, n: number): string {
  const t = String(s);
  return t.length >= n ? t : ' '.repeat(n - t.length) + t;
}
