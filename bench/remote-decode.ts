// Micro-measurement for issue 15: the receiving side of a cross-worker message, per frame, in one
// Lua state of our module — a batch of "m" frames of the transport bench's shape (two PIDs, a
// one-letter topic, one integer payload), encoded by encode_frame, copied into the module's memory
// as a worker's input area is, and walked the two ways src/lua/kernel/frames.lua can:
//   general: decode_at makes the frame table; its kind, the TARGETED/forward/early checks and the
//            handler lookup; handlers.m reads the fields back (the loop before session 7)
//   fast:    decode_m_at returns the fields; one process lookup per run of one PID (the loop now)
// Both end in the same stub deliver_msg, so the figures are the decode and dispatch alone. CPU time
// of this process (the Lua runs on this thread), interleaved rounds; bytes allocated per frame
// with the collector stopped for one pass.
//
//   node dist/bench/remote-decode.js [--frames 4000] [--reps 50] [--rounds 5]
import { luaFactory } from '../src/lua/module.js';

const arg = (name: string, dflt: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const FRAMES = arg('frames', 4000), REPS = arg('reps', 50), ROUNDS = arg('rounds', 5);

const engine = await luaFactory('native').createEngine({ injectObjects: false, enableProxy: false });
const mod = (engine.global as unknown as { lua: { module: { _malloc(n: number): number; HEAPU8: Uint8Array } } }).lua.module;
engine.doStringSync(String.raw`
local native = assert(package.loaded["wippy.native"], "our Lua module only")
local DATA = setmetatable({}, { __mode = "k" })
C = native.codec(function(v) return DATA[v] ~= nil end, function(v) return v end, function(f) return f end, DATA)
assert(C.decode_m_at, "this build of the module has no decode_m_at")
local parts = {}
for i = 1, ${FRAMES} do parts[i] = C.encode_frame(5, "m", "{bench:peer|0x00003}", "{bench:main|0x00002}", "c", 1, i) end
BATCH = (table.concat(parts):gsub(".", function(c) return string.format("%02x", c:byte()) end))
local procs = { ["{bench:peer|0x00003}"] = { alive = true } }
local forward, TARGETED, exec_waits, early = {}, { m = true }, {}, {}
local delivered = 0
local function deliver_msg(P, topic, from, n, p) delivered = delivered + 1 end
local handlers = {}
handlers.m = function(f)
  local P = procs[f[2]]
  if P and P.alive then deliver_msg(P, f[4], f[3], f[5], f[6] or {}) end
end
local function general(addr, len)
  local pos = 1
  while pos <= len do
    local f
    f, pos = C.decode_at(addr, pos, len)
    local kind = f[1]
    local fw = TARGETED[kind] and forward[f[2]]
    if fw then error("forwarded")
    elseif TARGETED[kind] and not procs[f[2]] and not exec_waits[f[2]] then early[#early + 1] = f
    else local h = handlers[kind]; if h then h(f) end end
  end
end
local MF = { "m" }
local function fast(addr, len)
  local pos, lpid, lP = 1, nil, nil
  while pos <= len do
    local pid, from, topic, n, p, nxt = C.decode_m_at(addr, pos, len)
    pos = nxt
    local P
    if pid == lpid then P = lP else P = procs[pid]; if P and forward[pid] then P = nil end; lpid, lP = pid, P end
    MF[2] = pid
    if P.alive then deliver_msg(P, topic, from, n, p or {}) end
  end
end
function measure(which, addr, len, reps)
  local fn = which == "fast" and fast or general
  collectgarbage("collect"); collectgarbage("stop")
  local k0 = collectgarbage("count")
  fn(addr, len)
  local bytes = (collectgarbage("count") - k0) * 1024
  collectgarbage("restart")
  for _ = 1, reps do fn(addr, len) end
  return bytes
end
`);
const batch = Buffer.from(engine.doStringSync('return BATCH') as string, 'hex');
const addr = mod._malloc(batch.length);
mod.HEAPU8.set(batch, addr);
const measure = engine.global.get('measure') as (w: string, a: number, l: number, r: number) => number;
const ns: Record<string, number[]> = { general: [], fast: [] };
const bytes: Record<string, number> = {};
for (let r = 0; r < ROUNDS; r++) {
  for (const w of r % 2 ? ['fast', 'general'] : ['general', 'fast']) {
    const c0 = process.cpuUsage();
    bytes[w] = measure(w, addr, batch.length, REPS) / FRAMES;
    const d = process.cpuUsage(c0);
    ns[w]!.push((d.user + d.system) * 1000 / (FRAMES * (REPS + 1)));
  }
}
const med = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
console.log(`Node ${process.version}, ${FRAMES} frames × ${REPS + 1} passes, ${ROUNDS} rounds (CPU ns per frame: median, range)`);
for (const w of ['general', 'fast']) {
  console.log(`${w.padEnd(8)} ${med(ns[w]!).toFixed(0)} ns (${Math.min(...ns[w]!).toFixed(0)}–${Math.max(...ns[w]!).toFixed(0)}), ${bytes[w]!.toFixed(0)} bytes allocated per frame`);
}
