// The seeded spawn driver of the C spawn's differential tests (test/native-spawn.test.ts on one
// worker, test/native-spawn-multi.test.ts on two): spawns of every variant with 0-3 arguments of
// children of every outcome, sends, kills, yields, blocking and non-blocking receives of the
// driver's events; its transcript names PIDs by first appearance. CHILDREN: the driver's and its
// children's entries (ns:*), to which a test adds its hosts; SHOWN: what a transcript must contain.
import { createRuntime, type Runtime } from '../../src/index.js';
import { LUA_WATCHDOG } from './lua-runtime.js';
/** Lua shared by the seeded drivers (this one, test/native-recpool.test.ts): namer() -> name(pid),
 * "#i" by first appearance; keyset(t): a table's keys in order, each with its value's type (an
 * event's, its result's: what a receiver can walk), "-" for no table; variant(v) -> the spawn
 * function of variant v (1 plain, 2 monitored, 3 linked, 4 both), monitored, linked; drain(ev, take) hands what
 * has arrived on ev to take without waiting; release(waiting) sends every waiting child
 * ({ pid, monitored, linked }) its message and returns how many EXITs that owes. */
export const LUA_CHURN = String.raw`local function namer()
  local idx, nidx = {}, 0
  return function(pid)
    if pid == nil then return "nil" end
    local i = idx[pid]
    if not i then nidx = nidx + 1; idx[pid] = nidx; i = nidx end
    return "#" .. i
  end
end
local function keyset(t)
  if type(t) ~= "table" then return "-" end
  local keys = {}
  for k, v in pairs(t) do keys[#keys + 1] = tostring(k) .. ":" .. type(v) end
  table.sort(keys)
  return #keys == 0 and "{}" or table.concat(keys, ",")
end
local function variant(v)
  local fn = v == 1 and process.spawn or v == 2 and process.spawn_monitored
    or v == 3 and process.spawn_linked or process.spawn_linked_monitored
  return fn, v == 2 or v == 4, v == 3 or v == 4
end
local function drain(ev, take)
  while true do
    local r = channel.select({ ev:case_receive() }, true)
    if r.default then return end
    take(r.value)
  end
end
local function release(waiting)
  local n = 0
  for _, w in ipairs(waiting) do
    process.send(w[1], "go", "end")
    if w[2] then n = n + 1 end
  end
  return n
end
`;
export const DRIVER = String.raw`
local time = require("time")
${LUA_WATCHDOG}${LUA_CHURN}local KINDS = { "ns:ret", "ns:nil", "ns:tbl", "ns:two", "ns:err", "ns:toperr", "ns:yieldtop",
  "ns:nomethod", "ns:wait", "ns:nested", "ns:ret", "ns:ret" }
local FAILS = { ["ns:err"] = true, ["ns:two"] = true } -- an error exit (LINK_DOWN to a link)
-- multi: a host of several workers, where a spawn of an entry that instantiated once is queued and
-- its module runs in the step's loop, so a module that yields at its top level fails there
local function main(seed, steps, host, multi)
  -- on native-spawn.test.ts's ns:b host (a budget of 5M instructions) KINDS's last ns:ret is an
  -- ns:spin instead, which runs ~6M instructions without yielding: an error exit by the count
  -- hook, which must be on its coroutine, new (made by a hooked spawner: lua_newthread copies its
  -- hook) or reused (its own, its count restarted by the spawn's set) (the other hosts' seeded
  -- sequences are left as they were)
  local spins = host == "ns:b"
  FAILS["ns:spin"] = spins
  local started = {}
  process.set_options({ trap_links = true })
  local ev = process.events()
  local out = {}
  -- bounded waits for the events owed (an EXIT or LINK_DOWN that never comes fails, named)
  local wd = watchdog("spawn driver (seed " .. tostring(seed) .. ")")
  local name = namer()
  local function show(v)
    local t = type(v)
    if t == "table" then
      local keys = {}
      for k in pairs(v) do keys[#keys + 1] = tostring(k) end
      table.sort(keys)
      local parts = {}
      for _, k in ipairs(keys) do parts[#parts + 1] = k .. "=" .. show(v[k] == nil and v[tonumber(k)] or v[k]) end
      return "{" .. table.concat(parts, ",") .. "}"
    end
    if t == "string" then return (v:gsub("{[^}]*|0x%x+}", name)) end
    return tostring(v)
  end
  local function showres(r)
    if r == nil then return "-" end
    if r.error ~= nil then return "error " .. show(tostring(r.error)) end
    return "value " .. show(r.value) .. (r.values and (" values " .. show(r.values)) or "")
  end
  local s = seed
  local function rnd(n) s = (s * 1103515245 + 12345) % 2147483648; return (s >> 16) % n + 1 end
  local owed = 0     -- events certain to come (their children end by themselves, or were told to)
  local waiting = {} -- { pid, monitored, linked } of "ns:wait" children not yet released
  local function take(e)
    out[#out + 1] = "ev " .. e.kind .. " " .. name(e.from) .. " " .. showres(e.result)
      .. " " .. keyset(e) .. " " .. keyset(e.result)
    owed = owed - 1
  end
  for step = 1, steps do
    local a = rnd(12)
    if a <= 7 then
      local ki = rnd(#KINDS)
      local kind = spins and ki == #KINDS and "ns:spin" or KINDS[ki]
      local v = rnd(4)
      local fn, mon, link = variant(v)
      local n = rnd(4) - 1
      local args = {}
      for i = 1, n do
        local r = rnd(7)
        if r == 1 then args[i] = step * 10 + i
        elseif r == 2 then args[i] = "s" .. step
        elseif r == 3 then args[i] = { k = step, list = { i, i + 1 } }
        elseif r == 4 then args[i] = step % 2 == 0
        elseif r == 5 then args[i] = nil
        elseif r == 6 then args[i] = step + 0.5
        else args[i] = (step % 3 == 0) and function() end or -step end
      end
      local pid, err = fn(kind, host, table.unpack(args, 1, n))
      out[#out + 1] = "spawn " .. kind .. " v" .. v .. " n" .. n .. " -> " .. (pid and name(pid) or ("err " .. show(tostring(err))))
      if pid then
        if kind == "ns:wait" then waiting[#waiting + 1] = { pid, mon, link }
        else
          if mon then owed = owed + 1 end
          if link and (FAILS[kind] or (multi and kind == "ns:yieldtop" and started[kind])) then owed = owed + 1 end
        end
        started[kind] = true
      end
    elseif a == 8 and #waiting > 0 then -- release a waiting child with a message: it returns it
      local w = table.remove(waiting, rnd(#waiting))
      out[#out + 1] = "send " .. name(w[1]) .. " " .. tostring(process.send(w[1], "go", "m" .. step))
      if w[2] then owed = owed + 1 end
    elseif a == 9 and #waiting > 0 then -- terminate a waiting child: an error exit
      local w = table.remove(waiting, rnd(#waiting))
      out[#out + 1] = "terminate " .. name(w[1]) .. " " .. tostring(process.terminate(w[1]))
      if w[2] then owed = owed + 1 end
      if w[3] then owed = owed + 1 end
    elseif a == 10 then
      coroutine.yield() -- the children queued so far run
    elseif a == 11 and owed > 0 then
      take(wd.receive(ev, function() return owed .. " events owed at step " .. step .. "; the last of the transcript:\n" .. table.concat(out, "\n", math.max(1, #out - 20)) end))
    else -- what has arrived, without waiting
      drain(ev, take)
    end
  end
  owed = owed + release(waiting)
  while owed > 0 do take(wd.receive(ev, function() return owed .. " events owed at the end; the last of the transcript:\n" .. table.concat(out, "\n", math.max(1, #out - 20)) end)) end
  out[#out + 1] = "left " .. tostring(channel.select({ ev:case_receive() }, true).default)
  return table.concat(out, "\n")
end
return { main = main }`;

export const child = (id: string, source: string, method = 'main'): Record<string, unknown> =>
  ({ id, kind: 'process.lua', method, source, modules: ['time'] });
export const SHOW_ARGS = `local function shown(...)
  local parts = { tostring(select("#", ...)) }
  for i = 1, select("#", ...) do local v = select(i, ...); parts[#parts + 1] = type(v) == "table" and ("t" .. tostring(v.k)) or tostring(v) end
  return table.concat(parts, ":")
end
`;
export const CHILDREN: Array<Record<string, unknown>> = [
  child('ns:driver', DRIVER),
  child('ns:ret', `${SHOW_ARGS}return { main = function(...) return process.id() .. ":" .. shown(...) end }`),
  child('ns:nil', `return { main = function() end }`),
  child('ns:tbl', `return { main = function(...) return { n = select("#", ...), first = (...) } end }`),
  child('ns:two', `return { main = function() return nil, "two: failed" end }`),
  child('ns:err', `return { main = function(x) error("err child " .. (type(x) == "table" and "table" or tostring(x))) end }`),
  child('ns:toperr', `error("top-level failure")\nreturn {}`),
  child('ns:yieldtop', `${SHOW_ARGS}coroutine.yield()\nreturn { main = function(...) return "after yield " .. shown(...) end }`),
  child('ns:nomethod', `return { other = function() end }`),
  child('ns:wait', `return { main = function() local m = process.inbox():receive(); return m:payload():data() end }`),
  child('ns:spin', `return { main = function() local x = 0; for i = 1, 3000000 do x = x + i end; return x end }`),
  child('ns:nested', `return { main = function(x) local time = require("time"); process.spawn_monitored("ns:ret", process.pid():match("^{(.-)|"), x); return "nested" end }`),
];

/** JSON with object keys sorted (a Lua table's key order depends on its state's hash seed) */
export const sorted = (v: unknown): string => JSON.stringify(v, (_k, x: unknown) => (x && typeof x === 'object' && !Array.isArray(x)
  ? Object.fromEntries(Object.entries(x as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : x));

/** What every transcript shows, so that a comparison is of real work. */
export const SHOWN = ['spawn ns:ret v1', 'spawn ns:ret v2', ' v3 ', ' v4 ', 'ev pid.exit', 'ev pid.link.down',
  'err ', 'top-level failure', 'not found in module', 'after yield', 'terminate ', 'send ',
  'cannot send', 'error two: failed', 'value {first=', 'left true', 'job ns:ret -> "ns:ret:2:', 'job ns:nil -> undefined',
  'job ns:err -> error', 'value ns:ret:2:', ' at:number,from:string,kind:string,result:table value:string',
  ' at:number,from:string,kind:string,result:table value:table', ' at:number,from:string,kind:string,result:table {}'];

/** The driver's transcript and those of jobs from JS of its children, on a runtime of `workers` (the
 * Lua paths alone with `lua`: WIPPY_CSCHED=0). */
export async function transcript(entries: Array<Record<string, unknown>>, workers: number, lua: boolean, seed: number,
  steps: number, host: string): Promise<string> {
  const prev = process.env.WIPPY_CSCHED;
  if (lua) process.env.WIPPY_CSCHED = '0';
  let rt: Runtime | undefined;
  try {
    rt = await createRuntime({ workers, entries });
    const driven = (await rt.exec('ns:driver', [seed, steps, host, workers > 1], { host })) as string;
    // jobs from JS: their exits go to a JS exit watcher (one "jx" frame each)
    const jobs: string[] = [];
    for (const [id, args] of [['ns:ret', [seed, 'x']], ['ns:nil', []], ['ns:tbl', [1, 2]], ['ns:err', [seed]],
      ['ns:two', []], ['ns:ret', []], ['ns:toperr', []]] as const) {
      try { jobs.push(`job ${id} -> ${sorted(await rt.exec(id, [...args], { host }))}`); }
      catch (e) { jobs.push(`job ${id} -> error ${(e as Error).message}`); }
    }
    return `${driven}\n${jobs.join('\n')}`;
  } finally {
    if (prev === undefined) delete process.env.WIPPY_CSCHED; else process.env.WIPPY_CSCHED = prev;
    await rt?.stop(1000);
  }
}

