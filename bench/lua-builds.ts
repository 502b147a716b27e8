// Micro-measurement for the module's build flags (docs/design/native-core.md, "Build flags"):
// fixed Lua workloads on several builds of our module side by side, interleaved, CPU time.
//
//   node dist/bench/lua-builds.js NAME=path/lua54.wasm [NAME=path ...] [--n 50000] [--rounds 7]
//                                 [--only pingpong,fanin,...]
//
// Each NAME=path is a bare Lua state (standard libraries only, test/helpers/lua-module.ts) on that
// build of our module, on this thread; no NAME=path means this checkout's vendor/lua-wasm/lua54.wasm
// alone. Every workload runs once per state to warm up (the wasm tiers up), then `rounds` times per
// state, the order of the states reversed on odd rounds; reported: the median CPU µs per iteration
// (process.cpuUsage: the wasm runs on this thread, so other load on the machine counts less than
// in wall time). For a load-free figure run one workload of one state under valgrind
// (`valgrind --tool=cachegrind --cache-sim=no node dist/bench/lua-builds.js --rounds 1 --n N
// --only W NAME=path`) at two values of N and divide the difference of the instruction counts
// by the difference of the iterations (each run does min(N, 20,000) warm-up iterations plus N).
//
// The workloads are the kernel's shapes in plain Lua, so they measure how the build runs the VM,
// the collector, the allocator and coroutine switches, not the kernel itself (bench/ab.ts does):
//   pingpong  two coroutines exchange messages through mailbox tables and a run queue (an
//             iteration: one message sent, queued, received, one resume)
//   fanin     100 senders to one receiver, each sender yielding every 8 sends (an iteration: a message)
//   spawn     a coroutine and a small record per iteration, run to its end and dropped
//   vm        arithmetic, field reads and a Lua call (10 loop turns per iteration)
//   str       string.format and table.concat
import { parseArgs } from 'node:util';
import { bareLua, type BareLua } from '../test/helpers/lua-module.js';
import { NATIVE_WASM } from '../src/lua/module.js';
import { median } from './lua-states.js';

// The scheduler shape pingpong and fanin share: a run queue of records, a mailbox per record.
const SCHED = `
local create, resume, yield, status = coroutine.create, coroutine.resume, coroutine.yield, coroutine.status
local runq, head, tail = {}, 1, 0
local procs = {}
local function ready(p) if not p.queued then p.queued = true; tail = tail + 1; runq[tail] = p end end
local function send(to, body)
  local p = procs[to]; local mb = p.mb
  mb.n = mb.n + 1; mb[mb.n] = { from = 0, body = body }
  if p.waiting then p.waiting = false; ready(p) end
end
local function receive(p)
  local mb = p.mb
  while mb.i > mb.n do p.waiting = true; yield("recv") end
  local m = mb[mb.i]; mb[mb.i] = nil; mb.i = mb.i + 1
  return m
end
local function proc(id) return { id = id, mb = { i = 1, n = 0 }, queued = false, waiting = false } end
local function loop()
  while head <= tail do
    local p = runq[head]; runq[head] = nil; head = head + 1; p.queued = false
    if status(p.co) ~= "dead" then local ok, e = resume(p.co); if not ok then error(e) end end
  end
end
`;

export const WORKLOADS: Record<string, string> = {
  pingpong: SCHED + `
for id = 1, 2 do
  local p = proc(id)
  p.co = create(function()
    local other = 3 - id
    if id == 1 then send(other, { kind = "ping", n = 0 }) end
    while true do
      local m = receive(p); local n = m.body.n + 1
      if n >= N then return end
      send(other, { kind = "ping", n = n })
    end
  end)
  procs[id] = p; ready(p)
end
loop()`,
  fanin: SCHED + `
local S, total = 100, 0
local rp = proc(0)
rp.co = create(function() while true do total = total + receive(rp).body.v end end)
procs[0] = rp; ready(rp)
for id = 1, S do
  local p = proc(id)
  p.co = create(function()
    for k = 1, N // S do send(0, { v = k, tag = "x" }); if k % 8 == 0 then ready(p); yield("y") end end
  end)
  procs[id] = p; ready(p)
end
loop()`,
  spawn: `local create, resume = coroutine.create, coroutine.resume
local reg = {}
for i = 1, N do
  local rec = { id = i, links = {}, mb = { i = 1, n = 0 } }; reg[i] = rec
  rec.co = create(function(x) return x + 1 end); resume(rec.co, i); reg[i] = nil
end`,
  vm: `local t = { a = 1, b = 2, c = "x" }
local function f(x, y) return x * 2 + y end
local s = 0
for i = 1, N * 10 do s = f(s % 1000, t.a) + t.b; if i % 100 == 0 then t.c = t.c .. "" end end`,
  str: `local parts = {}
for i = 1, N do
  parts[#parts + 1] = string.format("%d:%s", i, "k")
  if #parts > 64 then table.concat(parts, ","); parts = {} end
end`,
};

const { values, positionals } = parseArgs({ allowPositionals: true, options: {
  n: { type: 'string', default: '50000' }, rounds: { type: 'string', default: '7' }, only: { type: 'string' },
} });
const N = Number(values.n);
const ROUNDS = Number(values.rounds);
if (!Number.isInteger(N) || N < 100) throw new Error(`--n must be an integer ≥ 100, got ${values.n}`);
if (!Number.isInteger(ROUNDS) || ROUNDS < 1) throw new Error(`--rounds must be a positive integer, got ${values.rounds}`);
const names = values.only ? values.only.split(',').map((s) => s.trim()) : Object.keys(WORKLOADS);
for (const w of names) if (!(w in WORKLOADS)) throw new Error(`unknown workload ${w}: ${Object.keys(WORKLOADS).join(', ')}`);
const builds = positionals.length > 0 ? positionals : [`native=${NATIVE_WASM}`];

const states: Record<string, BareLua> = {};
for (const b of builds) {
  const eq = b.indexOf('=');
  if (eq <= 0) throw new Error(`${b}: expected NAME=path/lua54.wasm`);
  states[b.slice(0, eq)] = await bareLua('native', b.slice(eq + 1));
}
const kinds = Object.keys(states);

/** CPU µs per iteration of workload `w` with N = n on `lua`. */
function cpu(lua: BareLua, w: string, n: number): number {
  const c0 = process.cpuUsage();
  lua.run(`local N = ${n}\n${WORKLOADS[w]}\nreturn "done"`);
  const d = process.cpuUsage(c0);
  return (d.user + d.system) / n;
}

const samples: Record<string, number[]> = {};
for (const w of names) for (const k of kinds) cpu(states[k]!, w, Math.min(N, 20_000)); // warm-up
for (let r = 0; r < ROUNDS; r++) {
  const order = r % 2 === 0 ? kinds : [...kinds].reverse();
  for (const w of names) for (const k of order) (samples[`${w}/${k}`] ??= []).push(cpu(states[k]!, w, N));
}
console.log(`Node ${process.version}, N=${N}, rounds=${ROUNDS} (median CPU µs per iteration)`);
console.log(`| workload | ${kinds.join(' | ')} |`);
console.log(`|---|${kinds.map(() => '---:').join('|')}|`);
for (const w of names) console.log(`| ${w} | ${kinds.map((k) => median(samples[`${w}/${k}`]!).toFixed(3)).join(' | ')} |`);
for (const s of Object.values(states)) s.close();
