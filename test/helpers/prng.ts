// mulberry32: a tiny seeded PRNG, uniform in [0, 1). Its own module so that worker entry files
// (ring-worker.ts, endpoint-worker.ts, which dispatch on workerData as they load) can share it.
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
