// A process's environment and its entry's chunk in C (native/lua/lenv.c, `wippy.native.envmaker`:
// sandbox.lua's make_env and compile's cache hit) against the Lua they stand for (the path of
// wasmoon's module and of WIPPY_CSCHED=0), in one Lua state of our module: sandbox.lua loaded
// twice, one copy with the C and one without, under the same fakes, and the same seeded sequences
// run in both: environments made for new and old process records (an upgrade's fresh `loaded`),
// for a library's load (a `loaded` given), for entries with and without imports, for a nil entry;
// every environment's keys in pairs's order, its _G, its require (the same function for two
// processes of one entry, another for another entry), its hidden metatable and a global read
// through it; the entries' modules run in them, requiring built-ins (listed or not), a library
// (loaded once per `loaded`, again after an upgrade), a name that is not a string, and with no
// process running; compiles of good, broken and source-less entries, cached and invalidated. The
// transcripts must be equal, every kind of step must occur, and mutants of the Lua must fail.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { LuaEngine } from 'wasmoon';
import { luaFactory } from '../src/lua/module.js';
import { assertMutantsCaught } from './helpers/lua-mutants.js';

const SRC = { sandbox: readFileSync(path.resolve('src/lua/kernel/sandbox.lua'), 'utf8') };

const WORLD = String.raw`
local nat = package.loaded["wippy.native"]
assert(nat and nat.envmaker, "our module's envmaker")

function WORLD(with_c, seed)
  local log, seen = {}, {}
  local function L(s) log[#log + 1] = s end
  local function saw(k) seen[k] = (seen[k] or 0) + 1 end
  local run = { cp = nil }
  local EMT = { __tostring = function(e) return e.kind .. ": " .. e.message end }
  local hits = 0
  local entries = {
    ["t:plain"] = { source = "return { main = function() return require('time').name end }", modules = { "time" } },
    ["t:two"] = { source = "local t = require('time'); return { main = function(x) return t.name .. ':' .. require(x).name end }", modules = { "time", "json" } },
    ["t:imp"] = { source = "local lib = require('lib'); return { main = function() return lib.v .. ':' .. require('time').name end }",
      modules = { "time" }, imports = { lib = "t:lib" } },
    ["t:lib"] = { source = "require('counter').hit(); return { v = 'lib' .. require('counter').n() }", modules = { "counter" } },
    ["t:badlib"] = { source = "return { main = function() return require('nolib') end }", imports = { nolib = "t:none" } },
    ["t:broken"] = { source = "return {", modules = {} },
    ["t:nosrc"] = { modules = {} },
    ["t:glob"] = { source = "x = 5; return { main = function() local ks = {} for k in pairs(_G) do ks[#ks + 1] = tostring(k) end table.sort(ks) return table.concat(ks, ',') .. ':' .. tostring(rawget(_G, 'x')) .. ':' .. tostring(print ~= nil) end }", modules = {} },
  }
  local SB = assert(load(SB_SRC.sandbox, "@kernel/sandbox.lua", "t"))()({
    run = run, hook = function() end, new_thread = function() error("no threads here") end,
    ready = function() end, BLOCK = {},
    err = function(kind, message) return setmetatable({ kind = kind, message = message }, EMT) end,
    is_error = function(v) return getmetatable(v) == EMT end, error_message = function(v) return v.message end,
    memory_error = function() return false end, write = function() end, entries = entries,
    safestring = string, safetable = table, sandbox_math = math, safe_os_date = os.date,
    errors = {}, channel = {}, envmaker = with_c and nat.envmaker or nil,
  })
  assert((debug.getinfo(SB.make_env, "S").what == "C") == with_c, "the make_env of this world")
  assert((debug.getinfo(SB.compile, "S").what == "C") == with_c, "the compile of this world")
  SB.builtin.time = { name = "time" }
  SB.builtin.json = { name = "json" }
  SB.builtin.counter = { hit = function() hits = hits + 1 end, n = function() return hits end }
  SB.set_process({ name = "process" })

  local ids = { "t:plain", "t:two", "t:imp", "t:lib", "t:badlib", "t:broken", "t:nosrc", "t:glob" }
  local procs, chunks, reqs, envs = {}, {}, {}, {}
  local function idx(list, v)  -- v's first-seen number in list (identities compared as orders)
    for i = 1, #list do if list[i] == v then return i end end
    list[#list + 1] = v
    return #list
  end
  local function show(v)
    if type(v) == "table" and getmetatable(v) == EMT then return "E(" .. tostring(v) .. ")" end
    if type(v) == "string" then return (v:gsub("^[^:]*:%d+: ", "@")) end  -- positions: only where
    return type(v) == "table" and "table" or tostring(v)
  end
  local function pc(f, ...)
    local r = table.pack(pcall(f, ...))
    local out = {}
    for i = 1, r.n do out[i] = show(r[i]) end
    return table.concat(out, " ")
  end
  local rs = seed
  local function rnd(n) rs = (rs * 1103515245 + 12345) % 2147483648; return (rs >> 16) % n + 1 end

  for step = 1, 120 do
    local op = rnd(9)
    local id = ids[rnd(#ids)]
    local E = entries[id]
    if op == 1 then  -- compile, cached or not
      local okc, f, e = pcall(SB.compile, E, id)
      if not okc then saw("compile raises"); L("compile " .. id .. " raises " .. show(f))
      elseif f then saw("compile"); L("compile " .. id .. " #" .. idx(chunks, f))
      else saw("compile fail"); L("compile " .. id .. " fails " .. show(e)) end
    elseif op == 2 then
      saw("invalidate"); SB.invalidate(id); L("invalidate " .. id)
    elseif op <= 6 then  -- a process: new, or an old one whose code is instantiated again (upgrade)
      local P
      if op == 4 or #procs == 0 then P = { pid = "p" .. step }; procs[#procs + 1] = P; saw("new proc")
      else P = procs[rnd(#procs)]; saw("old proc") end
      local env = SB.make_env(E, P)
      local keys = {}
      for k, v in next, env do keys[#keys + 1] = tostring(k) .. "=" .. (v == env and "env" or ("req#" .. idx(reqs, v))) end
      L("env " .. id .. " " .. P.pid .. " #" .. idx(envs, env) .. " [" .. table.concat(keys, ",") .. "] mt=" ..
        tostring(getmetatable(env)) .. " G=" .. tostring(rawget(env, "_G") == env) .. " type=" .. type(env.type) ..
        " nope=" .. tostring(env.nope))
      local okc, f = pcall(SB.compile, E, id)
      if okc and f then
        local prev = run.cp
        run.cp = P
        local ok, mod = pcall(f, env)
        if ok and type(mod) == "table" and mod.main then
          saw("run")
          L("  main " .. pc(mod.main, rnd(2) == 1 and "json" or "yaml") .. " hits=" .. hits)
          -- a library's environment: a loaded table given (the Lua's require would pass the process's)
          if rnd(3) == 1 then
            saw("lib env")
            local le = SB.make_env(entries["t:lib"], P, {})
            L("  libenv #" .. idx(envs, le) .. " req#" .. idx(reqs, rawget(le, "require")))
            L("  again " .. pc(mod.main, "json") .. " hits=" .. hits)
          end
          -- require's edges: not a string, no process running
          local req = rawget(env, "require")
          L("  req(5) " .. pc(req, 5) .. " req(nil) " .. pc(req))
          run.cp = nil
          L("  no proc " .. pc(req, "time") .. " / " .. pc(req, "nope"))
          saw("require edges")
        else
          L("  chunk " .. show(ok) .. " " .. show(mod))
        end
        run.cp = prev
      end
    elseif op == 7 then
      saw("nil entry"); L("env nil entry: " .. pc(SB.make_env, nil, { pid = "q" }))
    elseif op == 8 then
      saw("nil proc")
      local env = SB.make_env(E, nil)
      L("env nil proc #" .. idx(envs, env) .. " req#" .. idx(reqs, rawget(env, "require")))
    else
      saw("require no cp"); L("req of " .. id .. ": " .. pc(SB.make_env(E, { pid = "r" }).require, "time"))
    end
  end
  local ks = {}
  for k, n in pairs(seen) do ks[#ks + 1] = k .. "=" .. n end
  SEEN = table.concat(ks, ";")
  return table.concat(log, "\n")
end
`;

let engine: LuaEngine;
before(async () => {
  engine = await luaFactory('native').createEngine({ injectObjects: false, enableProxy: false });
  engine.global.set('SB_SRC', SRC);
  engine.doStringSync(WORLD);
});

/** One world's transcript, and how many times each kind of step occurred in it. */
function world(withC: boolean, seed: number): [string, Record<string, number>] {
  const w = engine.global.get('WORLD') as (c: boolean, s: number) => string;
  const log = w(withC, seed);
  const seen: Record<string, number> = {};
  for (const kv of String(engine.global.get('SEEN')).split(';')) {
    const [k, n] = kv.split('=');
    if (k) seen[k] = Number(n);
  }
  return [log, seen];
}

test('make_env and compile in C: the same transcripts as the Lua over 80 seeded worlds', () => {
  const seen: Record<string, number> = {};
  let all = '';
  for (let seed = 1; seed <= 80; seed++) {
    const [c, sc] = world(true, seed);
    const [lua] = world(false, seed);
    assert.equal(c, lua, `seed ${seed}`);
    all += c + '\n';
    for (const [k, n] of Object.entries(sc)) seen[k] = (seen[k] ?? 0) + n;
  }
  for (const k of ['compile', 'compile fail', 'invalidate', 'compile raises', 'new proc', 'old proc', 'run', 'lib env',
    'require edges', 'nil entry', 'nil proc', 'require no cp']) {
    assert.ok((seen[k] ?? 0) > 0, `no world had a case of: ${k}`);
  }
  // what the transcripts say holds: require's errors keep their order (a name that is not a
  // string, then no process running, a listed built-in included)
  assert.match(all, /req\(5\) false @?bad argument #1 to 'require' \(string expected\)/);
  assert.match(all, /no proc false @?require: no process is running \/ false @?require: no process is running/);
  // an environment holds _G and require only; its metatable is hidden; globals fall through
  // (in either order: the order pairs walks two string keys in follows the state's string hash
  // seed, which Lua makes afresh per state; the C and the Lua run in one state, so they agree)
  const keys = String.raw`(?:require=req#\d+,_G=env|_G=env,require=req#\d+)`;
  assert.match(all, new RegExp(String.raw`\[${keys}\] mt=false G=true type=function nope=nil`));
  assert.doesNotMatch(all, new RegExp(String.raw`^env t:[^\n]*\[(?!${keys}\])`, 'm'));
  assert.doesNotMatch(all, /mt=(?!false)/);
  // a library loads once per process's `loaded`, and again when its code is instantiated again
  assert.match(all, /main true lib\d+:time/);
  // what a process writes lands in its own table: pairs(_G) lists _G, require and its own
  assert.match(all, /main true _G,require,x:5:true/);
});

test('make_env and compile in C: mutants of the Lua are caught by the transcripts', () => {
  const mutants: Array<[string, string]> = [
    // an upgrade's environment keeps the old `loaded` (the library is not loaded again)
    ['if loaded == nil and LOADED[P] ~= nil then LOADED[P] = nil end', 'if false then LOADED[P] = nil end'],
    // _G is not the environment
    ['    env._G = env\n', '    env._G = SHARED\n'],
    // the environment's metatable is not hidden
    ['local ENV_MT = { __index = SHARED, __metatable = false }', 'local ENV_MT = { __index = SHARED }'],
    // a require per environment, not per entry
    ['    local env = setmetatable({ _G = false, require = require_for(E) }, ENV_MT)', '    REQUIRE[E] = nil\n    local env = setmetatable({ _G = false, require = require_for(E) }, ENV_MT)'],
    // compile does not cache
    ['    if f then return f end\n    local src = E.source', '    local src = E.source'],
    // require's checks in the other order (a listed built-in answered with no process running)
    ['      if solo and P and allowed[name] then', '      if solo and allowed[name] then'],
  ];
  assertMutantsCaught(engine, 'SB_SRC', SRC, 'sandbox', mutants, (withC, seed) => world(withC, seed)[0], 20);
});
