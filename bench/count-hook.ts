// Micro-measurement for issue 14: what the reduction budget's count hook (src/lua/kernel/sched.lua,
// `debug.sethook(co, budget_hook, "", HOOK_EVERY)`) costs on wasmoon's module and on ours
// (vendor/lua-wasm/lua54.wasm), interleaved, median of the rounds. Short by design (~5 s).
//
//   node dist/bench/count-hook.js [--n 4000000] [--rounds 5] [--before <lua54.wasm>]
//
// --before adds a third state on another build of our module (e.g. an older checkout's
// vendor/lua-wasm/lua54.wasm), column "before": our module before and after a change, interleaved.
//
// One Lua state per module, on the main thread. The same loop (`for i = 1, N do x = x + i end`:
// two VM instructions per iteration, OP_ADD and OP_FORLOOP; 2N instructions) runs in a coroutine
// (as a process does) with no hook, then with a count hook every K instructions for K = 1,000,000
// (hook calls negligible), 10,000 (the kernel's HOOK_EVERY), 1,000 and 100, the hook being an
// empty function or the budget hook's shape (read the process record, add K, compare). CPU time
// of the process (process.cpuUsage: the wasm runs on this thread), not wall time, so other load
// on the machine counts less.
//
// A count hook costs twice in stock Lua 5.4 (wasmoon's module): while any hook is set it calls
// luaG_traceexec before *every* instruction (the `trap` of luaV_execute), which counts down to the
// next hook call; and each hook call is a C -> Lua call of the hook function. Ours (patch 0006)
// counts in a local of luaV_execute instead, so only the hook calls remain. Derived per module:
//   per instruction (ns) = (t(K = 1M) - t(none)) / 2N
//   per hook call (µs)   = (t(K = 100) - t(K = 1M)) / (2N / 100)
//   per interval of 10,000 instructions (µs) = t(K = 10,000) - t(none), divided by 2N / 10,000
import type { BareLua } from '../test/helpers/lua-module.js';
import { luaStates, median, microArgs } from './lua-states.js';

const { n: N, rounds: ROUNDS, before: BEFORE } = microArgs(4_000_000);
const INSTR = 2 * N;

const loop = (hook: string): string => `
  local P = { red = 0, budget = math.huge }
  local K = ...
  local hooks = {
    none = false,
    empty = function() end,
    budget = function() local r = P.red + K; P.red = r; if r > P.budget then error("budget") end end,
  }
  local co = coroutine.create(function(n)
    local x = 0
    for i = 1, n do x = x + i end
    return x
  end)
  if hooks["${hook}"] then debug.sethook(co, hooks["${hook}"], "", K) end
  assert(coroutine.resume(co, ${N}))
  return "done"`;

const CASES: Array<{ name: string; hook: string; k: number }> = [
  { name: 'none', hook: 'none', k: 1 },
  { name: 'empty/1M', hook: 'empty', k: 1_000_000 },
  { name: 'empty/10k', hook: 'empty', k: 10_000 },
  { name: 'empty/1k', hook: 'empty', k: 1_000 },
  { name: 'empty/100', hook: 'empty', k: 100 },
  { name: 'budget/10k', hook: 'budget', k: 10_000 },
  { name: 'budget/100', hook: 'budget', k: 100 },
];

function cpu(lua: BareLua, c: { hook: string; k: number }): number {
  const src = loop(c.hook).replace('local K = ...', `local K = ${c.k}`);
  const t0 = process.cpuUsage();
  lua.run(src);
  const d = process.cpuUsage(t0);
  return (d.user + d.system) / 1e3; // ms
}

const states = await luaStates(BEFORE);
const kinds = Object.keys(states);
const samples: Record<string, number[]> = {};
for (const k of kinds) cpu(states[k], CASES[0]!); // warm-up
for (let r = 0; r < ROUNDS; r++) {
  for (const c of CASES) {
    const order = r % 2 === 0 ? kinds : [...kinds].reverse();
    for (const k of order) (samples[`${c.name}/${k}`] ??= []).push(cpu(states[k], c));
  }
}
const t = (name: string, k: string): number => median(samples[`${name}/${k}`]!);
console.log(`Node ${process.version}, N=${N} (${INSTR / 1e6}M instructions), rounds=${ROUNDS}; median CPU ms of the loop`);
console.log(`| case | ${kinds.join(' | ')} |`);
console.log(`|---|${kinds.map(() => '---').join('|')}|`);
for (const c of CASES) console.log(`| ${c.name} | ${kinds.map((k) => t(c.name, k).toFixed(1)).join(' | ')} |`);
console.log('');
console.log(`| derived | ${kinds.join(' | ')} |`);
console.log(`|---|${kinds.map(() => '---').join('|')}|`);
const row = (label: string, f: (k: string) => number, digits: number): void => {
  console.log(`| ${label} | ${kinds.map((k) => f(k).toFixed(digits)).join(' | ')} |`);
};
row('VM instruction, no hook (ns)', (k) => (t('none', k) * 1e6) / INSTR, 2);
row('added per instruction while a count hook is set (ns)', (k) => ((t('empty/1M', k) - t('none', k)) * 1e6) / INSTR, 2);
row('per call of an empty hook (µs)', (k) => ((t('empty/100', k) - t('empty/1M', k)) * 1e3) / (INSTR / 100), 3);
row('per call of the budget hook (µs)', (k) => ((t('budget/100', k) - t('empty/1M', k)) * 1e3) / (INSTR / 100), 3);
row('per 10,000-instruction interval, budget hook, all costs (µs)', (k) => ((t('budget/10k', k) - t('none', k)) * 1e3) / (INSTR / 10_000), 2);
row('same, as a share of the interval\'s own time (%)', (k) => ((t('budget/10k', k) - t('none', k)) / t('none', k)) * 100, 1);
for (const s of Object.values(states)) s.close();
