// Fuzzing the arguments of every process.*, channel.* and time.* function (and the methods of the
// objects they return: spawners, channels, timers, time values) from a Lua process on a 2-worker
// host. Each run is one batch process making generated calls, each in its own coroutine under
// pcall, all at once; the batch then waits (bounded) for them to finish.
//
// Property: every call returns (a value, or nil + error) or raises a Lua error the caller catches;
// a call may stay blocked only where blocking is its job (sleep, receive, select, exec); the batch
// process itself ends normally (no kernel fault took it); and afterwards a probe process on each
// worker still runs to the end.
//
// Sizes: WIPPY_FUZZ_RUNS multiplies the case counts (test/helpers/fuzz.ts).
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { fuzzParams, stopRuntime } from './helpers/fuzz.js';
import { fuzzRuntime, HOST, type FuzzRuntime } from './helpers/fuzz-runtime.js';
import { dataDesc, scalarDesc, unsendableDesc, metaDesc, intDesc, floatDesc, strDesc, type Desc } from './helpers/gen-lua.js';

const API_ARGS = `
local victims, dead
local function api_arg(d)
  local tag = d[1]
  if tag == "pid" then
    if d[2] == "self" then return process.pid() end
    if d[2] == "victim" then return victims[1] end
    if d[2] == "victim2" then return victims[2] end
    if d[2] == "dead" then return dead end
    return d[2]
  elseif tag == "lit" then return d[2]
  elseif tag == "chan" then local c = channel.new(2); c:send(1); return c
  elseif tag == "chan_closed" then local c = channel.new(); c:close(); return c
  elseif tag == "case" then local c = channel.new(1); c:send(1); return c:case_receive()
  elseif tag == "cases" then
    local c = channel.new(1); c:send(1)
    return { c:case_receive(), channel.new(1):case_send(2), default = true }
  elseif tag == "spawner" then return process.with_context({ k = "v" })
  elseif tag == "inbox" then return process.inbox()
  elseif tag == "events" then return process.events()
  elseif tag == "timev" then return time.now()
  elseif tag == "dur" then return time.parse_duration("1ms")
  elseif tag == "timer" then return time.timer("1h")
  elseif tag == "huge" then return string.rep("x", d[2])
  end
  return build(d)
end

local ch0, sp0, tv0, tm0, tk0 = channel.new(1), nil, time.now(), time.timer("1h"), time.ticker("1h")
local F = {}
for _, n in ipairs({ "send", "spawn", "spawn_monitored", "spawn_linked", "spawn_linked_monitored", "terminate",
  "cancel", "monitor", "unmonitor", "link", "unlink", "listen", "unlisten", "inbox", "events", "exec",
  "with_context", "with_options", "set_options", "get_options", "receive", "pid", "id" }) do
  F["process." .. n] = process[n]
end
for _, n in ipairs({ "register", "lookup", "unregister" }) do F["process.registry." .. n] = process.registry[n] end
for _, n in ipairs({ "new", "select" }) do F["channel." .. n] = channel[n] end
for _, n in ipairs({ "now", "unix", "date", "parse", "parse_duration", "fixed_zone", "load_location", "sleep",
  "after", "timer", "ticker" }) do
  F["time." .. n] = time[n]
end
-- methods, called with a generated self
local function methods(prefix, obj, names)
  for _, n in ipairs(names) do F[prefix .. n] = function(...) return obj[n](...) end end
end
methods("ch:", ch0, { "send", "receive", "close", "case_send", "case_receive" })
methods("timev:", tv0, { "add", "sub", "add_date", "format", "unix", "truncate", "round", "in_location" })
methods("timer:", tm0, { "stop", "reset", "channel" })
methods("ticker:", tk0, { "stop", "channel" })
function F.spawner(name, ...) -- spawner methods: first arg picks the method
  sp0 = sp0 or process.with_context({})
  local m = sp0[name]
  if m == nil then return nil, "no method" end
  return m(...)
end
`;

const BATCH = `${API_ARGS}
  local calls, wait = ...
  process.set_options({ trap_links = true })
  victims = { process.spawn("fz:echo", "${HOST}"), process.spawn("fz:echo", "${HOST}") }
  dead = process.spawn_monitored("fz:probe", "${HOST}")
  process.events():receive()
  local results, done = {}, channel.new(#calls + 1)
  for i, c in ipairs(calls) do
    results[i] = { f = c[1], outcome = "blocked" }
    coroutine.spawn(function()
      local r = results[i]
      local built = table.pack(pcall(function()
        local args = {}
        for j, d in ipairs(c[2]) do args[j] = api_arg(d) end
        return table.unpack(args, 1, #c[2])
      end))
      if not built[1] then r.outcome, r.error = "bad-args", tostring(built[2]); done:send(i); return end
      local fn = F[c[1]]
      local out = table.pack(pcall(fn, table.unpack(built, 2, built.n)))
      if out[1] then
        r.outcome, r.r1, r.r2 = "returned", type(out[2]), type(out[3])
        if out[2] == nil and out[3] ~= nil then r.error = tostring(out[3]) end
      else
        r.outcome, r.error = "raised", tostring(out[2])
      end
      done:send(i)
    end)
  end
  local deadline, left = time.after(wait), #calls
  while left > 0 do
    local s = channel.select({ done:case_receive(), deadline:case_receive() })
    if s.channel == deadline then break end
    left = left - 1
  end
  for _, v in ipairs(victims) do process.terminate(v) end
  return results`;

/** Functions whose job is to block: a call still running at the batch's deadline is fine. */
const MAY_BLOCK = new Set(['time.sleep', 'process.receive', 'channel.select', 'ch:receive', 'ch:send', 'process.exec']);

const PIDS = ['self', 'victim', 'victim2', 'dead', '{node:control|0x00001}', `{${HOST}|0xfffff0}`, '{nohost|0x00001}',
  '{|}', '{x}', '{a|b}', `{${HOST}|0x}`, '{@|0x1}', 'nobody', ''];
const ENTRIES = ['fz:probe', 'fz:crash', 'fz:nope', '', ':', 'fz:', ':x', 'x', 'fz:probe#lua.1'];
const HOSTS = [HOST, 'fz:nohost', 'node:control', '', 'x'];
const TOPICS = ['t', '', '@inbox', '@pid/events', 'back', '\u0000'];
const DURATIONS = ['1ms', '0', '-1s', '1ns', '1h', 'x', '', '1.5ms', '9999999999h'];

const tagged = (tag: string) => (v: unknown): Desc => [tag, v];
/** One argument: mostly something the function might expect, often something it should not. */
export const apiArg: fc.Arbitrary<Desc> = fc.oneof(
  { arbitrary: fc.constantFrom(...PIDS).map(tagged('pid')), weight: 3 },
  { arbitrary: fc.constantFrom(...ENTRIES, ...HOSTS, ...TOPICS, ...DURATIONS).map(tagged('lit')), weight: 4 },
  { arbitrary: fc.constantFrom<Desc>(['chan'], ['chan_closed'], ['case'], ['cases'], ['spawner'], ['inbox'], ['events'], ['timev'], ['dur'], ['timer']), weight: 2 },
  { arbitrary: fc.constantFrom('with_context', 'with_options', 'with_actor', 'with_scope', 'with_name', 'with_message', 'spawn', 'spawn_monitored', 'spawn_linked', 'exec').map(tagged('lit')), weight: 1 },
  { arbitrary: scalarDesc, weight: 3 },
  { arbitrary: fc.oneof(intDesc, floatDesc, strDesc), weight: 1 },
  { arbitrary: dataDesc, weight: 1 },
  { arbitrary: fc.oneof(unsendableDesc, metaDesc), weight: 1 },
  { arbitrary: fc.constantFrom<Desc>(['huge', 1 << 20], ['deep', 12_000]), weight: 1 },
);

const FUNCTIONS = [
  'process.send', 'process.spawn', 'process.spawn_monitored', 'process.spawn_linked', 'process.spawn_linked_monitored',
  'process.terminate', 'process.cancel', 'process.monitor', 'process.unmonitor', 'process.link', 'process.unlink',
  'process.registry.register', 'process.registry.lookup', 'process.registry.unregister', 'process.listen',
  'process.unlisten', 'process.inbox', 'process.events', 'process.exec', 'process.with_context', 'process.with_options',
  'process.set_options', 'process.get_options', 'process.receive', 'process.pid', 'process.id',
  'spawner', 'channel.new', 'channel.select', 'ch:send', 'ch:receive', 'ch:close', 'ch:case_send', 'ch:case_receive',
  'time.now', 'time.unix', 'time.date', 'time.parse', 'time.parse_duration', 'time.fixed_zone', 'time.load_location',
  'time.sleep', 'time.after', 'time.timer', 'time.ticker',
  'timev:add', 'timev:sub', 'timev:add_date', 'timev:format', 'timev:unix', 'timev:truncate', 'timev:round', 'timev:in_location',
  'timer:stop', 'timer:reset', 'timer:channel', 'ticker:stop', 'ticker:channel',
];

/** One call: a function and up to 4 generated arguments (terminate never gets the batch's own PID). */
const apiCall: fc.Arbitrary<[string, Desc[]]> = fc
  .tuple(fc.constantFrom(...FUNCTIONS), fc.array(apiArg, { maxLength: 4 }))
  .map(([f, args]): [string, Desc[]] => [f, f === 'process.terminate' ? args.map((a) => (a[0] === 'pid' && a[1] === 'self' ? ['pid', 'victim'] : a)) : args]);

interface CallResult { f: string; outcome: string; error?: string; r1?: string; r2?: string }

// process.upgrade replaces the caller's code, so it runs in a child of its own: "go" makes the
// upgrade call; after an upgrade to itself (id nil) main runs again with the other arguments.
const UPGRADER = `${API_ARGS}
  local mode, descs = ...
  if mode ~= "go" then return "reloaded" end
  victims = { "{${HOST}|0xfffff1}", "{${HOST}|0xfffff2}" } -- no live victims: the code is replaced
  dead = victims[1]
  local args = {}
  for j, d in ipairs(descs) do args[j] = api_arg(d) end
  local ok, err = pcall(process.upgrade, table.unpack(args, 1, #descs))
  return "upgrade returned: " .. tostring(ok) .. " " .. tostring(err)`;

const EXTRA = {
  batch: BATCH,
  upgrader: UPGRADER,
  crash: 'error("boom")',
};

describe('process, channel and time functions with generated arguments', () => {
  let f: FuzzRuntime;
  before(async () => { f = await fuzzRuntime(EXTRA); });
  after(async () => { await stopRuntime(f.rt); });

  test('fuzz process api: every call returns or raises a catchable error; the workers keep serving', async () => {
    await fc.assert(fc.asyncProperty(fc.array(apiCall, { minLength: 1, maxLength: 8 }), async (calls) => {
      const e = await f.run('fz:batch', [calls, '3s'], 'api batch');
      assert.equal(e.error, undefined, `the batch process died: ${e.error?.message}\ncalls: ${JSON.stringify(calls).slice(0, 500)}`);
      const results = e.value as CallResult[];
      assert.equal(results.length, calls.length);
      results.forEach((r, i) => {
        const what = `${r.f}(${JSON.stringify(calls[i]![1]).slice(0, 300)})`;
        assert.notEqual(r.outcome, 'bad-args', `${what}: building the arguments failed: ${r.error}`);
        if (r.outcome === 'blocked') assert.ok(MAY_BLOCK.has(r.f), `${what} never returned`);
        if (r.outcome === 'raised') {
          assert.ok(r.error && r.error !== 'nil' && r.error.length > 0, `${what} raised an empty error`);
          assert.doesNotMatch(r.error, /kernel fault|attempt to (index|call|compare|perform)|bad argument #\d+ to '\?'/, `${what} raised an internal error: ${r.error}`);
        }
        if (r.outcome === 'returned' && r.error) assert.doesNotMatch(r.error, /kernel fault|attempt to (index|call)/, `${what}: ${r.error}`);
      });
      await f.probe();
    }), fuzzParams('process-api', 60));
  });

  test('fuzz process api: process.upgrade with generated arguments ends in an exit or a new code, never a stuck worker', async () => {
    const upgradeArg = fc.oneof(fc.constantFrom<Desc>(['lit', 'fz:probe'], ['lit', 'fz:crash'], ['lit', 'fz:upgrader'], ['nil']), apiArg);
    await fc.assert(fc.asyncProperty(fc.array(upgradeArg, { maxLength: 4 }), async (descs) => {
      const e = await f.run('fz:upgrader', ['go', descs], 'upgrade');
      const text = e.error?.message ?? String(e.value);
      assert.doesNotMatch(text, /kernel fault|attempt to (index|call)/, `upgrade(${JSON.stringify(descs).slice(0, 300)}): ${text}`);
      await f.probe();
    }), fuzzParams('process-upgrade', 20));
  });

  // Issue 9: a send to the control PID (the main thread's) returned true and was dropped.
  test('fuzz process api: a send to the control PID is refused with an error', async () => {
      // a live control PID: the main thread's watcher of a process spawned with an exit callback
      const watchers = (f.rt as unknown as { control: { watchers: Map<string, unknown> } }).control.watchers;
      const before = new Set(watchers.keys());
      const watched = await f.rt.spawn('fz:echo', HOST, [], () => {});
      const live = [...watchers.keys()].find((k) => !before.has(k));
      assert.ok(live, 'a control PID for the watcher');
      await fc.assert(fc.asyncProperty(fc.constantFrom(live, '{node:control|0x00000}', '{node:control|0xfffff}'), scalarDesc, async (pid, d) => {
        const e = await f.run('fz:batch', [[['process.send', [['lit', pid], ['lit', 't'], d]]], '3s'], 'send batch');
        const [r] = e.value as CallResult[];
        assert.ok(r!.outcome === 'raised' || (r!.outcome === 'returned' && r!.r1 === 'nil' && r!.error), `send(${pid}, "t", ${JSON.stringify(d)}): ${JSON.stringify(r)}`);
        await f.probe();
      }), fuzzParams('process-send-control', 6, { endOnFailure: true }));
      f.rt.send(watched, 'stop');
    });

  // Shared decision (issue 9): process.* functions given a bad destination return nil, err; today
  // terminate(nil) raises "bad argument #1 to 'terminate'".
  test('fuzz process api: terminate with a missing or non-string destination returns nil, err', async () => {
      const bad = fc.oneof(fc.constant<Desc>(['nil']), scalarDesc.filter((d) => d[0] !== 'str'), fc.constantFrom<Desc>(['chan'], ['timev'], ['fn']));
      await fc.assert(fc.asyncProperty(bad, async (d) => {
        const e = await f.run('fz:batch', [[['process.terminate', [d]]], '3s'], 'terminate batch');
        const [r] = e.value as CallResult[];
        assert.equal(r!.outcome, 'returned', `terminate(${JSON.stringify(d)}): ${r!.outcome} ${r!.error ?? ''}`);
        assert.equal(r!.r1, 'nil');
        assert.ok(r!.error, 'an error value');
      }), fuzzParams('process-terminate-bad', 10));
    });
});
