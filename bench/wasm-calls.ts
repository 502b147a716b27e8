// WebAssembly call throughput from JS through WasmFunctions, a small standalone measurement
// (`npm run bench` has the calls from Lua and process.wasm spawns: bench/wasm.ts):
//
//   node dist/bench/wasm-calls.js [calls]      (default 2000 per variant)
//
// Variants, all calling compute(6, 7):
//   direct        WebAssembly.Instance export called from JS (the floor: no pool, no thread hop)
//   inline core   function.wat-style core module, pool type inline (1 thread, new instance per call)
//   lazy core     core module, pool type lazy (instance reused), calls one at a time
//   lazy core x8  the same with 8 calls in flight (threads up to max_size 2)
//   lazy comp     the calc component (jco bindings), instance reused
import path from 'node:path';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { createRegistry } from '../src/registry/registry.js';
import { WasmFunctions } from '../src/wasm/functions.js';

const N = Number(process.argv[2] ?? 2000);
const ROOT = path.resolve('test/fixtures/wasm');
const MANIFEST = JSON.parse(readFileSync(path.join(ROOT, 'manifest.json'), 'utf8')) as Record<string, string>;
const core = (pool: Record<string, unknown>) => ({
  kind: 'function.wasm', fs: 'b:bin', path: '/core-math.wasm', hash: MANIFEST['core-math.wasm'], method: 'compute',
  wit: 'compute: func(a: s32, b: s32) -> s32;', pool,
});
const reg = createRegistry([
  { id: 'b:bin', kind: 'fs.directory', directory: 'wasm' },
  { id: 'b:inline', ...core({ type: 'inline' }) },
  { id: 'b:lazy', ...core({ type: 'lazy', max_size: 2 }) },
  { id: 'b:comp', kind: 'function.wasm', fs: 'b:bin', path: '/calc.wasm', hash: MANIFEST['calc.wasm'], method: 'compute', pool: { type: 'lazy', max_size: 2 } },
], { root: ROOT });
const wasm = new WasmFunctions(reg);

async function measure(name: string, fn: () => Promise<unknown> | unknown, inFlight = 1): Promise<void> {
  for (let i = 0; i < 50; i++) await fn(); // warm: threads started, instances made
  const t0 = performance.now();
  let next = 0;
  await Promise.all(Array.from({ length: inFlight }, async () => {
    while (next++ < N) await fn();
  }));
  const ms = performance.now() - t0;
  console.log(`${name.padEnd(14)} ${String(Math.round((N / ms) * 1000)).padStart(9)} calls/s  (${N} calls, ${ms.toFixed(0)} ms)`);
}

const inst = new WebAssembly.Instance(new WebAssembly.Module(readFileSync(path.join(ROOT, 'wasm/core-math.wasm'))), {});
const compute = inst.exports.compute as (a: number, b: number) => number;
let sink = 0;
await measure('direct', () => { sink += compute(6, 7); });
await measure('inline core', () => wasm.call('b:inline', [6, 7]));
await measure('lazy core', () => wasm.call('b:lazy', [6, 7]));
await measure('lazy core x8', () => wasm.call('b:lazy', [6, 7]), 8);
await measure('lazy comp', () => wasm.call('b:comp', [6, 7]));
await wasm.close();
if (sink === 0) console.log('');
