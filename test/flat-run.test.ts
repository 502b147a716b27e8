// A cross-worker run appended to a busy receiver's flat backlogs in C (native/lua/ldeliver.c
// luaW_flat_open/luaW_flat_put, called by lcodec.c's deliver_run) against the Lua path
// (WIPPY_CSCHED=0 on our module, and wasmoon's module). A receiver on one host listens on two raw
// topics and one Message topic and does not read; two seeded senders on another host send it a mix
// (ints, floats, strings, nil, false, tables; the raw topics, the Message topic, and a topic nobody
// listens to: the inbox), so one step's batch holds runs that switch topic, sender and value shape
// every few frames, and every message after the first of each raw topic joins that channel's
// backlog. What the C writes per message is then read back in full:
//   - the unread count: the receiver's worker reports exactly the messages sent (Runtime.stats),
//     polled with a bound (a C path that loses a count fails here with the counts, it does not hang);
//   - the sequence numbers, senders, topics and values: the receiver upgrades itself
//     (process.upgrade), which hands every unread record to the new code in arrival order (sorted
//     by the sequence number each arrival was given), and the new code reads them all from its
//     inbox: topic, sender and value of each, which must be what was sent, in send order per sender.
// The three paths must give the same records (per sender), and each must be the plan's. Twice: with
// the receiver's host at the default max_mailbox (an integer bound) and with no bound
// (max_mailbox 0: the process's bound is then math.huge, a float, which luaW_flat_open took for
// "not a bound it can check" until session 14, so every such message went to deliver instead).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { within } from './helpers/fuzz.js';
import { scenarioRuntime, main, type Scenario } from './helpers/lua-runtime.js';
import { LUA_PATHS as PATHS, onPath } from './helpers/lua-paths.js';
import type { Runtime } from '../src/index.js';

const N = 700; // messages per sender
const SENDERS = 2;
const LIMIT_MS = 60_000;

// The k-th message of sender s: topic and value (the reader makes the same to compare). Seeded.
// Integers come in every width the codec writes (positive and negative fixints, 8, 16, 32 and 64
// bits, signed and not: deliver_run decodes all but 64 bits inline), their sender in the low bit.
const PLAN = String.raw`
local function intv(s, k)
  local c, b = k % 10, s - 1
  if c == 0 then return 2 * (k % 60) + b -- positive fixint
  elseif c == 1 then return -2 * (k % 15) - 2 + b -- negative fixint (-30..-1)
  elseif c == 2 then return 128 + 2 * (k % 60) + b -- uint 8
  elseif c == 3 then return 1000 + 2 * k + b -- uint 16
  elseif c == 4 then return 100000 + 2 * k + b -- uint 32
  elseif c == 5 then return -100 + 2 * (k % 30) + b -- int 8
  elseif c == 6 then return -30000 + 2 * k + b -- int 16
  elseif c == 7 then return -3000000 + 2 * k + b -- int 32
  elseif c == 8 then return (1 << 40) + 2 * k + b -- 64 bits
  else return 4294967294 + b end -- uint 32's top
end
local function plan(s, n)
  local x, out = 7919 * s + 17, {}
  for k = 1, n do
    x = (x * 1103515245 + 12345) % 2147483648
    local r, t = x % 8, (x // 64) % 8
    local topic = t < 4 and "a" or t < 6 and "b" or t == 6 and "m" or "x" -- "x": the inbox
    local v
    if r <= 2 then v = intv(s, k)
    elseif r == 3 then v = k + s / 4
    elseif r == 4 then v = "s" .. s .. ":" .. k
    elseif r == 5 then if s == 2 then v = false end -- nil from 1
    else v = { s = s, k = k, l = { k } } end
    out[k] = { topic = topic, v = v }
  end
  return out
end
local function show(v)
  if type(v) == "table" then return "{s=" .. tostring(v.s) .. ",k=" .. tostring(v.k) .. ",l=" .. tostring(v.l and v.l[1]) .. "}" end
  if type(v) == "number" then return math.type(v) .. ":" .. tostring(v) end
  return type(v) .. ":" .. tostring(v)
end
`;

const scenarios: Scenario[] = [
  { name: 'sender', source: main(PLAN + `
    local to, s, n = ...
    process.listen("go"):receive()
    local x = s
    for k, m in ipairs(plan(s, n)) do
      local ok, e = process.send(to, m.topic, m.v)
      if not ok then error("send " .. k .. ": " .. tostring(e), 0) end
      -- now and then a pause (a sleep ends the step): the two senders' frames interleave in
      -- the receiver's batches
      x = (x * 69069 + 1) % 4294967296
      if x % 97 == 0 then time.sleep(0) end
    end
    return n`) },
  // listens, never reads; on "go2" becomes test:reader with everything it holds unread
  { name: 'receiver', source: main(`
    local total = ...
    local go2 = process.listen("go2")
    process.listen("a"); process.listen("b"); process.listen("m", { message = true })
    go2:receive() -- sent when every message has arrived
    process.upgrade("test:reader", total)`) },
  { name: 'reader', source: main(PLAN + `
    local total, senders = ...
    local inbox = process.inbox()
    local want = {}
    for s = 1, 2 do want[s] = plan(s, total // 2) end
    local at, log = { 0, 0 }, { {}, {} }
    for i = 1, total do
      local m = inbox:receive()
      local topic, from, v = m:topic(), m:from(), m:payload():data()
      local line = topic .. " " .. tostring(from) .. " " .. show(v)
      -- which sender (every value says: nil only from 1, false only from 2)
      local s
      if v == nil then s = 1 elseif v == false then s = 2
      elseif type(v) == "table" then s = v.s
      elseif math.type(v) == "integer" then s = v % 2 + 1
      elseif math.type(v) == "float" then s = math.floor((v % 1) * 4 + 0.5)
      else s = tonumber(v:sub(2, 2)) end
      local w = want[s] and want[s][at[s] + 1]
      if not w or w.topic ~= topic or show(w.v) ~= show(v) then
        error("message " .. i .. " (" .. line .. ") is not sender " .. tostring(s) .. "'s next (" ..
          (w and (w.topic .. " " .. show(w.v)) or "none") .. ")", 0)
      end
      at[s] = at[s] + 1
      log[s][at[s]] = line
    end
    -- per sender (the order between the two senders depends on their steps' timing)
    return table.concat(log[1], "\\n") .. "\\n" .. table.concat(log[2], "\\n")`) },
];


const runtimes: Runtime[] = [];
after(async () => { for (const rt of runtimes) await rt.stop(1000); });

const BOUNDS = [
  { name: 'max_mailbox 100,000', host: { workers: 1 } },
  { name: 'no max_mailbox', host: { workers: 1, max_mailbox: 0 } },
];
const logs: Record<string, string[]> = {};
for (const bound of BOUNDS) for (const path of PATHS) {
  test(`a busy receiver's backlogs filled across workers, read back in full (${path.name}, ${bound.name})`, async () => {
    const rt = await onPath(path, () => scenarioRuntime(scenarios, { extra: [
      { id: 'fr:recv', kind: 'process.host', host: bound.host },
      { id: 'fr:send', kind: 'process.host', host: { workers: 1 } },
    ] }));
    runtimes.push(rt);
    const total = N * SENDERS;
    let exit!: (v: unknown) => void;
    const done = new Promise((r) => { exit = r; });
    const recv = await rt.spawn('test:receiver', 'fr:recv', [total], (e) => exit(e.error !== undefined ? `error: ${String(e.error)}` : e.value));
    const sent = [];
    const senders = [];
    for (let s = 1; s <= SENDERS; s++) {
      let fin!: (v: unknown) => void;
      sent.push(new Promise((r) => { fin = r; }));
      senders.push(await rt.spawn('test:sender', 'fr:send', [recv, s, N], (e) => fin(e.error !== undefined ? `error: ${String(e.error)}` : e.value)));
    }
    for (const pid of senders) rt.send(pid, 'go', true);
    assert.deepEqual(await within(Promise.all(sent), LIMIT_MS, 'senders'), [N, N]);
    // every message is in the receiver's mailbox once its worker counts them all (bounded poll)
    let unread = -1;
    for (let i = 0; i < 2000; i++) {
      const w = (await rt.stats()).find((x) => x.host === 'fr:recv');
      unread = w?.mailbox.unread ?? -1;
      if (unread === total) break;
      await new Promise((r) => setTimeout(r, 5));
    }
    assert.equal(unread, total, `unread mailbox records on the receiver's worker: ${JSON.stringify((await rt.stats()).map((w) => [w.host, w.processes, w.mailbox]))}`);
    rt.send(recv, 'go2', true);
    const log = await within(done, LIMIT_MS, 'reader');
    assert.equal(typeof log, 'string', String(log));
    // the senders' PIDs, by number, so the three runtimes' logs compare
    let text = log as string;
    senders.forEach((pid, i) => { text = text.split(pid).join(`<sender ${i + 1}>`); });
    assert.equal(text.split('\n').length, total, text.slice(0, 300));
    (logs[bound.name] ??= []).push(text);
  });
}

for (const bound of BOUNDS) {
  test(`the three paths read back the same records (${bound.name})`, () => {
    const l = logs[bound.name] ?? [];
    assert.equal(l.length, PATHS.length);
    for (let i = 1; i < l.length; i++) assert.equal(l[i], l[0], `${PATHS[i]!.name} vs ${PATHS[0]!.name}`);
  });
}
