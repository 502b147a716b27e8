// process.spawn* checks each permission it needs: process.spawn on the entry, then
// process.spawn.monitored / process.spawn.linked for a monitor or a link, then process.host on the
// host. A process without actor or scope gets the same answer for every action (allowed unless the
// runtime is strict), so process.lua asks only the first check for it; a process with an actor
// and a scope is asked every one. Here an actor allowed to spawn on a host but not to monitor or
// link is refused exactly the monitored and linked spawns, with their own messages, and one
// allowed everything but one host is refused that host in every variant; a process without actor
// spawns every variant.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRuntime, type Runtime } from '../src/index.js';

const HEADER = `local security = require("security")
local function denied(what, ok, err, text)
  if ok then error(what .. ": expected a denial", 2) end
  if not err or err:kind() ~= "PermissionDenied" then error(what .. ": expected PermissionDenied, got " .. tostring(err), 2) end
  if not tostring(err):find(text, 1, true) then error(what .. ": message '" .. tostring(err) .. "' lacks '" .. text .. "'", 2) end
end
local function allowed(what, pid, err)
  if not pid then error(what .. ": expected a PID, got " .. tostring(err), 2) end
  return pid
end
`;
const lua = (id: string, body: string) => ({ id, kind: 'process.lua', method: 'main', modules: ['security'],
  source: `${HEADER}local function main(...)\n${body}\nend\nreturn { main = main }\n` });

const entries: Array<Record<string, unknown>> = [
  { id: 'app:free', kind: 'process.host', host: { workers: 1 } },
  { id: 'app:other', kind: 'process.host', host: { workers: 1 } },
  // processes here run as an actor whose policies allow plain spawns on app:free only
  { id: 'app:plain_only', kind: 'process.host', host: { workers: 1 },
    lifecycle: { security: { actor: { id: 'user:p', meta: {} }, groups: ['sec:plain'] } } },
  { id: 'sec:plain_spawn', kind: 'security.policy', groups: ['plain'],
    policy: { actions: ['process.spawn', 'process.host'], resources: ['app:child', 'app:free'], effect: 'allow' } },
  // processes here may do every spawn variant, but not on app:other
  { id: 'app:no_other', kind: 'process.host', host: { workers: 1 },
    lifecycle: { security: { actor: { id: 'user:q', meta: {} }, groups: ['sec:most'] } } },
  { id: 'sec:all_spawns', kind: 'security.policy', groups: ['most'],
    policy: { actions: ['process.spawn', 'process.spawn.*', 'process.host'], resources: ['app:*'], effect: 'allow' } },
  { id: 'sec:not_other', kind: 'security.policy', groups: ['most'],
    policy: { actions: ['process.host'], resources: 'app:other', effect: 'deny' } },
  lua('app:child', 'return true'),
  lua('app:plain_only_proc', `
    allowed("spawn", process.spawn("app:child", "app:free"))
    local ok, err = process.spawn_monitored("app:child", "app:free")
    denied("spawn_monitored", ok, err, "not allowed to spawn monitored process: app:child")
    ok, err = process.spawn_linked("app:child", "app:free")
    denied("spawn_linked", ok, err, "not allowed to spawn linked process: app:child")
    ok, err = process.spawn_linked_monitored("app:child", "app:free")
    denied("spawn_linked_monitored", ok, err, "not allowed to spawn monitored process: app:child")
    ok, err = process.spawn("app:child", "app:other")
    denied("spawn on a host not granted", ok, err, "not allowed to spawn on host: app:other")
    return true`),
  lua('app:no_other_proc', `
    allowed("spawn", process.spawn("app:child", "app:free"))
    allowed("spawn_monitored", process.spawn_monitored("app:child", "app:free"))
    allowed("spawn_linked", process.spawn_linked("app:child", "app:free"))
    allowed("spawn_linked_monitored", process.spawn_linked_monitored("app:child", "app:free"))
    for _, name in ipairs({ "spawn", "spawn_monitored", "spawn_linked", "spawn_linked_monitored" }) do
      local ok, err = process[name]("app:child", "app:other")
      denied(name .. " on the denied host", ok, err, "not allowed to spawn on host: app:other")
    end
    return true`),
  lua('app:no_actor_proc', `
    assert(security.actor() == nil, "no actor")
    allowed("spawn", process.spawn("app:child", "app:other"))
    allowed("spawn_monitored", process.spawn_monitored("app:child", "app:other"))
    allowed("spawn_linked", process.spawn_linked("app:child", "app:free"))
    allowed("spawn_linked_monitored", process.spawn_linked_monitored("app:child", "app:free"))
    return true`),
];

let rt: Runtime;
before(async () => { rt = await createRuntime({ entries }); });
after(async () => { await rt.stop(); });

test('an actor allowed plain spawns only is refused the monitored and linked ones, each with its own message', async () => {
  assert.equal(await rt.exec('app:plain_only_proc', [], { host: 'app:plain_only' }), true);
});

test('an actor denied one host is refused it in every spawn variant, after the monitor and link checks passed', async () => {
  assert.equal(await rt.exec('app:no_other_proc', [], { host: 'app:no_other' }), true);
});

test('a process without actor or scope spawns every variant on any host (strict mode off)', async () => {
  assert.equal(await rt.exec('app:no_actor_proc', [], { host: 'app:free' }), true);
});
