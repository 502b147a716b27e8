// `require` of built-in modules (src/lua/kernel/sandbox.lua require_for): an entry without imports
// gets a built-in it lists straight from the one shared value, with no per-process `loaded` table;
// an entry with imports keeps the `loaded` table it shares with its libraries, so a library still
// sees a built-in its process loaded first (the corner the shortcut must not change), and a
// library that never got one is still refused a built-in it does not list.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { scenarioRuntime, main, type Scenario } from './helpers/lua-runtime.js';
import type { Runtime } from '../src/index.js';

const scenarios: Scenario[] = [
  { name: 'solo', modules: ['time', 'json'], source: main(`
    eq(require("time"), time, "the prelude's time again")
    local j = require("json")
    eq(type(j), "table"); eq(require("json"), j, "the same value on every call")
    eq(j.encode({ 1, 2 }), "[1,2]")
    local ok, err = pcall(require, "yaml")
    eq(ok, false); has(err, "module 'yaml' not found: list it in the entry's modules or imports")
    ok, err = pcall(require, 42)
    eq(ok, false); has(err, "string expected")
    eq(require("process"), process)
    return true`) },
  { name: 'with_lib', modules: ['time', 'json'], imports: { util: 'test:jsonlib' }, source: main(`
    local j = require("json")
    local util = require("util")
    eq(util.get(), j, "a library sees the built-in its process loaded (their shared loaded table)")
    eq(require("util"), util, "a library is loaded once per process")
    return true`) },
  { name: 'lib_first', modules: ['time', 'json'], imports: { util: 'test:jsonlib' }, source: main(`
    local util = require("util")
    local ok, err = pcall(util.get)
    eq(ok, false); has(err, "module 'json' not found", "the library does not list json and nothing loaded it yet")
    return true`) },
];

let rt: Runtime;
before(async () => {
  rt = await scenarioRuntime(scenarios, {
    extra: [{ id: 'test:jsonlib', kind: 'library.lua', source: 'return { get = function() return require("json") end }' }],
  });
});
after(async () => { await rt.stop(1000); });

for (const s of scenarios) {
  test(`require: ${s.name}`, async () => {
    assert.equal(await rt.exec(`test:${s.name}`), true);
  });
}

test('require: many processes of an entry without imports each get the built-in', async () => {
  // 20 jobs of the entry at once, on both workers: the shortcut serves every instantiation on
  // every worker, not only the first.
  const r = await Promise.all(Array.from({ length: 20 }, () => rt.exec('test:solo')));
  assert.deepEqual(r, Array.from({ length: 20 }, () => true));
});
