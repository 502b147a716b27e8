// The runtime of the typed-Lua dialect (src/lua/lib/types.lua) in a plain Lua state: casts by
// calling a type, `T:is`, the documented error values, reflection and subtyping. Each test
// compiles a typed snippet (src/dialect/) and runs it; its `eq` / `fails` raise on a mismatch.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { LuaEngine } from 'wasmoon';
import { compileUncached } from '../src/dialect/compile.js';
import { typesLua } from './helpers/dialect-lua.js';

let lua: LuaEngine;
before(async () => {
  lua = await typesLua();
  await lua.doString(String.raw`
    -- fails(msg, f, ...): f(...) raises an Invalid error whose message contains msg (plain text)
    function fails(msg, f, ...)
      local ok, e = pcall(f, ...)
      if ok then error("expected a failure, got " .. tostring(e), 2) end
      if type(e) ~= "table" or e:kind() ~= "Invalid" then error("expected an Invalid error, got " .. tostring(e), 2) end
      if not e:message():find(msg, 1, true) then error("message: got '" .. e:message() .. "', want '" .. msg .. "'", 2) end
    end
  `);
});
after(() => lua.global.close());

async function run(typed: string): Promise<void> {
  lua.global.set('SNIPPET', compileUncached(typed));
  await lua.doString('assert(load(SNIPPET, "@snippet.lua"))()');
}

describe('primitive casts', () => {
  test('string(x): strings, numbers and error objects convert; anything else is Invalid', () => run(String.raw`
    eq(string("a"), "a"); eq(string(42), "42"); eq(string(1.5), "1.5")
    fails("cannot cast boolean to string", string, true)
    fails("cannot cast table to string", string, {})
    fails("cannot cast nil to string", string, nil)
    -- the library is untouched
    eq(string.format("%d-%s", 1, "x"), "1-x"); eq(("ab"):upper(), "AB"); eq(string.rep("x", 3), "xxx")
  `));

  test('number(x) and integer(x)', () => run(String.raw`
    eq(number(2.5), 2.5); eq(number("3.5"), 3.5); eq(number("0x10"), 16)
    fails('cannot cast "abc" to number', number, "abc")
    fails("cannot cast boolean to number", number, false)
    eq(math.type(integer("42")), "integer"); eq(integer("42"), 42)
    eq(math.type(integer(3.0)), "integer"); eq(integer(7), 7)
    fails("cannot cast 3.5 to integer", integer, 3.5)
    fails('cannot cast "4.5" to integer', integer, "4.5")
    fails("cannot cast table to integer", integer, {})
  `));

  test('boolean(x)', () => run(String.raw`
    eq(boolean(true), true); eq(boolean(false), false); eq(boolean("true"), true); eq(boolean("false"), false)
    fails("cannot cast 1 to boolean", boolean, 1)
    fails('cannot cast "yes" to boolean', boolean, "yes")
  `));
});

describe('declared types', () => {
  test('a record validates structure and returns the value itself; :is returns (value, nil) or (nil, error)', () => run(String.raw`
    type Point = {x: number, y: number}
    local data = {x = 1, y = 2, extra = "kept"}
    eq(Point(data), data, "same table")
    local p, err = Point:is(data)
    eq(p, data); eq(err, nil)
    p, err = Point:is({x = 1})
    eq(p, nil); eq(err:kind(), "Invalid"); eq(err:message(), 'Point: missing field "y" (number)')
    fails('Point: field "y": expected number, got string', Point, {x = 1, y = "2"})
    fails("Point: expected {x: number, y: number}, got string", Point, "nope")
    if Point:is({x = 0, y = 0}) then else error("narrowing form") end
  `));

  test('optional fields, nested records, arrays and maps name the failing path', () => run(String.raw`
    type Address = {city: string, zip?: string}
    type User = {name: string, age: integer?, address: Address, tags: {string}, scores: {[string]: number}}
    local ok = {name = "a", address = {city = "c"}, tags = {"x"}, scores = {m = 1}}
    eq(User(ok), ok)
    fails('User: field "address.zip": expected string, got integer',
      User, {name = "a", address = {city = "c", zip = 12}, tags = {}, scores = {}})
    fails('User: field "tags[2]": expected string, got boolean', User, {name = "a", address = {city = "c"}, tags = {"x", true}, scores = {}})
    fails('User: field "scores.m": expected number, got string', User, {name = "a", address = {city = "c"}, tags = {}, scores = {m = "1"}})
    fails('User: field "age": expected integer?, got number', User, {name = "a", age = 1.5, address = {city = "c"}, tags = {}, scores = {}})
  `));

  test('literal unions, tagged unions, intersections, validators, recursive types', () => run(String.raw`
    type Status = "pending" | "active" | "done"
    eq(Status("active"), "active")
    fails('Status: expected "pending" | "active" | "done", got string', Status, "invalid")
    type Result<T, E> = {ok: true, value: T} | {ok: false, error: E}
    assert(Result:is({ok = true, value = 1})); assert(Result:is({ok = false, error = "e"}))
    assert(not Result:is({ok = true}) == false or true)
    eq(select(2, Result:is({ok = "x"})):kind(), "Invalid")
    type Named = {name: string}
    type Aged = {age: number}
    type Person = Named & Aged
    assert(Person:is({name = "n", age = 1})); eq(Person:is({name = "n"}), nil)
    type Bounded = {age: number @min(0) @max(150), name: string @min_len(1) @pattern("^%a+$")}
    assert(Bounded:is({age = 3, name = "ab"}))
    fails('Bounded: field "age": must be at most 150', Bounded, {age = 151, name = "ab"})
    fails('Bounded: field "name": length must be at least 1', Bounded, {age = 1, name = ""})
    fails('Bounded: field "name": must match pattern', Bounded, {age = 1, name = "a1"})
    type Node = {value: number, next: Node?}
    assert(Node:is({value = 1, next = {value = 2, next = {value = 3}}}))
    fails('Node: field "next.next.value": expected number, got string', Node, {value = 1, next = {value = 2, next = {value = "3"}}})
  `));

  test('a type used before the type it names is declared is an Invalid error naming it', () => run(String.raw`
    type A = {b: Later}
    fails("type Later is not defined where it is used", A, {b = 1})
  `));
});

describe('reflection and comparison', () => {
  test('kind, name, fields, field types, collections, optionals, unions, functions', () => run(String.raw`
    type Point = {x: number, y: number}
    eq(Number:kind(), "number"); eq(Point:kind(), "record"); eq(Point:name(), "Point")
    type User = {name: string, age: number}
    local seen = {}
    for name, typ in User:fields() do seen[#seen + 1] = name .. ":" .. typ:kind() end
    eq(table.concat(seen, ","), "name:string,age:number")
    local nameType = User.name
    eq(nameType:kind(), "string", "field type")
    eq(User:name(), "User", "the name method still works on a record with a field called name")
    type Arr = {number}
    type Map = {[string]: number}
    type Opt = number?
    eq(Arr:kind(), "array"); eq(Arr:elem():kind(), "number")
    eq(Map:key():kind(), "string"); eq(Map:val():kind(), "number")
    eq(Opt:kind(), "optional"); eq(Opt:inner():kind(), "number")
    type Status = "pending" | "active" | "done"
    local vs = {}
    for v in Status:variants() do vs[#vs + 1] = tostring(v) end
    eq(table.concat(vs, " "), '"pending" "active" "done"')
    type Fn = (number, string) -> boolean
    local ps = {}
    for p in Fn:params() do ps[#ps + 1] = p:kind() end
    eq(table.concat(ps, ","), "number,string"); eq(Fn:ret():kind(), "boolean")
    eq(Fn(print), print); fails("Fn: expected (number, string) -> (boolean), got integer", Fn, 1)
  `));

  test('comparison is subtyping; types are table keys; typeof', () => run(String.raw`
    eq(Number == Number, true); eq(Integer <= Number, true); eq(Integer < Number, true)
    eq(Number <= Integer, false); eq(Number < Number, false); eq(Number <= Number, true)
    type S = "a" | "b"
    eq(S <= String, true); eq(String <= S, false)
    type P = {x: number}
    type Q = {x: integer, y: string}
    eq(Q <= P, true); eq(P <= Q, false)
    local handlers = {}
    handlers[Number] = function() return "number handler" end
    handlers[String] = function() return "string handler" end
    eq(handlers[typeof("x")](), "string handler"); eq(handlers[typeof(1.5)](), "number handler")
    eq(typeof(1), Integer); eq(typeof(nil):kind(), "nil"); eq(typeof({}):kind(), "table")
  `));
});

test('typeof of a local declared with a type gives the declared type (collections, optionals, functions)', () => run(String.raw`
  local arr: {number} = {1, 2, 3}
  local arrType = typeof(arr)
  eq(arrType:elem():kind(), "number")
  local map: {[string]: number} = {}
  local mapType = typeof(map)
  eq(mapType:key():kind(), "string"); eq(mapType:val():kind(), "number")
  local opt: number? = nil
  local optType = typeof(opt)
  eq(optType:kind(), "optional"); eq(optType:inner():kind(), "number")
  local fn: (number, string) -> boolean
  local fnType = typeof(fn)
  local ks = {}
  for param in fnType:params() do ks[#ks + 1] = param:kind() end
  eq(table.concat(ks, ","), "number,string"); eq(fnType:ret():kind(), "boolean")
  do local arr = {1}; eq(typeof(arr):kind(), "table", "a shadowing local without a type") end
  local function f(x: string?) return typeof(x) end
  eq(f("a"):kind(), "optional")
`));

test('a failed cast is an error object a pcall can inspect (kind Invalid), not a string', async () => {
  await run(String.raw`
    local ok, e = pcall(integer, "x")
    eq(ok, false); eq(e:kind(), "Invalid"); eq(e:message(), 'cannot cast "x" to integer')
  `);
  assert.ok(true);
});
