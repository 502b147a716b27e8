// Recycled process records (native/lua/lrecpool.h: lexit.c keeps the process record and the main
// thread's record of a process that ended after one resume, the C spawn resets and reuses them):
// a process started on a reused record must behave as a fresh one. A seeded driver churns spawns
// of every variant (plain, monitored, linked, both) of children that return at once (whose records
// are kept and reused), mixed with children that leave the kernel state a record must not carry
// into a reuse: a timer still armed at their exit (its unsubscribe comes after: rp:tick's two
// timers would see it), a registered name,
// a library loaded through `require` (a per-process `loaded`), an upgrade, an error, a sleep, a
// wait for a message ended by a send, a terminate or a cancel with a deadline, a spawn of its own,
// a yield. Every child reports what it sees of itself: its PID and entry id, its arguments, its
// globals (`pairs(_G)`, and that none is left from another process), a library's per-process
// state; the driver checks each EXIT's `from` against the PID the child reported, names PIDs by
// first appearance (PIDs appear first at their spawns, in the seeded order) and checks that a
// released name is free. The transcripts of the C (our module) and of the Lua (WIPPY_CSCHED=0: no
// C spawn or exit, no reuse) must hold the same lines (timers order some arrivals by the clock). Then
// the process table of children the driver left waiting (started on reused records in the C run)
// must show fresh figures: one run, nothing sent or received, one thread, no name.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRuntime, type Runtime } from '../src/index.js';
import { LUA_WATCHDOG } from './helpers/lua-runtime.js';
import { LUA_CHURN } from './helpers/spawn-driver.js';

const DRIVER = String.raw`
local time = require("time")
${LUA_WATCHDOG}${LUA_CHURN}local KINDS = { "rp:ret", "rp:ret", "rp:ret", "rp:lib", "rp:timer", "rp:name", "rp:err", "rp:sleep",
  "rp:wait", "rp:upg", "rp:spawner", "rp:yield", "rp:ret", "rp:lib", "rp:timer", "rp:tick", "rp:tick" }
local function main(seed, steps, left)
  process.set_options({ trap_links = true })
  local ev = process.events()
  local out = {}
  local wd = watchdog("recpool driver (seed " .. tostring(seed) .. ")")
  local name = namer()
  local function show(v) return (tostring(v):gsub("{[^}]*|0x%x+}", name)) end
  local s = seed
  local function rnd(n) s = (s * 1103515245 + 12345) % 2147483648; return (s >> 16) % n + 1 end
  local owed, waiting, mismatches, names = 0, {}, 0, {}
  local function take(e)
    local r = e.result or {}
    local line = "ev " .. e.kind .. " " .. name(e.from) .. " " .. keyset(e) .. " " .. keyset(r)
    if r.error ~= nil then line = line .. " error " .. show(r.error)
    else
      line = line .. " value " .. show(r.value)
      -- a child's own report begins with the PID it saw as its own: the EXIT's sender
      if type(r.value) == "string" and r.value:sub(1, 1) == "{" and r.value:match("^({[^}]*})") ~= e.from then
        mismatches = mismatches + 1
        line = line .. " MISMATCH"
      end
    end
    out[#out + 1] = line
    if e.kind == "pid.exit" then
      local n = names[e.from]
      if n then -- a name is released before the EXIT goes out
        out[#out + 1] = "name " .. n .. " free " .. tostring(process.registry.lookup(n) == nil)
        names[e.from] = nil
      end
    end
    owed = owed - 1
  end
  for step = 1, steps do
    local a = rnd(13)
    if a == 13 then
      -- a timer child, then at once (once its EXIT is here) a two-timer child: the second starts on
      -- the record the first left, if any, while the first's timer is still armed
      local pid = process.spawn_monitored("rp:timer", "rp:w", step)
      out[#out + 1] = "pair " .. name(pid)
      local seen
      while not seen do
        local e = wd.receive(ev, "a timer child's EXIT")
        if e.from == pid then seen = true; out[#out + 1] = "pair EXIT " .. name(e.from)
        else take(e) end
      end
      pid = process.spawn_monitored("rp:tick", "rp:w", step)
      out[#out + 1] = "pair tick " .. name(pid)
      owed = owed + 1
    elseif a <= 7 then
      local kind = KINDS[rnd(#KINDS)]
      local v = rnd(4)
      local fn, mon, link = variant(v)
      local n = rnd(3) - 1
      local args = {}
      for i = 1, n do args[i] = rnd(2) == 1 and (step * 10 + i) or ("s" .. step) end
      if kind == "rp:name" then n = 1; args[1] = "rpn" .. step end
      local pid, err = fn(kind, "rp:w", table.unpack(args, 1, n))
      out[#out + 1] = "spawn " .. kind .. " v" .. v .. " n" .. n .. " -> " .. (pid and name(pid) or ("err " .. show(err)))
      if pid then
        if kind == "rp:name" and mon then names[pid] = args[1] end
        if kind == "rp:wait" then waiting[#waiting + 1] = { pid, mon, link }
        else
          if mon then owed = owed + 1 end
          if link and kind == "rp:err" then owed = owed + 1 end
        end
      end
    elseif a == 8 and #waiting > 0 then -- released with a message: it returns it
      local w = table.remove(waiting, rnd(#waiting))
      out[#out + 1] = "send " .. name(w[1]) .. " " .. tostring(process.send(w[1], "go", "m" .. step))
      if w[2] then owed = owed + 1 end
    elseif a == 9 and #waiting > 0 then -- terminated, or cancelled with a deadline (then terminated)
      local w = table.remove(waiting, rnd(#waiting))
      if rnd(2) == 1 then out[#out + 1] = "terminate " .. name(w[1]) .. " " .. tostring(process.terminate(w[1]))
      else out[#out + 1] = "cancel " .. name(w[1]) .. " " .. tostring(process.cancel(w[1], "5ms")) end
      if w[2] then owed = owed + 1 end
      if w[3] then owed = owed + 1 end
    elseif a == 10 then
      coroutine.yield()
    elseif a == 11 and owed > 0 then
      take(wd.receive(ev, function() return owed .. " events owed at step " .. step end))
    else
      drain(ev, take)
    end
  end
  owed = owed + release(waiting)
  while owed > 0 do take(wd.receive(ev, function() return owed .. " events owed at the end" end)) end
  -- children left waiting (the test reads their rows in the process table): started after the
  -- churn's exits, on the records those left; they run (and park) before the driver goes on
  local keep = {}
  for i = 1, left do keep[i] = process.spawn("rp:wait", "rp:w", i) end
  coroutine.yield()
  out[#out + 1] = "left " .. tostring(channel.select({ ev:case_receive() }, true).default)
  out[#out + 1] = "mismatches " .. mismatches
  return { log = table.concat(out, "\n"), keep = keep }
end
return { main = main }`;

// what a child reports of itself: "<pid> <id> <args> G=<its globals' keys> <checks>"
const SELF = String.raw`
local fresh = rawget(_G, "mark") == nil and rawget(_G, "seen") == nil
seen = true
local function report(...)
  local parts = { process.pid(), process.id(), tostring(select("#", ...)) }
  for i = 1, select("#", ...) do parts[#parts + 1] = tostring((select(i, ...))) end
  local keys = {}
  for k in pairs(_G) do keys[#keys + 1] = tostring(k) end
  table.sort(keys)
  parts[#parts + 1] = "G=" .. table.concat(keys, ",")
  parts[#parts + 1] = "fresh=" .. tostring(fresh and mark == nil)
  mark = process.pid()
  return table.concat(parts, " ")
end
`;
const child = (id: string, body: string, extra: Record<string, unknown> = {}): Record<string, unknown> =>
  ({ id, kind: 'process.lua', method: 'main', source: `${SELF}${body}`, modules: ['time'], ...extra });

const ENTRIES: Array<Record<string, unknown>> = [
  { id: 'rp:w', kind: 'process.host', host: { workers: 1, crash_reports: false } },
  { id: 'rp:driver', kind: 'process.lua', method: 'main', source: DRIVER, modules: ['time'] },
  { id: 'rp:counter', kind: 'library.lua', source: 'local M = { n = 0 }\nfunction M.bump() M.n = M.n + 1; return M.n end\nreturn M' },
  child('rp:ret', 'return { main = function(...) return report(...) end }'),
  child('rp:lib', 'local c = require("counter")\nreturn { main = function(...) return report(...) .. " lib=" .. c.bump() .. "," .. c.bump() end }',
    { imports: { counter: 'rp:counter' } }),
  child('rp:timer', 'local time = require("time")\nreturn { main = function(...) time.after("3ms"); return report(...) end }'),
  // two timers waited for in turn: a subscription count of its own (a stale unsubscribe from a
  // record's former process, rp:timer's, would end it as deadlocked at its second wait)
  child('rp:tick', 'local time = require("time")\nreturn { main = function(...) local a, b = time.after("4ms"), time.after("8ms"); a:receive(); b:receive(); return report(...) end }'),
  child('rp:name', 'return { main = function(n) assert(process.registry.register(n)); return report(n) end }'),
  child('rp:err', 'return { main = function(...) error("failed " .. report(...), 0) end }'),
  child('rp:sleep', 'local time = require("time")\nreturn { main = function(...) time.sleep("1ms"); return report(...) end }'),
  child('rp:wait', 'return { main = function(...) local m = process.inbox():receive(); return report(m:payload():data()) end }'),
  child('rp:upg', 'return { main = function(...) process.upgrade("rp:ret", "upgraded", ...) end }'),
  child('rp:spawner', 'return { main = function(...) process.spawn_monitored("rp:ret", "rp:w", "inner"); return report(...) end }'),
  child('rp:yield', 'return { main = function(...) coroutine.yield(); return report(...) end }'),
];

after(() => { delete process.env.WIPPY_CSCHED; });

interface Run { log: string; rows: Array<Record<string, unknown>>; keep: string[] }

async function run(lua: boolean, seed: number, steps: number, left: number): Promise<Run> {
  const prev = process.env.WIPPY_CSCHED;
  if (lua) process.env.WIPPY_CSCHED = '0';
  let rt: Runtime | undefined;
  try {
    rt = await createRuntime({ workers: 1, entries: ENTRIES });
    const r = (await rt.exec('rp:driver', [seed, steps, left], { host: 'rp:w' })) as { log: string; keep?: string[] };
    const keep = r.keep ?? [];
    const stats = await rt.stats({ table: { limit: 0, sort: 'runs' } });
    const rows = stats.flatMap((w) => (w.table ?? []) as unknown as Array<Record<string, unknown>>)
      .filter((row) => keep.includes(row.pid as string));
    return { log: r.log, rows, keep };
  } finally {
    if (prev === undefined) delete process.env.WIPPY_CSCHED; else process.env.WIPPY_CSCHED = prev;
    await rt?.stop(1000);
  }
}

for (const seed of (process.env.RP_SEEDS ?? "1,5,34").split(",").map(Number)) {
  test(`seeded churn on reused records (seed ${seed}): every EXIT from its own process, fresh state, the C's transcript the Lua's`, async () => {
    const c = await run(false, seed, 400, 6);
    const l = await run(true, seed, 400, 6);
    const log = c.log;
    for (const want of ['spawn rp:ret v1', ' v2 ', ' v3 ', ' v4 ', 'ev pid.exit', 'ev pid.link.down', 'lib=1,2',
      'rp:timer', 'rp:tick', 'pair tick', 'name rpn', ' free true', 'upgraded', 'error failed', 'send ', 'terminate ', 'cancel ',
      'fresh=true', 'G=_G,require', 'mismatches 0', 'left true']) {
      assert.ok(log.includes(want), `the transcript shows "${want}"\n${log}`);
    }
    assert.ok(!log.includes('fresh=false'), 'no process sees another\'s globals');
    assert.ok(!log.includes('deadlock'), 'no process is ended by another\'s timer');
    assert.ok(!log.includes('MISMATCH'), 'every EXIT comes from the process that reported it');
    assert.ok(!log.includes(' free false'), 'a name is free once its holder\'s EXIT is out');
    assert.ok(!/lib=(?!1,2)/.test(log), 'a library loads afresh in every process');
    // the same lines (timers and a cancel's deadline order some events by the clock: the order of
    // arrival is not compared, every line is)
    const lines = (t: string): string[] => t.split('\n').sort();
    assert.ok(lines(log).length > 300, `a transcript of ${lines(log).length} lines`);
    assert.deepEqual(lines(c.log), lines(l.log));
    // the children left waiting: each row a fresh process's (one run, then parked on its inbox)
    assert.ok(c.keep.length > 0, 'children were left waiting');
    assert.equal(c.rows.length, c.keep.length);
    for (const rows of [c.rows, l.rows]) {
      for (const row of rows) {
        assert.equal(row.runs, 1, `${JSON.stringify(row)}`);
        assert.equal(row.sent, 0);
        assert.equal(row.received, 0);
        assert.equal(row.unread, 0);
        assert.equal(row.threads, 1);
        assert.equal(row.name, '');
        assert.equal(row.entry, 'rp:wait');
        assert.equal(row.status, 'wait');
      }
    }
  });
}
