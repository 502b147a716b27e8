// The `test` Lua module (src/lua/lib/test.lua) alone, in a wasmoon Lua state, with fakes of what
// it receives: the state's own pcall (the kernel passes the sandbox's, which also re-raises a
// kill) and a hand-advanced clock. Test code runs in a "process environment" built like the
// kernel's: a global table whose misses fall through to a shared table, holding a read-only
// `process`, and chunks compiled with `local _ENV = ...` as the kernel compiles entries.
import { test } from 'node:test';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { LuaFactory } from 'wasmoon';

const TEST_SRC = readFileSync(path.resolve('src/lua/lib/test.lua'), 'utf8');
const factory = new LuaFactory();

const PRELUDE = String.raw`
CLOCK = 0
T = assert(load(TEST_SRC, "=test.lua", "t"))()({ pcall = pcall, now_ms = function() return CLOCK end })
SENT = {}
local real_process = { send = function(pid, topic, v) SENT[#SENT + 1] = topic; return true end }
local ro_process = setmetatable({}, { __index = real_process, __newindex = function() error("read-only", 2) end })
SHARED = { process = ro_process, pcall = pcall, error = error, type = type, tostring = tostring,
  rawget = rawget, ipairs = ipairs, table = table, string = string, setmetatable = setmetatable }
-- run source as an entry of a process would run: its own globals over SHARED
function entry(src, name)
  local env = setmetatable({}, { __index = SHARED })
  env._G = env
  env.test = T
  local f = assert(load("local _ENV = ...; " .. src, "=" .. (name or "entry"), "t"))
  return f(env), env
end
function check(cond, what) if not cond then error(what or "check failed", 2) end end
function eq(got, want, what)
  if got ~= want then error(("%s: got %s, want %s"):format(what or "value", tostring(got), tostring(want)), 2) end
end
-- the message an assertion raises (asserting that it raises)
function raised(fn, ...)
  local ok, e = pcall(fn, ...)
  if ok then error("expected the assertion to fail", 2) end
  return e
end
`;

async function lua(code: string): Promise<void> {
  const engine = await factory.createEngine({ openStandardLibs: true, injectObjects: false, enableProxy: false });
  try {
    engine.global.set('TEST_SRC', TEST_SRC);
    await engine.doString(PRELUDE);
    await engine.doString(code);
  } finally {
    engine.global.close();
  }
}

test('assertions pass quietly and fail with the assertion, the values and the message', async () => {
  await lua(String.raw`
    T.eq(1, 1); T.eq({ a = { 1, 2 } }, { a = { 1, 2 } }); T.neq({ 1 }, { 2 }); T.ok(0); T.is_nil(nil)
    T.not_nil(false); T.is_true(true); T.is_false(false); T.is_string(""); T.is_number(1.5)
    T.is_table({}); T.is_function(print); T.is_boolean(false); T.contains("abc", "b")
    T.contains({ 1, "x" }, "x"); T.matches("a1", "%d"); T.has_key({ k = 1 }, "k"); T.len({ 1, 2 }, 2)
    T.len("abc", 3); T.gt(2, 1); T.gte(1, 1); T.lt("a", "b"); T.lte(1, 1)
    T.has_error(nil, "e"); T.no_error(1, nil)
    eq(T.throws(function() error("x", 0) end), "x")
    check(raised(T.eq, 1, 2, "why"):find("eq: expected 2, got 1: why", 1, true))
    check(raised(T.eq, { a = 1 }, { a = 2 }):find('eq: expected {a = 2}, got {a = 1}', 1, true))
    check(raised(T.eq, "1", 1):find('eq: expected 1, got "1"', 1, true), "no coercion")
    check(raised(T.fail, "TODO"):find("fail: TODO", 1, true))
    check(raised(T.contains, "abc", "."):find('contains: "abc" does not contain "."', 1, true), "plain, not a pattern")
    check(raised(T.gt, 1, "2"):find("gt: cannot compare number with string", 1, true))
    check(raised(T.lt, 2, 1):find("lt: expected 2 < 1", 1, true))
    check(raised(T.throws, function() end):find("throws: expected an error, got none", 1, true))
    check(raised(T.has_error, 1, nil):find("has_error: expected nil and an error, got value 1", 1, true))
    check(raised(T.no_error, nil, "bad"):find("no_error: unexpected error bad", 1, true))
    check(raised(T.len, 5, 1):find("len: expected a table or string, got number", 1, true))
  `);
});

test('an assertion error points at the test line that called it', async () => {
  await lua(String.raw`
    local mod = entry("return function() test.eq(1, 2) end", "my_test.lua")
    local ok, e = pcall(mod)
    check(not ok); check(e:find("^my_test.lua:1: eq: expected 2, got 1"), e)
  `);
});

test('cases run in definition order; hooks nest; skip and failure are counted; durations from the clock', async () => {
  await lua(String.raw`
    local log = {}
    local run = T.run_cases(function()
      T.before_each(function() log[#log + 1] = "root+" end)
      T.describe("a", function()
        T.before_all(function() log[#log + 1] = "a{" end)
        T.after_all(function() log[#log + 1] = "a}" end)
        T.before_each(function() log[#log + 1] = "a+" end)
        T.after_each(function() log[#log + 1] = "a-" end)
        T.it("one", function() log[#log + 1] = "one"; CLOCK = CLOCK + 5 end)
        T.it("two fails", function() log[#log + 1] = "two"; T.eq(1, 2) end)
        T.it_skip("three", function() log[#log + 1] = "never" end)
        T.context("b", function()
          T.it("four", function() log[#log + 1] = "four" end)
        end)
      end)
      T.it("top", function() log[#log + 1] = "top" end)
    end)
    local r = run()
    eq(table.concat(log, " "), "a{ root+ a+ one a- root+ a+ two a- root+ a+ four a- a} root+ top")
    eq(r.total, 5); eq(r.passed_tests, 3); eq(r.failed_tests, 1); eq(r.skipped_tests, 1)
    local c = r.cases
    eq(c[1].full_name, "a one"); eq(c[1].status, "passed"); eq(c[1].duration_ms, 5); eq(c[1].suite, "a")
    eq(c[2].status, "failed"); check(c[2].error:find("eq: expected 2, got 1", 1, true))
    eq(c[3].status, "skipped"); eq(c[4].full_name, "a b four"); eq(c[4].suite, "a b")
    eq(c[5].full_name, "top"); eq(c[5].suite, "")
    -- run again: a fresh tree, the same result
    log = {}
    eq(run().total, 5)
  `);
});

test('a failing before_all fails every case under it without running them or their hooks', async () => {
  await lua(String.raw`
    local ran = {}
    local r = T.run_cases(function()
      T.describe("broken", function()
        T.before_all(function() error("no database", 0) end)
        T.before_each(function() ran[#ran + 1] = "hook" end)
        T.it("x", function() ran[#ran + 1] = "x" end)
        T.describe("inner", function()
          T.before_all(function() ran[#ran + 1] = "inner{" end)
          T.it("y", function() ran[#ran + 1] = "y" end)
        end)
      end)
      T.it("outside", function() ran[#ran + 1] = "outside" end)
    end)()
    eq(table.concat(ran, " "), "outside")
    eq(r.failed_tests, 2); eq(r.passed_tests, 1)
    eq(r.cases[1].error, "before_all: no database"); eq(r.cases[2].error, "before_all: no database")
  `);
});

test('after_each runs after a failing case; its own failure fails a passing case', async () => {
  await lua(String.raw`
    local after = 0
    local r = T.run_cases(function()
      T.describe("s", function()
        T.after_each(function() after = after + 1; if after == 2 then error("cleanup broke", 0) end end)
        T.it("fails", function() error("body", 0) end)
        T.it("passes but cleanup fails", function() end)
      end)
    end)()
    eq(after, 2); eq(r.failed_tests, 2)
    eq(r.cases[1].error, "body"); eq(r.cases[2].error, "after_each: cleanup broke")
  `);
});

test('a failing after_all is a failed case of its own; after_all still runs after a failed before_all', async () => {
  await lua(String.raw`
    local cleaned = false
    local r = T.run_cases(function()
      T.describe("s", function()
        T.after_all(function() error("teardown broke", 0) end)
        T.it("fine", function() end)
      end)
      T.describe("t", function()
        T.before_all(function() error("setup broke", 0) end)
        T.after_all(function() cleaned = true end)
        T.it("never", function() end)
      end)
    end)()
    eq(r.total, 3); eq(r.passed_tests, 1); eq(r.failed_tests, 2)
    eq(r.cases[2].full_name, "s after_all"); eq(r.cases[2].error, "after_all: teardown broke")
    eq(r.cases[3].error, "before_all: setup broke"); check(cleaned, "after_all ran")
  `);
});

test('mocks: a global field of a shared read-only table is shadowed per process and restored', async () => {
  await lua(String.raw`
    local mod, env = entry([[
      local function notify(x) return process.send("{p}", "note", x) end
      local seen = {}
      local run = test.run_cases(function()
        test.it("mocked", function()
          test.mock("process.send", function(_, topic) seen[#seen + 1] = "fake:" .. topic end)
          notify(1)
          test.eq(seen, { "fake:note" })
        end)
        test.it("restored", function()
          notify(2)
          test.eq(rawget(_G, "process"), nil)
        end)
        test.it("mock_process and restore_mock", function()
          test.mock_process("send", function() seen[#seen + 1] = "mp" end)
          notify(3)
          test.restore_mock("process.send")
          notify(4)
        end)
      end)
      return { run = run, seen = seen }
    ]])
    local r = mod.run()
    eq(r.failed_tests, 0, r.cases[1].error or r.cases[2].error or r.cases[3].error)
    eq(table.concat(mod.seen, " "), "fake:note mp")
    eq(table.concat(SENT, " "), "note note", "the real send ran for notify(2) and notify(4)")
    eq(rawget(env, "process"), nil, "nothing left behind")
  `);
});

test('mocks: a table field is replaced for one case and put back, even when the case fails', async () => {
  await lua(String.raw`
    local lib = { f = function() return "real" end }
    local r = T.run_cases(function()
      T.it("fails with a mock in place", function()
        T.mock(lib, "f", function() return "fake" end)
        T.eq(lib.f(), "fake")
        error("boom", 0)
      end)
      T.it("sees the real one", function() T.eq(lib.f(), "real") end)
    end)()
    eq(r.failed_tests, 1); eq(r.cases[2].status, "passed"); eq(lib.f(), "real")
  `);
});

test('two processes defining and running at once keep their own suites', async () => {
  await lua(String.raw`
    local function proc(tag)
      return coroutine.create(function()
        return T.run_cases(function()
          T.describe(tag, function()
            T.it("first", function() end)
            coroutine.yield()               -- the other process runs here
            T.it("second", function() end)
          end)
        end)()
      end)
    end
    local a, b = proc("A"), proc("B")
    coroutine.resume(a); coroutine.resume(b)
    local _, ra = coroutine.resume(a)
    local _, rb = coroutine.resume(b)
    eq(ra.total, 2); eq(rb.total, 2)
    eq(ra.cases[2].full_name, "A second"); eq(rb.cases[1].full_name, "B first")
  `);
});

test('describe/it outside run_cases and mock outside a case are clear errors', async () => {
  await lua(String.raw`
    local ok, e = pcall(T.it, "x", function() end)
    check(not ok and e:find("test.it must be called inside the function given to test.run_cases", 1, true), e)
    ok, e = pcall(T.mock, {}, "f", 1)
    check(not ok and e:find("test.mock must be called while a test case runs", 1, true), e)
    ok, e = pcall(T.run_cases, 5)
    check(not ok and e:find("bad argument #1 to 'run_cases' (function expected)", 1, true), e)
    -- an error while defining is raised from run, not swallowed
    ok, e = pcall(T.run_cases(function() error("bad define", 0) end))
    eq(e, "bad define")
  `);
});
