// Error values that are tables (issue 13): `error({code = 42})` ends the process with an error
// whose message is the table's fields (`{code = 42}`, not "table: 0x...") and whose details are
// the table as data; a table with __tostring keeps its own text. The rendering reads raw fields
// only, in a stable order, bounded in fields, depth and length (src/lua/kernel/errors.lua).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRuntime } from '../src/index.js';

const raiser = (id: string, value: string) => ({ id, kind: 'process.lua', method: 'main', source: `return { main = function() error(${value}) end }` });

test('a table raised as an error: its fields as the message, the table as details', async () => {
  const rt = await createRuntime({
    entries: [
      { id: 't:p', kind: 'process.host', host: { workers: 1 } },
      raiser('t:fields', '{ code = 42, why = "no disk" }'),
      raiser('t:list', '{ 1, 2.5, "x" }'),
      raiser('t:nested', '{ a = { b = { c = 1 } }, n = 1 }'),
      raiser('t:keys', '{ [true] = 1, ["a b"] = 2, [3] = "three", z = "line\\nbreak" }'),
      raiser('t:many', '(function() local t = {} for i = 1, 20 do t["k" .. string.format("%02d", i)] = i end return t end)()'),
      raiser('t:func', '{ code = 1, f = print }'),
      raiser('t:tostring', 'setmetatable({}, { __tostring = function() return "my error" end })'),
      raiser('t:index', 'setmetatable({}, { __index = function() error("never called") end })'),
    ],
  });
  const message = async (id: string) => (await rt.run(id, [], { host: 't:p' })).error;
  try {
    const f = (await message('t:fields'))!;
    assert.equal(f.message, '{code = 42, why = "no disk"}');
    assert.equal(f.kind, 'Internal');
    assert.deepEqual(f.details, { code: 42, why: 'no disk' });
    assert.match(f.traceback ?? '', /^stack traceback:/, 'a JS watcher gets the Lua traceback');
    assert.equal((await message('t:list'))!.message, '{1, 2.5, "x"}');
    assert.equal((await message('t:nested'))!.message, '{a = {b = {...}}, n = 1}');
    assert.equal((await message('t:keys'))!.message, '{[true] = 1, [3] = "three", ["a b"] = 2, z = "line\\nbreak"}');
    assert.equal((await message('t:many'))!.message,
      '{k01 = 1, k02 = 2, k03 = 3, k04 = 4, k05 = 5, k06 = 6, k07 = 7, k08 = 8, k09 = 9, k10 = 10, k11 = 11, k12 = 12, k13 = 13, k14 = 14, k15 = 15, k16 = 16, ...}');
    assert.equal((await message('t:func'))!.message, '{code = 1, f = function} (error details dropped: cannot send a function)');
    assert.equal((await message('t:tostring'))!.message, 'my error');
    assert.equal((await message('t:index'))!.message, '{}', 'no metamethod runs');
  } finally {
    await rt.stop(1000);
  }
});
