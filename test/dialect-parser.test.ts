// The typed-Lua compiler (src/dialect/): plain Lua passes through byte for byte, typed Lua
// becomes valid Lua 5.4 with every line where it was (checked by loading the output in real Lua
// and reading line numbers off errors and tracebacks), and bad syntax is reported with file, line
// and token.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { compileLua, compileUncached, compileStats, LuaSyntaxError } from '../src/dialect/compile.js';
import { tokenize } from '../src/dialect/lexer.js';
import { runChunk, typesLua } from './helpers/dialect-lua.js';

/** Fixture folders written in typed Lua (the rest of the repository's .lua files are plain). */
const TYPED_FIXTURES = ['dialect', 'docs-app'];

function luaFiles(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) luaFiles(p, out);
    else if (name.endsWith('.lua') && !TYPED_FIXTURES.some((d) => p.includes(`${path.sep}${d}${path.sep}`))) out.push(p);
  }
  return out;
}

/**
 * Lines of a compiled text and its source agree: the same number of lines, and on every line
 * except the ones a `type` declaration was replaced on, the output's tokens are the source line's
 * tokens with the annotations taken out (a subsequence, in order).
 */
function assertLinesKept(src: string, out: string): void {
  const srcLines = src.split('\n');
  const outLines = out.split('\n');
  assert.equal(outLines.length, srcLines.length, 'line count');
  const byLine = (text: string) => {
    const m = new Map<number, string[]>();
    for (const t of tokenize(text)) m.set(t.line, [...(m.get(t.line) ?? []), t.value]);
    return m;
  };
  const a = byLine(src);
  const b = byLine(out);
  for (const [line, toks] of b) {
    if (outLines[line - 1]!.includes('__types')) continue;
    const have = a.get(line) ?? [];
    let j = 0;
    for (const t of toks) {
      // `>=` / `>>` closing generic arguments: the `>` is erased, the rest stays
      const same = (x: string) => x === t || (/^>[>=]$/.test(x) && x[1] === t);
      while (j < have.length && !same(have[j]!)) j++;
      assert.ok(j < have.length, `line ${line}: token ${t} is not from the source line: ${outLines[line - 1]}`);
      j++;
    }
  }
}

describe('plain Lua is unchanged', () => {
  const files = [...luaFiles('src/lua'), ...luaFiles('test'), ...luaFiles('config')];
  test(`every .lua file of the repository (${files.length} files) compiles to itself`, () => {
    assert.ok(files.length >= 20, `found ${files.length} files`);
    for (const f of files) {
      const src = readFileSync(f, 'utf8');
      assert.equal(compileUncached(src), src, f);
    }
  });

  test('tricky plain Lua 5.4 passes through byte for byte', () => {
    const src = String.raw`
local s = "a: b -> c" -- x: number -> y
local t = 'it\'s' .. "q\"uote: ::" .. '\z
           continued' .. "\x41\u{48}\065" .. "back\
slash newline"
local long = [==[ local x: number = 1 ]] still -> inside ]=] ]==]
--[[ local y: string
  spans -> lines ]]
--[=[ ]] ]=] local after = 1
local k <const> = 5
local h <close> = nil
local obj = { m = function(self, x) return x end, ["key: x"] = 1, [1] = 2; n = 3 }
local r = obj:m(1) + obj.m(obj, 2) + #("x"):rep(3)
local q = ("%d"):format(7):upper()
local w = obj:m{1} or obj:m"s"
for i = 1, 10 do
  if i % 2 == 0 then goto continue end
  ::continue::
end
local bits = 7 // 2 + (5 & 3 | 1 ~ 2 << 1 >> 1) + ~0
local type_ = type(k)
local as = 1; as = as + 1
local export = {}; export.type = type
local x = 0x1p4 + 1e-3 + .5 + 3. + 0xA.8p0
local f = function(...) return select('#', ...) end
a, b = 1, 2
repeat local z = 1 until z == 1
while false do break end
do local _ENV = { print = print } end
return obj, r
`;
    assert.equal(compileUncached(src), src);
  });
});

describe('typed Lua', () => {
  test('every construct of the type-system documentation compiles, keeps its lines and runs', async () => {
    const src = readFileSync('test/fixtures/dialect/typed.lua', 'utf8');
    const out = compileUncached(src);
    assertLinesKept(src, out);
    const lua = await typesLua();
    try {
      const r = await runChunk(lua, `${out}`, 'typed.lua');
      assert.equal(r, 'OK: ' + r.slice(4), r);
      assert.match(r, /^OK: table/);
      // the values the chunk built behave
      lua.global.set('CHUNK', out);
      await lua.doString(String.raw`
        local m = load(CHUNK, "@typed.lua")()
        eq(m.add(1, 2), 3, "add")
        eq(m.sum(1, 2, 3), 6, "sum")
        eq(m.identity("x"), "x", "identity")
        eq(m.greet({ name = "A" }), "Hello, A", "greet")
        eq(m.double(4), 8, "double")
        eq(m.name, "u", "non-nil assertion erased")
        eq(m.Status:kind(), "union", "Status kind")
        eq(m.User:kind(), "record", "User kind")
        eq(m.User:name(), "User", "User name")
        eq(select(2, m.Config:is({ host = "h" })):kind(), "Invalid", "missing port")
        assert(m.Config:is({ host = "h", port = 1 }))
        assert(m.Person:is({ name = "a", age = 1 }))
        assert(not m.Person:is({ name = "a" }))
        assert(m.Result:is({ ok = true, value = 5 }))
        assert(m.Result:is({ ok = false, error = "e" }))
        assert(not m.Result:is({ ok = "yes" }))
        assert(m.LoadState:is({ status = "loaded", data = { name = "n", age = 1 } }))
        assert(not m.LoadState:is({ status = "loaded", data = { name = "n" } }))
        assert(m.Checked:is({ age = 10, name = "x" }))
        assert(not m.Checked:is({ age = 200, name = "x" }))
        assert(not m.Checked:is({ age = 10, name = "" }))
        assert(m.StringArray:is({ "a", "b" }) and not m.StringArray:is({ 1 }))
        assert(m.StringMap:is({ a = 1 }) and not m.StringMap:is({ a = "1" }))
      `);
    } finally {
      lua.global.close();
    }
  });

  test('tricky typed sources: strings, comments, long brackets, methods, generics, nested function types, labels', async () => {
    const src = String.raw`local s: string = "x: number -> y" -- c: (a) -> b
local long: string = [==[
  local z: number = ]] :: ]==]
--[[ type X = { a: b }
]] local obj = { v = 2 }
function obj:get(k: string?): number return self.v end
local m: number = obj:get("k") + obj.get(obj)
local function pair<K, V>(k: K, v: V): {[K]: V}
  return { [k] = v }
end
local nest: (number, (string) -> boolean) -> ((number) -> string)? = nil
local deep: Map<string, List<Array<number>>> = {}
local ge: Map<string, number>= {}
local c <const>: number = 1
local d: number <const> = 2
local cast = (obj :: any).v + (obj as {v: number}).v
for i: integer = 1, 3 do
  if i == 2 then goto continue end
  ::continue::
end
for k: string, v: number in pairs({ a = 1 }) do end
local f = function<T>(x: T, ...: any): (T, ...any) return x, ... end
type Tree = { value: number, children: {Tree}? }
local idiv: integer = 7 // 2 | 1
local ret = obj:get() :: number
::done::
return { m = m, cast = cast, ret = ret, tree = Tree:is({ value = 1, children = { { value = 2 } } }) ~= nil, long = long, s = s }
`;
    const out = compileUncached(src);
    assertLinesKept(src, out);
    assert.ok(out.includes('"x: number -> y" -- c: (a) -> b'), 'string and comment untouched');
    assert.ok(out.includes('local z: number = ]] :: ]==]'), 'long string untouched');
    assert.ok(out.includes('obj:get("k") + obj.get(obj)'), 'method calls untouched');
    assert.ok(out.includes('::continue::') && out.includes('::done::'), 'labels kept');
    const lua = await typesLua();
    try {
      lua.global.set('CHUNK', out);
      await lua.doString(String.raw`
        local t = assert(load(CHUNK, "@tricky.lua"))()
        eq(t.m, 4, "m"); eq(t.cast, 4, "cast"); eq(t.ret, 2, "ret"); eq(t.tree, true, "recursive type")
        eq(t.s, "x: number -> y", "s")
      `);
    } finally {
      lua.global.close();
    }
  });

  test('errors and tracebacks name the line the user wrote', async () => {
    const src = [
      'type Item = {',          // 1
      '  id: integer,',         // 2
      '  tags: {string}?',      // 3
      '}',                      // 4
      'local function inner<T>(x: T,', // 5
      '    y: {',                // 6
      '      a: number',        // 7
      '    }): (T,',             // 8
      '         number)',        // 9
      '  error("boom at 10")',   // 10
      'end',                     // 11
      'local function outer(v: Item): never', // 12
      '  return (inner(v, { a = 1 }))', // 13
      'end',                     // 14
      'local r = outer({ id = 1 } :: Item); return r', // 15
    ].join('\n');
    const out = compileUncached(src);
    assertLinesKept(src, out);
    const lua = await typesLua();
    try {
      const r = await runChunk(lua, out, 'app/typed.lua');
      assert.match(r, /^ERROR: app\/typed\.lua:10: boom at 10/);
      assert.match(r, /app\/typed\.lua:10: in (local|upvalue|function) 'inner'/);
      assert.match(r, /app\/typed\.lua:13: in /);
      assert.match(r, /app\/typed\.lua:15: in main chunk/);
      // a failed cast of a type declared over lines 1-4 is raised on the line of the call
      const r2 = await runChunk(lua, compileUncached(src.replace('local r = outer({ id = 1 } :: Item); return r', 'Item({ id = "x" })')), 'app/t2.lua');
      assert.match(r2, /^ERROR: Item: field "id": expected integer, got string/);
      assert.match(r2, /app\/t2\.lua:15: in main chunk/);
    } finally {
      lua.global.close();
    }
  });

  test('a library exports its types on the table it returns', async () => {
    const out = compileUncached('export type User = {name: string}\ntype Private = number\nlocal M = {}\nreturn M');
    assert.equal(out.split('\n').length, 4);
    const lua = await typesLua();
    try {
      lua.global.set('CHUNK', out);
      await lua.doString(String.raw`
        local m = load(CHUNK)()
        eq(m.User:name(), "User", "exported")
        eq(m.Private, nil, "not exported")
        eq(m.User({ name = "a" }).name, "a", "cast through the library")
      `);
    } finally {
      lua.global.close();
    }
  });
});

describe('syntax errors', () => {
  const cases: Array<[string, number, string, RegExp]> = [
    ['local x: = 1', 1, '=', /type expected/],
    ['local function f(x: number\n  return x\nend', 2, 'return', /'\)' expected/],
    ['local t = {\n a = 1,\n b = 2\n\nlocal z = 3', 5, 'local', /'}' expected \(to close '\{' at line 1\)/],
    ['type User = {name string}', 1, 'string', /'}' expected|':' expected|field name/],
    ['local s = "unfinished\nlocal y = 2', 1, '"unfinished', /unfinished string/],
    ['local a = [[\nnever closed', 2, '<eof>', /unfinished long string \(starting at line 1\)/],
    ['if x then\n  y = 1\n', 3, '<eof>', /'end' expected \(to close 'if' at line 1\)/],
    ['x = = 2', 1, '=', /unexpected symbol/],
    ['f() g', 1, '<eof>', /syntax error/],
    ['local x = 1 $ 2', 1, '$', /unexpected symbol/],
  ];
  for (const [src, line, token, detail] of cases) {
    test(`${JSON.stringify(src.slice(0, 30))} -> line ${line}, near '${token}'`, () => {
      assert.throws(() => compileLua(src, 'src/app/bad.lua'), (e: LuaSyntaxError) => {
        assert.ok(e instanceof LuaSyntaxError);
        assert.equal(e.file, 'src/app/bad.lua');
        assert.equal(e.line, line, e.message);
        assert.equal(e.token, token, e.message);
        assert.match(e.detail, detail);
        assert.ok(e.message.startsWith(`src/app/bad.lua:${line}: syntax error: `), e.message);
        return true;
      });
    });
  }

  test('the cache compiles a source once, and reports a cached error under the caller\'s file name', () => {
    const src = `local unique_${Date.now()}: number = 1`;
    const before = compileStats.compiled;
    compileLua(src, 'a.lua');
    compileLua(src, 'b.lua');
    assert.equal(compileStats.compiled - before, 1);
    const bad = 'local = 1 -- cached error';
    assert.throws(() => compileLua(bad, 'one.lua'), /^LuaSyntaxError|one\.lua:1:/);
    assert.throws(() => compileLua(bad, 'two.lua'), (e: Error) => e.message.startsWith('two.lua:1:'));
  });
});
