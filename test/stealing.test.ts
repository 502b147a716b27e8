// Work stealing / sharing: processes spawned on one worker that have not run yet move to an idle
// worker of the same host, and messages sent to them before and after the move arrive in order.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRuntime } from '../src/index.js';

const CHILD = `return { main = function()
  local inbox = process.inbox()
  local expect = 1
  while true do
    local m = inbox:receive()
    if m:topic() == "go" then return expect - 1 end
    local v = m:payload():data()
    if v ~= expect then error("out of order: got " .. tostring(v) .. ", expected " .. expect) end
    expect = expect + 1
  end
end }`;

const COORD = `local time = require("time")
return { main = function(k, n)
  assert(process.registry.register("coord"))
  local ev = process.events()
  local kids = {}
  for i = 1, k do kids[i] = process.spawn_monitored("w:child", "w:p") end
  for s = 1, n // 2 do for i = 1, k do process.send(kids[i], "seq", s) end end
  -- a long resume marks this worker busy (only busy workers give work away)
  local x = 0
  for i = 1, 3000000 do x = x + i % 3 end
  -- blocking here ends this resume: the unstarted children are shared with the idle worker
  process.inbox():receive() -- "go" from the test, once it has seen both workers busy
  for s = n // 2 + 1, n do for i = 1, k do process.send(kids[i], "seq", s) end end
  for i = 1, k do process.send(kids[i], "go") end
  local total = 0
  for i = 1, k do
    local e = ev:receive()
    if e.result.error then error(e.result.error) end
    total = total + e.result.value
  end
  return total
end }`;

test('a busy worker shares unstarted processes with an idle one; per-sender order survives the move', async () => {
  const rt = await createRuntime({ entries: [
    { id: 'w:p', kind: 'process.host', host: { workers: 2 } },
    { id: 'w:child', kind: 'process.lua', method: 'main', source: CHILD },
    { id: 'w:coord', kind: 'process.lua', method: 'main', modules: ['time'], source: COORD },
  ] });
  try {
    const k = 8, n = 40;
    const done = rt.exec('w:coord', [k, n], { host: 'w:p' });
    let spread = false;
    for (let i = 0; i < 200 && !spread; i++) {
      await new Promise((r) => setTimeout(r, 5));
      const st = await rt.stats();
      spread = rt.lookup('coord') !== undefined && st.every((s) => s.processes > 0) && st.reduce((a, s) => a + s.processes, 0) === k + 1;
    }
    assert.ok(spread, `children spread over both workers: ${JSON.stringify(await rt.stats())}`);
    rt.send('coord', 'go');
    assert.equal(await done, k * n, 'every message arrived, in order');
  } finally {
    await rt.stop(1000);
  }
});
