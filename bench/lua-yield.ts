// Micro-measurement for issue 14: a bare coroutine yield+resume from Lua on wasmoon's module and on
// ours (vendor/lua-wasm/lua54.wasm), interleaved, median of the rounds. Short by design (~2 s).
//
//   node dist/bench/lua-yield.js [--n 200000] [--rounds 5]
//
// Cases (all inside one Lua state, timed in JS around one lua_pcallk):
//   wrap:   coroutine.wrap body `while true do coroutine.yield() end`, called N times
//   resume: coroutine.resume/yield with one value each way
//   pcall:  the yield inside pcall (a yield across a C boundary: unwinds on both modules)
//   call:   a plain Lua->C call (coroutine.isyieldable), for scale
import { bareLua, type BareLua } from '../test/helpers/lua-module.js';

const args = process.argv.slice(2);
const opt = (name: string, dflt: number): number => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const N = opt('n', 200_000);
const ROUNDS = opt('rounds', 5);

const CASES: Record<string, string> = {
  wrap: `local co = coroutine.wrap(function() while true do coroutine.yield() end end)
    for i = 1, N do co() end`,
  resume: `local co = coroutine.create(function(x) while true do x = coroutine.yield(x) end end)
    local resume = coroutine.resume
    for i = 1, N do resume(co, i) end`,
  pcall: `local co = coroutine.wrap(function() while true do pcall(coroutine.yield) end end)
    for i = 1, N do co() end`,
  call: `local f = coroutine.isyieldable
    for i = 1, N do f() end`,
};

function time(lua: BareLua, src: string, n: number): number {
  const t0 = performance.now();
  lua.run(`local N = ${n}\n${src}\nreturn "done"`);
  return ((performance.now() - t0) * 1000) / n; // µs per iteration
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const states = { wasmoon: await bareLua('wasmoon'), native: await bareLua('native') };
const samples: Record<string, number[]> = {};
for (const [name, src] of Object.entries(CASES)) {
  for (const k of Object.keys(states)) time(states[k as keyof typeof states], src, Math.min(N, 20_000)); // warm-up
  for (let r = 0; r < ROUNDS; r++) {
    const order = r % 2 === 0 ? ['wasmoon', 'native'] : ['native', 'wasmoon'];
    for (const k of order) {
      const n = name === 'pcall' ? Math.max(1, N >> 3) : N;
      (samples[`${name}/${k}`] ??= []).push(time(states[k as keyof typeof states], src, n));
    }
  }
}
console.log(`Node ${process.version}, N=${N}, rounds=${ROUNDS} (median µs per iteration)`);
console.log('| case | wasmoon | native | wasmoon ÷ native |');
console.log('|---|---|---|---|');
for (const name of Object.keys(CASES)) {
  const w = median(samples[`${name}/wasmoon`]);
  const n = median(samples[`${name}/native`]);
  console.log(`| ${name} | ${w.toFixed(3)} | ${n.toFixed(3)} | ${(w / n).toFixed(1)}× |`);
}
for (const s of Object.values(states)) s.close();
