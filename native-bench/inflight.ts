/**
 * The driver both job runners are measured with at a fixed number of jobs in flight: ours
 * (bench/jobs.ts, `rt.exec`) and piscina (piscina.ts, `pool.run`), so the two rows of the
 * comparison are driven the same way.
 *
 * `lanes` async loops; each takes the next job number, awaits that one job, records its latency
 * (submit to settled, two performance.now() reads) into a preallocated array, and takes the
 * next, until `n` jobs have run. So `lanes` jobs are in flight at every moment until the last
 * `lanes` drain, and the driver's own cost per job is a counter, two clock reads, one store and
 * the loop's await: measured on the main thread (Node 24, a no-op async job, 64 lanes) ~0.05 µs
 * of CPU per job, against ~0.4–0.55 µs for tinybench's task concurrency (which the job runner's
 * row used before: its per-iteration bookkeeping, a latency sample pushed into a growing array,
 * its statistics at the end, and a promise per iteration of its own).
 *
 * Returns the wall time of the whole run in ms and the latencies (ms, sorted ascending).
 */
export interface InFlightResult {
  ms: number;
  latenciesMs: Float64Array;
}

export async function runInFlight(n: number, lanes: number, job: (i: number) => Promise<unknown>): Promise<InFlightResult> {
  if (!(Number.isInteger(n) && n > 0 && Number.isInteger(lanes) && lanes > 0)) throw new RangeError('runInFlight: n and lanes must be positive integers');
  const lat = new Float64Array(n);
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < n) {
      const i = next++;
      const t = performance.now();
      await job(i);
      lat[i] = performance.now() - t;
    }
  };
  const t0 = performance.now();
  const all = new Array<Promise<void>>(Math.min(lanes, n));
  for (let k = 0; k < all.length; k++) all[k] = lane();
  await Promise.all(all);
  const ms = performance.now() - t0;
  lat.sort();
  return { ms, latenciesMs: lat };
}
