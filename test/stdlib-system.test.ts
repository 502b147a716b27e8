// The system modules logger and env from Lua processes on real workers: logger records reach the
// runtime's pino logger with the process's PID and entry id, in order, with fields, levels,
// named and with; env variables come from the registry's env entries, a set is seen by other
// processes, and env.get / env.set are checked against the caller's policies.
//
// Ordering, not timing: a worker's frames reach the main thread in order, so when a process's
// EXIT has been handled (rt.exec resolved), every record it logged has been written.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { createRuntime, type Runtime } from '../src/index.js';
import { parseDotenv } from '../src/runtime/env.js';
import { EventBus, type BusFrame } from '../src/runtime/events.js';
import { LUA_EQ, LUA_HAS } from './helpers/lua-asserts.js';

const HEADER = `
${LUA_EQ}${LUA_HAS}`;
const lua = (id: string, body: string, modules = ['logger', 'env', 'security']) =>
  ({ id, kind: 'process.lua', method: 'main', modules, source: `${HEADER}return { main = function(...)\n${body}\nend }\n` });

const dir = mkdtempSync(join(tmpdir(), 'wippy-env-'));
const dotenv = join(dir, 'app.env');
writeFileSync(dotenv, '# settings\nDATABASE_URL="postgres://db:5432/app"\nexport OTHER=1\n');
process.env.WIPPY_TEST_HOME = '/home/wippy';

const ENTRIES: Array<Record<string, unknown>> = [
  { id: 'app:open', kind: 'process.host', host: { workers: 2 } },
  { id: 'app:guarded', kind: 'process.host', host: { workers: 1 },
    lifecycle: { security: { actor: { id: 'user:app' }, groups: ['sec:env_users'] } } },
  { id: 'sec:read_app', kind: 'security.policy', groups: ['env_users'],
    policy: { actions: 'env.get', resources: ['APP_*', 'DATABASE_URL'], effect: 'allow' } },
  { id: 'sec:write_mode', kind: 'security.policy', groups: ['env_users'],
    policy: { actions: 'env.set', resources: 'APP_MODE', effect: 'allow' } },
  // storages
  { id: 'app:mem', kind: 'env.storage.memory' },
  { id: 'app:os', kind: 'env.storage.os' },
  { id: 'app:defaults', kind: 'env.storage.static', values: { APP_ENV: 'production', APP_MODE: 'from-defaults', SECRET_KEY: 's3cret' } },
  { id: 'app:file', kind: 'env.storage.file', file_path: dotenv },
  { id: 'app:router', kind: 'env.storage.router', storages: ['mem', 'defaults'] },
  { id: 'app:fresh', kind: 'env.storage.file', file_path: join(dir, 'fresh.env'), auto_create: true },
  // variables
  { id: 'app:DATABASE_URL', kind: 'env.variable', storage: 'file' },
  { id: 'app:APP_ENV', kind: 'env.variable', storage: 'defaults' },
  { id: 'app:APP_MODE', kind: 'env.variable', storage: 'router' },
  { id: 'app:home', kind: 'env.variable', variable: 'WIPPY_TEST_HOME', storage: 'os' },
  { id: 'app:APP_LOCKED', kind: 'env.variable', storage: 'mem', default: 'fixed', read_only: true },
  { id: 'app:APP_UNSET', kind: 'env.variable', storage: 'mem' },
  { id: 'app:APP_PORT', kind: 'env.variable', storage: 'mem', default: 8080 },
  { id: 'app:SECRET_KEY', kind: 'env.variable', storage: 'defaults' },
  { id: 'app:APP_FILE_NEW', kind: 'env.variable', storage: 'file' },
  { id: 'app:APP_FRESH', kind: 'env.variable', storage: 'fresh' },

  lua('app:log_all', `
    local logger = require("logger")
    logger:debug("debug line", { n = 0 })
    logger:info("hello", { key = "value", n = 1, nested = { a = { 1, 2 } } })
    logger:warn("careful")
    logger:error("bad", { fn = print, err = errors.new({ kind = errors.NOT_FOUND, message = "gone" }) })
    local child = logger:with({ request_id = "r-1" })
    child:info("with fields", { extra = true })
    child:info("override", { request_id = "r-2", pid = "spoofed", entry = "spoofed" })
    local named = logger:named("auth")
    named:warn("named line")
    named:with({ user = "bob" }):named("session"):info("nested")
    logger.info("dot form", { via = "dot" })
    local none, err = logger:named("")
    eq(none, nil); eq(err:kind(), errors.INVALID); has(err:message(), "name must not be empty")
    none, err = logger:with("x")
    eq(none, nil); eq(err:kind(), errors.INVALID); has(err:message(), "fields must be a table")
    eq(type(logger), "userdata"); eq(tostring(named), "logger{auth}")
    return process.pid()`, ['logger']),

  lua('app:env_open', `
    local env = require("env")
    eq(env.get("DATABASE_URL"), "postgres://db:5432/app", "file storage")
    eq(env.get("APP_ENV"), "production", "static storage")
    eq(env.get("WIPPY_TEST_HOME"), "/home/wippy", "os storage, variable name")
    eq(env.get("app:home"), "/home/wippy", "by entry id")
    eq(env.get("APP_LOCKED"), "fixed", "default")
    eq(env.get("APP_PORT"), "8080", "numeric default as a string")
    eq(env.get("APP_MODE"), "from-defaults", "router: second storage")
    local v, err = env.get("APP_UNSET")
    eq(v, nil); eq(err:kind(), errors.NOT_FOUND); has(err:message(), "env variable not found: APP_UNSET")
    v, err = env.get("NOT_DEFINED")
    eq(v, nil); eq(err:kind(), errors.NOT_FOUND); has(err:message(), "env variable not found: NOT_DEFINED")
    v, err = env.get("")
    eq(v, nil); eq(err:kind(), errors.INVALID); has(err:message(), "key must not be empty")
    v, err = env.get(42)
    eq(v, nil); eq(err:kind(), errors.INVALID)
    local ok
    ok, err = env.set("APP_LOCKED", "x")
    eq(ok, false); eq(err:kind(), errors.PERMISSION_DENIED); has(err:message(), "APP_LOCKED is read-only")
    ok, err = env.set("APP_ENV", "staging")
    eq(ok, false); eq(err:kind(), errors.PERMISSION_DENIED); has(err:message(), "storage app:defaults is read-only")
    ok, err = env.set("APP_MODE", {})
    eq(ok, false); eq(err:kind(), errors.INVALID)
    ok, err = env.set("NOT_DEFINED", "x")
    eq(ok, false); eq(err:kind(), errors.NOT_FOUND)
    eq(env.set("APP_MODE", "production"), true)
    eq(env.get("APP_MODE"), "production", "router: write went to memory, read finds it first")
    eq(env.set("APP_FILE_NEW", 42), true)
    v, err = env.get("APP_FRESH")
    eq(v, nil); eq(err:kind(), errors.NOT_FOUND, "auto-created file is empty")
    eq(env.set("APP_FRESH", "a b # c"), true)
    eq(env.get("APP_FRESH"), "a b # c")
    local all = env.get_all()
    eq(all.APP_MODE, "production"); eq(all.DATABASE_URL, "postgres://db:5432/app"); eq(all.APP_UNSET, nil)
    eq(all.SECRET_KEY, "s3cret"); eq(all.APP_FILE_NEW, "42")
    return true`),
  lua('app:env_reader', `return require("env").get("APP_MODE")`),
  lua('app:env_guarded', `
    local env, security = require("env"), require("security")
    eq(env.get("APP_ENV"), "production")
    eq(security.can("env.get", "SECRET_KEY"), false)
    local v, err = env.get("SECRET_KEY")
    eq(v, nil); eq(err:kind(), errors.PERMISSION_DENIED); has(err:message(), "SECRET_KEY")
    local ok
    ok, err = env.set("APP_ENV", "x")
    eq(ok, false); eq(err:kind(), errors.PERMISSION_DENIED)
    eq(env.set("APP_MODE", "guarded"), true)
    local all = env.get_all()
    eq(all.SECRET_KEY, nil, "get_all filters through env.get"); eq(all.APP_ENV, "production")
    eq(all.DATABASE_URL, "postgres://db:5432/app"); eq(all.WIPPY_TEST_HOME, nil)
    return true`),
  lua('app:ev_sender', `
    local events = require("events")
    eq(events.send("orders", "order.created", "/orders/0", { n = 0 }), true) -- "orders.*" does not match "orders"
    eq(events.send("orders.eu", "order.created", "/orders/1", { order_id = "1", total = 99.99 }), true)
    eq(events.send("users", "user.deleted", "/users/7"), true) -- filtered out by kind
    eq(events.send("users", "user.created", "/users/8", { user_id = 8 }), true)
    eq(events.send("system", "heartbeat", "/health"), true)
    eq(events.send("orders.us", "order.done", "/orders/2"), true)
    return true`, ['events']),
  lua('app:ev_main', `
    local events = require("events")
    local orders = assert(events.subscribe("orders.*"))
    local users = assert(events.subscribe("users", "user.created"))
    eq(tostring(orders), "events.Subscription")
    eq(orders:channel(), orders:channel(), "one channel per subscription")
    process.spawn_monitored("app:ev_sender", ...)
    local got = {}
    local ch = orders:channel()
    while true do
      local evt, ok = ch:receive()
      eq(ok, true)
      got[#got + 1] = evt.system .. " " .. evt.kind .. " " .. evt.path .. " " .. tostring(evt.data and (evt.data.order_id or evt.data.n))
      if evt.kind == "order.done" then break end
    end
    local u = users:channel():receive()
    eq(u.kind, "user.created"); eq(u.data.user_id, 8); eq(u.path, "/users/8")
    eq(users:close(), true)
    local v, ok = users:channel():receive()
    eq(v, nil); eq(ok, false, "closed subscription's channel")
    local function fails(r, e, sub, what)
      eq(r, nil, what); eq(e:kind(), errors.INVALID, what); has(e:message(), sub, what)
    end
    local r, e = events.subscribe(""); fails(r, e, "system must be a non-empty string", "empty system")
    r, e = events.send("s", "", "/p"); fails(r, e, "kind must be a non-empty string", "empty kind")
    r, e = events.send("s", "k", ""); fails(r, e, "path must be a non-empty string", "empty path")
    r, e = events.send("s", "k", "/p", { f = print }); eq(r, nil, "unsendable data")
    return table.concat(got, "|")`, ['events']),
  lua('app:ev_denied', `
    local events = require("events")
    local r, e = events.subscribe("orders.*")
    eq(r, nil); eq(e:kind(), errors.INVALID); has(e:message(), "not allowed to subscribe to system: orders.*")
    r, e = events.send("orders.x", "k", "/p")
    eq(r, nil); eq(e:kind(), errors.INVALID); has(e:message(), "not allowed to send to system: orders.x")
    return true`, ['events']),
  lua('app:env_unlisted', `return require("env")`, ['logger']),
];

interface Rec { level: number; msg: string; pid?: string; entry?: string; logger?: string; [k: string]: unknown }

describe('logger and env', () => {
  let rt: Runtime;
  const records: Rec[] = [];
  before(async () => {
    const sink = new Writable({ write(chunk, _enc, cb) { records.push(JSON.parse(String(chunk))); cb(); } });
    rt = await createRuntime({ entries: ENTRIES, logger: pino({ level: 'info', base: undefined }, sink) });
  });
  after(async () => { await rt.stop(1000); });

  test('logger records reach pino in order, with pid, entry, level, fields and names', async () => {
    const pid = await rt.exec('app:log_all', [], { host: 'app:open' }) as string;
    const mine = records.filter((r) => r.entry === 'app:log_all');
    assert.deepEqual(mine.map((r) => [r.level, r.msg]), [
      [30, 'hello'], [40, 'careful'], [50, 'bad'], [30, 'with fields'], [30, 'override'], [40, 'named line'], [30, 'nested'], [30, 'dot form'],
    ], 'debug is below the logger level and dropped; the rest in order');
    for (const r of mine) { assert.equal(r.pid, pid); assert.equal(r.entry, 'app:log_all'); }
    const [hello, , bad, withF, override, named, nested, dot] = mine as [Rec, Rec, Rec, Rec, Rec, Rec, Rec, Rec];
    assert.equal(hello.key, 'value'); assert.equal(hello.n, 1); assert.deepEqual(hello.nested, { a: [1, 2] });
    assert.match(String(bad.fn), /^function/); assert.equal(bad.err, 'gone');
    assert.equal(withF.request_id, 'r-1'); assert.equal(withF.extra, true);
    assert.equal(override.request_id, 'r-2', 'a call field overrides a with field');
    assert.equal(named.logger, 'auth'); assert.equal(hello.logger, undefined);
    assert.equal(nested.logger, 'auth.session'); assert.equal(nested.user, 'bob');
    assert.equal(dot.via, 'dot');
  });

  test('env: storages, defaults, router, set, get_all and the documented errors', async () => {
    assert.equal(await rt.exec('app:env_open', [], { host: 'app:open' }), true);
    // a set is seen by every process, on any worker
    assert.equal(await rt.exec('app:env_reader', [], { host: 'app:open' }), 'production');
    assert.equal(await rt.exec('app:env_reader', [], { host: 'app:guarded' }), 'production');
    assert.match(readFileSync(dotenv, 'utf8'), /^APP_FILE_NEW=42$/m, 'a set on a file storage rewrites the file');
    assert.match(readFileSync(dotenv, 'utf8'), /^DATABASE_URL=postgres:\/\/db:5432\/app$/m);
    const fresh = readFileSync(join(dir, 'fresh.env'), 'utf8');
    assert.equal(fresh, 'APP_FRESH="a b # c"\n', 'auto_create made the file; the value is quoted');
    assert.equal(parseDotenv(fresh).get('APP_FRESH'), 'a b # c', 'and reads back');
  });

  test('env: env.get and env.set are checked with the caller\'s policies; get_all filters', async () => {
    assert.equal(await rt.exec('app:env_guarded', [], { host: 'app:guarded' }), true);
    assert.equal(await rt.exec('app:env_reader', [], { host: 'app:open' }), 'guarded');
  });

  test('events: subscribe by system pattern and kind, send, channel, close, errors', async () => {
    // (the sender is spawned on a two-worker host: it may run on the other worker)
    for (let round = 0; round < 3; round++) {
      const got = await rt.exec('app:ev_main', ['app:open'], { host: 'app:open' });
      assert.equal(got, 'orders.eu order.created /orders/1 1|orders.us order.done /orders/2 nil', `round ${round}`);
    }
  });

  test('events: the policy checks events.subscribe and events.send (denied is Invalid, as documented)', async () => {
    assert.equal(await rt.exec('app:ev_denied', [], { host: 'app:guarded' }), true);
  });

  test('env is only for entries that list it', async () => {
    await assert.rejects(rt.exec('app:env_unlisted', [], { host: 'app:open' }), /module 'env' not found/);
  });
});

test('event bus: system patterns, kind filter, unsubscribe, and a dead worker\'s subscriptions dropped', () => {
  const sent: unknown[][] = [];
  const down = new Set<number>();
  const bus = new EventBus((tid, frame) => sent.push([tid, ...frame]), (tid) => down.has(tid));
  const frame = (...xs: unknown[]) => xs as unknown as BusFrame;
  bus.handle(frame('evsub', 1, '{h|0x1}', 7, 1, 'orders.*'));
  bus.handle(frame('evsub', 2, '{h|0x2}', 8, 1, 'users', 'user.created'));
  bus.handle(frame('evsub', 3, '{h|0x3}', 9, 1, 'a+b(c)'));
  assert.deepEqual(sent.splice(0), [[1, 'rep', '{h|0x1}', 7, true, undefined], [2, 'rep', '{h|0x2}', 8, true, undefined], [3, 'rep', '{h|0x3}', 9, true, undefined]]);
  bus.handle(frame('evsend', 'orders.eu.west', 'k', '/p', { n: 1 }));
  bus.handle(frame('evsend', 'orders', 'k', '/p'));
  bus.handle(frame('evsend', 'users', 'user.deleted', '/u'));
  bus.handle(frame('evsend', 'users', 'user.created', '/u'));
  bus.handle(frame('evsend', 'a+b(c)', 'k', '/x')); // regex characters in a pattern are literal
  bus.handle(frame('evsend', 'aab(c)', 'k', '/x'));
  assert.deepEqual(sent.splice(0), [
    [1, 'ev', 1, 'orders.eu.west', 'k', '/p', { n: 1 }],
    [2, 'ev', 1, 'users', 'user.created', '/u', undefined],
    [3, 'ev', 1, 'a+b(c)', 'k', '/x', undefined],
  ]);
  bus.handle(frame('evunsub', 1, 1));
  down.add(2);
  bus.handle(frame('evsend', 'users', 'user.created', '/u'));
  bus.handle(frame('evsend', 'orders.x', 'k', '/p'));
  assert.deepEqual(sent, []);
  assert.equal(bus.size, 1);
});
