// Permissions of the process API : actors, scopes, policies, strict mode, and the
// seeds' "an isolated user process may not send to system hosts at all".
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRuntime, type Runtime } from '../src/index.js';
import { LUA_EQ, luaMain } from './helpers/lua-asserts.js';

const HEADER = `local time = require("time")
local security = require("security")
${LUA_EQ}local function denied(what, ok, err, text)
  if ok then error(what .. ": expected a denial", 2) end
  if not err or err:kind() ~= "PermissionDenied" then error(what .. ": expected PermissionDenied, got " .. tostring(err and err:kind()) .. ": " .. tostring(err), 2) end
  if text and not tostring(err):find(text, 1, true) then error(what .. ": message '" .. tostring(err) .. "' lacks '" .. text .. "'", 2) end
end
`;
const mod = (body: string) => luaMain(HEADER, body);
const lua = (id: string, body: string) => ({ id, kind: 'process.lua', method: 'main', modules: ['time', 'security', 'ctx'], source: mod(body) });

const entries: Array<Record<string, unknown>> = [
  { id: 'app:user', kind: 'process.host', host: { workers: 1 } },
  { id: 'app:system', kind: 'process.host', host: { workers: 1 } },
  // a host whose processes run as a restricted actor unless given another one
  { id: 'app:sandboxed', kind: 'process.host', host: { workers: 1 },
    lifecycle: { security: { actor: { id: 'user:guest', meta: { role: 'guest' } }, groups: ['sec:users'] } } },
  // policies
  { id: 'sec:user_basics', kind: 'security.policy', groups: ['users'],
    policy: { actions: ['process.spawn', 'process.spawn.*', 'process.host', 'process.exec', 'process.send', 'process.monitor', 'process.registry.*'],
      resources: ['app:*', '{*'], effect: 'allow' } },
  { id: 'sec:no_system_send', kind: 'security.policy', groups: ['users'],
    policy: { actions: 'process.send', resources: '{app:system|*', effect: 'deny' } },
  { id: 'sec:no_system_host', kind: 'security.policy', groups: ['users'],
    policy: { actions: ['process.host'], resources: 'app:system', effect: 'deny' } },
  { id: 'sec:admins_only', kind: 'security.policy', groups: ['users'],
    policy: { actions: 'process.terminate', resources: '*', effect: 'allow',
      conditions: [{ field: 'actor.meta.role', operator: 'eq', value: 'admin' }] } },
  lua('app:echo', `
    local inbox = process.inbox()
    while true do
      local m = inbox:receive()
      if m:topic() == "stop" then return true end
      process.send(m:from(), "echo", m:payload():data())
    end`),
  lua('app:whoami', `
    local a = security.actor()
    return { actor = a and a:id(), role = a and a:meta().role, can_terminate = security.can("process.terminate", "x") }`),
  lua('app:user_proc', `
    -- runs as user (from a service-like security block)
    local sys = ...
    local me = security.actor()
    eq(me:id(), "user:alice")
    local ok, err = process.send(sys, "hello", 1)
    denied("send to a system-host process", ok, err, "not allowed to send: " .. sys)
    local child = process.spawn("app:echo", "app:user")
    assert(child, "spawning on the user host is allowed")
    eq(process.send(child, "ping", 1), true)
    eq(process.inbox():receive():payload():data(), 1)
    ok, err = process.spawn("app:echo", "app:system")
    denied("spawn on the system host", ok, err, "not allowed to spawn on host: app:system")
    ok, err = process.spawn_monitored("app:echo", "app:system")
    denied("spawn_monitored on the system host", ok, err, "not allowed to spawn on host: app:system")
    ok, err = process.exec("app:whoami", "app:system")
    denied("exec on the system host", ok, err, "not allowed to exec on host: app:system")
    ok, err = process.terminate(child)
    denied("terminate without the admin role", ok, err, "not allowed to terminate: " .. child)
    ok, err = process.cancel(child)
    denied("cancel is not granted", ok, err, "not allowed to cancel: " .. child)
    ok, err = process.link(child)
    denied("link is not granted", ok, err, "not allowed to link: " .. child)
    -- the child inherits the actor and scope
    local who = process.exec("app:whoami", "app:user")
    eq(who.actor, "user:alice", "child inherits actor"); eq(who.can_terminate, false, "child inherits scope")
    -- a spawner cannot shed the scope without process.security
    local okc, cerr = pcall(function() return process.with_context({}):with_actor(security.new_actor("root", {})) end)
    eq(okc, false, "with_actor needs process.security"); assert(tostring(cerr):find("not allowed to spawn processes with custom", 1, true), tostring(cerr))
    okc, cerr = pcall(process.with_context, { x = 1 })
    eq(okc, false, "with_context needs process.context")
    process.send(child, "stop")
    return true`),
  lua('app:admin_proc', `
    eq(security.can("process.terminate", "anything"), true)
    local child = process.spawn_monitored("app:echo", "app:user")
    eq(process.terminate(child), true)
    local e = process.events():receive()
    eq(tostring(e.result.error), "process terminated")
    return true`),
  lua('app:system_proc', `
    process.inbox():receive()
    return true`),
  lua('app:empty_scope', `
    -- an actor with an empty scope is denied everything, through a spawner
    local sp = process.with_context({}):with_actor(security.new_actor("svc:x", {})):with_scope(security.new_scope())
    return sp:exec("app:denied_all", "app:user")`),
  lua('app:denied_all', `
    local ok, err = process.spawn_monitored("app:echo", "app:user")
    denied("empty scope", ok, err, "not allowed to spawn process: app:echo")
    ok, err = process.registry.register("x")
    denied("register", ok, err, "not allowed to register name: x")
    return true`),
];

let rt: Runtime;
before(async () => { rt = await createRuntime({ entries }); });
after(async () => { await rt.stop(1000); });

const alice = { actor: { id: 'user:alice', meta: { role: 'user' } }, groups: ['sec:users'] };

test('policies restrict a user process: no sends or spawns into the system host, inherited by children', async () => {
  const sys = await rt.spawn('app:system_proc', 'app:system');
  assert.equal(await rt.exec('app:user_proc', [sys], { host: 'app:user', ctx: { security: alice } }), true);
  rt.send(sys, 'done');
});

test('conditions on actor meta grant terminate to admins only', async () => {
  const admin = { actor: { id: 'user:bob', meta: { role: 'admin' } }, groups: ['sec:users'] };
  assert.equal(await rt.exec('app:admin_proc', [], { host: 'app:user', ctx: { security: admin } }), true);
});

test('an actor with an empty scope is denied everything', async () => {
  assert.equal(await rt.exec('app:empty_scope', [], { host: 'app:user' }), true);
});

test('without an actor and scope everything is allowed (strict_mode off)', async () => {
  const who = await rt.exec('app:whoami', [], { host: 'app:user' }) as { can_terminate: boolean; actor?: string };
  assert.equal(who.can_terminate, true);
  assert.equal(who.actor, undefined);
});

test('a host security block is the default actor and scope of its processes', async () => {
  const who = await rt.exec('app:whoami', [], { host: 'app:sandboxed' }) as { actor: string; role: string; can_terminate: boolean };
  assert.equal(who.actor, 'user:guest');
  assert.equal(who.role, 'guest');
  assert.equal(who.can_terminate, false);
});

test('strict mode denies processes without actor or scope', async () => {
  const strict = await createRuntime({ entries, config: { security: { strict_mode: true } } });
  try {
    const e = await strict.run('app:denied_all', [], { host: 'app:user' });
    assert.equal(e.error, undefined, e.error?.message);
  } finally {
    await strict.stop(1000);
  }
});
