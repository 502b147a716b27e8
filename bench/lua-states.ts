// What the Lua-module micro-benchmarks (bench/lua-yield.ts, bench/count-hook.ts) share: their
// command line (--n, --rounds, --before <lua54.wasm>, --cpu), parsed by node:util's parseArgs,
// and the bare Lua states they time side by side — wasmoon's module, optionally another build of
// ours ("before", e.g. an older checkout's vendor/lua-wasm/lua54.wasm), and ours, in that column
// order.
import { parseArgs } from 'node:util';
import { bareLua, type BareLua } from '../test/helpers/lua-module.js';

export interface MicroArgs { n: number; rounds: number; before?: string; cpu: boolean }

/** The micro-benchmark's arguments; `n` defaults to `defaultN`, rounds to 5. */
export function microArgs(defaultN: number): MicroArgs {
  const { values } = parseArgs({ options: {
    n: { type: 'string' }, rounds: { type: 'string' }, before: { type: 'string' }, cpu: { type: 'boolean', default: false },
  } });
  const int = (name: string, v: string | undefined, dflt: number): number => {
    const x = v === undefined ? dflt : Number(v);
    if (!Number.isInteger(x) || x < 1) throw new Error(`--${name} must be a positive integer, got ${v}`);
    return x;
  };
  return { n: int('n', values.n, defaultN), rounds: int('rounds', values.rounds, 5), before: values.before, cpu: values.cpu ?? false };
}

/** One bare state per column: wasmoon, before (when given), native. Close them with closeStates. */
export async function luaStates(before?: string): Promise<Record<string, BareLua>> {
  const states: Record<string, BareLua> = { wasmoon: await bareLua('wasmoon') };
  if (before) states.before = await bareLua('native', before);
  states.native = await bareLua('native');
  return states;
}

export const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
