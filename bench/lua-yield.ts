// Micro-measurement for issue 14: a bare coroutine yield+resume from Lua on wasmoon's module and on
// ours (vendor/lua-wasm/lua54.wasm), interleaved, median of the rounds. Short by design (~2 s).
//
//   node dist/bench/lua-yield.js [--n 200000] [--rounds 5] [--before <lua54.wasm>]
//
// --before adds a state on another build of our module (column "before"), interleaved.
// --cpu times the process's CPU (process.cpuUsage: the Lua runs on this thread) instead of wall
// time: the steadier figure on a loaded machine.
//
// Cases (all inside one Lua state, timed in JS around one lua_pcallk):
//   wrap:   coroutine.wrap body `while true do coroutine.yield() end`, called N times
//   resume: coroutine.resume/yield with one value each way
//   pcall:  the yield inside pcall (a yield across a C boundary: unwinds on both modules)
//   call:   a plain Lua->C call (coroutine.isyieldable), for scale
//   wrap+hook, resume+hook: wrap and resume with the kernel's count hook set on the coroutine
//           (every 10,000 instructions, as on a host with max_reductions or a memory cap)
import type { BareLua } from '../test/helpers/lua-module.js';
import { luaStates, median, microArgs } from './lua-states.js';

const { n: N, rounds: ROUNDS, before: BEFORE, cpu: CPU } = microArgs(200_000);

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
  'wrap+hook': `local co = coroutine.create(function() while true do coroutine.yield() end end)
    debug.sethook(co, function() end, "", 10000)
    local resume = coroutine.resume
    for i = 1, N do resume(co) end`,
  'resume+hook': `local co = coroutine.create(function(x) while true do x = coroutine.yield(x) end end)
    debug.sethook(co, function() end, "", 10000)
    local resume = coroutine.resume
    for i = 1, N do resume(co, i) end`,
};

function time(lua: BareLua, src: string, n: number): number {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  lua.run(`local N = ${n}\n${src}\nreturn "done"`);
  if (CPU) { const d = process.cpuUsage(c0); return (d.user + d.system) / n; } // CPU µs per iteration
  return ((performance.now() - t0) * 1000) / n; // µs per iteration
}

const states = await luaStates(BEFORE);
const kinds = Object.keys(states);
const samples: Record<string, number[]> = {};
for (const [name, src] of Object.entries(CASES)) {
  for (const k of kinds) time(states[k]!, src, Math.min(N, 20_000)); // warm-up
  for (let r = 0; r < ROUNDS; r++) {
    const order = r % 2 === 0 ? kinds : [...kinds].reverse();
    for (const k of order) {
      const n = name === 'pcall' ? Math.max(1, N >> 3) : N;
      (samples[`${name}/${k}`] ??= []).push(time(states[k]!, src, n));
    }
  }
}
console.log(`Node ${process.version}, N=${N}, rounds=${ROUNDS} (median ${CPU ? 'CPU ' : ''}µs per iteration)`);
console.log(`| case | ${kinds.join(' | ')} | wasmoon ÷ native |`);
console.log(`|---|${kinds.map(() => '---').join('|')}|---|`);
for (const name of Object.keys(CASES)) {
  const m = (k: string): number => median(samples[`${name}/${k}`]!);
  console.log(`| ${name} | ${kinds.map((k) => m(k).toFixed(3)).join(' | ')} | ${(m('wasmoon') / m('native')).toFixed(1)}× |`);
}
for (const s of Object.values(states)) s.close();
