// process.upgrade: same PID, mailbox, names and monitors; nil reloads the file from disk.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRuntime } from '../src/index.js';

const V1 = `
local function main(count)
  count = count or 0
  assert(process.registry.register("counter"))
  local inbox = process.inbox()
  while true do
    local m = inbox:receive()
    local t = m:topic()
    if t == "inc" then count = count + 1
    elseif t == "reload" then process.upgrade(nil, count, m:from())
    elseif t == "get" then process.send(m:from(), "count", { v = 1, count = count })
    end
  end
end
return { main = main }
`;
const V2 = `
local function main(count, reloader)
  -- version 2: the same PID, names and mailbox; counts by ten
  local inbox = process.inbox()
  process.send(reloader, "reloaded", process.pid())
  while true do
    local m = inbox:receive()
    local t = m:topic()
    if t == "inc" then count = count + 10
    elseif t == "get" then process.send(m:from(), "count", { v = 2, count = count })
    elseif t == "stop" then return count
    end
  end
end
return { main = main }
`;

test('upgrade keeps pid, names, monitors and queued messages, and reloads code from disk', async () => {
  const root = mkdtempSync(join(tmpdir(), 'wippy-upgrade-'));
  mkdirSync(join(root, 'src'));
  writeFileSync(join(root, 'src', 'counter.lua'), V1);
  writeFileSync(join(root, 'src', '_index.yaml'), `
namespace: up
entries:
  - { name: processes, kind: process.host, host: { workers: 1 } }
  - { name: counter, kind: process.lua, source: file://counter.lua, method: main }
  - name: becomer
    kind: process.lua
    method: main
    source: |
      return { main = function(count) process.upgrade("up:other", count) end }
  - name: other
    kind: process.lua
    method: main
    source: |
      return { main = function(count) return "other:" .. count end }
  - name: driver
    kind: process.lua
    method: main
    source: |
      local function ask(pid)
        process.send(pid, "get")
        local m = process.listen("count"):receive()
        return m
      end
      return { main = function(path_unused)
        local ev = process.events()
        assert(process.registry.register("driver"))
        local pid = process.spawn_monitored("up:counter", "up:processes", 5)
        process.send(pid, "inc"); process.send(pid, "inc")
        local r = ask(pid)
        assert(r.v == 1 and r.count == 7, "v1 count " .. tostring(r.count))
        -- wait for the JS side to rewrite the file, then reload
        process.inbox():receive()
        process.send(pid, "reload")
        process.send(pid, "inc") -- queued while upgrading: not lost
        local m = process.inbox():receive()
        assert(m:topic() == "reloaded" and m:payload():data() == pid, "same pid after upgrade")
        r = ask(pid)
        assert(r.v == 2 and r.count == 17, "v2 count " .. tostring(r.count) .. " v" .. tostring(r.v))
        assert(process.registry.lookup("counter") == pid, "name kept")
        process.send("counter", "stop")
        local e = ev:receive()
        assert(e.from == pid and e.result.value == 17, "monitor kept, EXIT from new code")
        -- upgrade to another entry, and a failed upgrade
        local p2 = process.spawn_monitored("up:becomer", "up:processes", 1)
        e = ev:receive()
        assert(e.from == p2 and e.result.value == "other:1", "became up:other: " .. tostring(e.result.value))
        return true
      end }
`);
  const rt = await createRuntime({ root });
  try {
    const done = rt.exec('up:driver', [], { host: 'up:processes' });
    for (let i = 0; i < 400 && rt.lookup('counter') === undefined; i++) await new Promise((r) => setTimeout(r, 5));
    writeFileSync(join(root, 'src', 'counter.lua'), V2);
    rt.send('driver', 'go');
    assert.equal(await done, true);
  } finally {
    await rt.stop(1000);
  }
});

test('a failed upgrade crashes the process with an upgrade error', async () => {
  const rt = await createRuntime({ entries: [
    { id: 'up:processes', kind: 'process.host', host: { workers: 1 } },
    { id: 'up:bad', kind: 'process.lua', method: 'main', source: 'return { main = function() process.upgrade("up:missing") end }' },
  ] });
  try {
    const e = await rt.run('up:bad');
    assert.match(e.error?.message ?? '', /^upgrade: create failed: factory not found: up:missing/);
  } finally {
    await rt.stop(1000);
  }
});
