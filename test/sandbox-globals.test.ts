// The global table of a process (issue 14, memory per process): every process gets a table of its
// own holding only `_G` and `require`, and reads every other global through a hidden metatable
// from one table shared by all processes of the worker (library tables behind read-only proxies);
// `require` is one function per entry, and what it loaded is the process's. So each trick that
// shares something is tested for what a process must never see: another process's globals,
// however they were written (`x = v`, `_G.x`, `_ENV.x`, `rawset(_G, ...)`, from a user coroutine,
// shadowing a shared name), a change to the shared tables, the metatable of its globals, another
// process's instance of a library. All processes run on one worker (one Lua state): the case
// where sharing could leak.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRuntime, type Runtime } from '../src/index.js';
import { LUA_EQ, luaMain } from './helpers/lua-asserts.js';

const HEADER = `${LUA_EQ}local function keys_of(t)
  local ks = {}
  for k in pairs(t) do ks[#ks + 1] = tostring(k) end
  table.sort(ks)
  return table.concat(ks, ",")
end
`;
const mod = (body: string) => luaMain(HEADER, body);

const entries: Array<Record<string, unknown>> = [
  { id: 'g:one', kind: 'process.host', host: { workers: 1 } },
  // A library with state of its own (a counter) and a global written from its code.
  { id: 'g:counter', kind: 'library.lua', source: `
    local n = 0
    return {
      inc = function() n = n + 1; return n end,
      set_global = function() lib_global = "set by the library" end,
      sees = function() return importer_global end,
    }` },
  // Writes globals every way there is, tells its parent, waits, then checks nothing it wrote changed.
  { id: 'g:writer', imports: { counter: 'g:counter' }, source: mod(`
    local parent = ...
    x_plain = "w"
    _G.x_via_G = "w"
    _ENV.x_via_env = "w"
    rawset(_G, "x_rawset", "w")
    coroutine.wrap(function() x_coroutine = "w" end)()
    print = "shadowed print"                      -- a shared name, shadowed in this table only
    string = { mine = true }                      -- the shared string library, shadowed likewise
    eq(_G._G, _G, "_G._G"); eq(_ENV, _G, "_ENV is _G")
    eq(rawget(_G, "x_plain"), "w", "a global is the process's own key")
    eq(rawget(_G, "table"), nil, "a shared global is not a key of the process's table")
    eq(pcall(setmetatable, _G, {}), false, "setmetatable(_G, ...) refused")
    eq(getmetatable(_G), false, "the metatable of _G is hidden")
    eq(keys_of(_G), "_G,print,require,string,x_coroutine,x_plain,x_rawset,x_via_G,x_via_env",
      "pairs(_G): the process's own keys")
    local counter = require("counter")
    eq(counter.inc(), 1, "a fresh library instance")
    counter.set_global()
    eq(lib_global, nil, "a library's globals are its own table's")
    importer_global = "importer"
    eq(counter.sees(), nil, "the library does not see the importer's globals")
    process.send(parent, "written")
    eq(process.inbox():receive():topic(), "check")
    -- after another process wrote and read its own globals on this worker:
    eq(x_plain, "w"); eq(x_via_G, "w"); eq(x_via_env, "w"); eq(x_rawset, "w"); eq(x_coroutine, "w")
    eq(print, "shadowed print"); eq(string.mine, true)
    eq(require("counter"), counter, "require returns this process's instance, also in a later resume")
    eq(counter.inc(), 2, "its state kept")
    return "ok"`) },
  // Runs while the writer waits: sees none of it, and cannot change what the writer sees.
  { id: 'g:reader', imports: { counter: 'g:counter' }, source: mod(`
    eq(keys_of(_G), "_G,require", "pairs(_G) of a process that wrote nothing")
    eq(x_plain, nil); eq(x_via_G, nil); eq(x_via_env, nil); eq(x_rawset, nil); eq(x_coroutine, nil)
    eq(_G.x_plain, nil); eq(rawget(_G, "x_rawset"), nil)
    eq(type(print), "function", "print is the shared one")
    eq(string.mine, nil); eq(string.upper("a"), "A", "string is the shared library")
    eq(lib_global, nil); eq(importer_global, nil)
    eq(require("counter").inc(), 1, "its own instance of the library")
    -- the shared tables refuse every way of writing them
    eq(pcall(function() string.x_plain = 1 end), false, "string.x = v")
    eq(pcall(rawset, string, "x_plain", 1), false, "rawset(string, ...)")
    eq(pcall(rawset, math, "pi", 3), false, "rawset(math, ...)")
    eq(pcall(setmetatable, string, {}), false, "setmetatable(string, ...)")
    eq(pcall(function() coroutine.spawn = nil end), false, "coroutine.x = nil")
    -- writing its own globals, and shadowing shared ones, stays in its own table
    x_plain = "r"; print = "reader's"; rawset(_G, "string", "reader's")
    eq(x_plain, "r"); eq(string, "reader's")
    return "ok"`) },
  { id: 'g:main', source: mod(`
    local ev = process.events()
    local w = process.spawn_monitored("g:writer", "g:one", process.pid())
    eq(process.inbox():receive():topic(), "written")
    local r = process.spawn_monitored("g:reader", "g:one")
    local e = ev:receive()
    eq(e.from, r); eq(e.result.error, nil, tostring(e.result.error)); eq(e.result.value, "ok")
    process.send(w, "check")
    e = ev:receive()
    eq(e.from, w); eq(e.result.error, nil, tostring(e.result.error)); eq(e.result.value, "ok")
    return "ok"`) },
  { id: 'g:fresh', source: mod(`
    eq(keys_of(_G), "_G,require", "pairs(_G) of a new process after the others wrote theirs")
    eq(x_plain, nil); eq(type(print), "function"); eq(string.upper("b"), "B")
    return "ok"`) },
];
for (const e of entries) if (!e.kind) Object.assign(e, { kind: 'process.lua', method: 'main', modules: [] });

let rt: Runtime;
before(async () => { rt = await createRuntime({ entries }); });
after(async () => { await rt.stop(2000); });

test('a process\'s globals are its own, however written; another process on the worker sees none of them', async () => {
  assert.equal(await rt.exec('g:main', [], { host: 'g:one' }), 'ok');
  assert.equal(await rt.exec('g:fresh', [], { host: 'g:one' }), 'ok');
});
