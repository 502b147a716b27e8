// Small shared pieces of the soak driver (stress/soak.ts, stress/soak-phases.ts).
export const HOSTS = ['soak:main', 'soak:side'] as const;

export const TIMEOUT = Symbol('timeout');
export function within<T>(p: Promise<T>, ms: number): Promise<T | typeof TIMEOUT> {
  let t: NodeJS.Timeout;
  return Promise.race([p, new Promise<typeof TIMEOUT>((r) => { t = setTimeout(() => r(TIMEOUT), ms); })]).finally(() => clearTimeout(t));
}
export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
