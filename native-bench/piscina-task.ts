/**
 * The piscina worker: one tiny task, the job-runner peer of a Lua `exec`
 * that returns a number. Kept trivial on purpose, so the benchmark measures
 * piscina's dispatch (queue, wake-up, result hand-back), not the work.
 */
export default function square(x: number): number {
  return x * x;
}
