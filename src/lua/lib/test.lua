-- The `test` module (the Wippy docs' wippy/test framework): BDD suites (describe/it), assertions,
-- lifecycle hooks and mocks, run by run_cases. Test entries (`function.lua` with `meta.type:
-- test`) use it, and `wippy test` (src/cli/test-runner.ts) runs them, one process each.
--
-- Owns: the suite tree a define function builds, running it (hooks in order, one pcall per hook
-- and per case), the result table, the assertions, and the mocks of the running case.
-- May call: deps.pcall -- the sandbox's pcall, which re-raises the kernel's kill of a doomed
-- process (a budget or memory kill must end the test, not count as one failed case) --, and
-- deps.now_ms for case durations. It also reads the `debug` library of the kernel state, only to
-- find the calling process's global table for mocks (below). deps: { pcall, now_ms }
--
-- One module table is shared by every process of a worker, so nothing lives in it: the suite
-- being defined and the run in progress are kept per coroutine (a process's thread), in weak
-- tables, so two processes running tests at once never see each other's suites or mocks.
--
-- Running. run_cases(define) returns run(options); run calls define() (which calls describe/it)
-- and then runs the tree depth-first in definition order. For each case: every before_each from
-- the outermost suite in, the case, every after_each from the innermost suite out (after_each
-- runs even when the case failed), then the case's mocks are restored. before_all/after_all run
-- once around a suite's cases and sub-suites; a failing before_all fails every case under it
-- (none of them runs), a failing after_all is reported as a failed case named "after_all".
-- The result: { total, passed_tests, failed_tests, skipped_tests, cases = { { suite, name,
-- full_name, status = "passed" | "failed" | "skipped", error?, duration_ms } } }; `wippy test`
-- prints the cases under the entry's line and fails the entry when failed_tests > 0.
--
-- Assertions raise a string error "<assertion>: <what>[: msg]" at the caller's line. eq and neq
-- compare tables by value (deep, keys and values; cycles are compared by identity), everything
-- else with ==: the docs say `actual == expected`, and a by-value table comparison is what tests
-- of table-returning code need; two equal scalars behave exactly as ==.
--
-- Mocks. mock("a.b", fn) replaces field b of global a in the calling process's global table and
-- records the old value; restore_mock / restore_all_mocks put it back, and every mock is restored
-- after each case. A process's globals fall through to shared read-only tables (`process`,
-- `string`, …), so when the root table is one of those it is shadowed instead: the process's own
-- global `a` becomes a table with the replacement that falls back to the shared one, and is
-- removed again on restore. mock(tbl, "field", fn) replaces a field of a table the test holds
-- (a module table, an object). The calling process's globals are found as the `_ENV` upvalue of
-- the nearest calling Lua function that has one; a test that cannot be traced back to its
-- globals gets a clear error.
return function(deps)
  local type, pairs, ipairs, tostring, error, select, setmetatable, rawget, rawset =
    type, pairs, ipairs, tostring, error, select, setmetatable, rawget, rawset
  local sfind, smatch, sformat, srep = string.find, string.match, string.format, string.rep
  local tconcat = table.concat
  local co_running = coroutine.running
  local dgetinfo, dgetupvalue, dgetlocal = debug.getinfo, debug.getupvalue, debug.getlocal
  local KERNEL_ENV = _ENV
  local pcall = deps.pcall
  local now_ms = deps.now_ms

  local M = {}

  ---------------------------------------------------------------------------------------------
  -- Showing values in messages.

  local function show(v, depth)
    local t = type(v)
    if t == "string" then return sformat("%q", v) end
    if t ~= "table" then return tostring(v) end
    depth = depth or 0
    if depth >= 2 then return "{...}" end
    local parts, n = {}, 0
    for k, x in pairs(v) do
      n = n + 1
      if n > 8 then parts[#parts + 1] = "..."; break end
      local key = type(k) == "string" and smatch(k, "^[%a_][%w_]*$") and k or ("[" .. show(k, depth + 1) .. "]")
      parts[#parts + 1] = key .. " = " .. show(x, depth + 1)
    end
    return "{" .. tconcat(parts, ", ") .. "}"
  end

  -- Raise "<what>[: msg]" at the line of the test that called the assertion.
  local function fail_at(what, msg)
    if msg ~= nil then what = what .. ": " .. tostring(msg) end
    error(what, 3)
  end

  ---------------------------------------------------------------------------------------------
  -- Assertions.

  local function deep_eq(a, b, seen)
    if a == b then return true end
    if type(a) ~= "table" or type(b) ~= "table" then return false end
    seen = seen or {}
    if seen[a] == b then return true end
    seen[a] = b
    for k, v in pairs(a) do
      if not deep_eq(v, b[k], seen) then return false end
    end
    for k in pairs(b) do
      if a[k] == nil then return false end
    end
    return true
  end

  function M.eq(actual, expected, msg)
    if not deep_eq(actual, expected) then
      fail_at("eq: expected " .. show(expected) .. ", got " .. show(actual), msg)
    end
  end
  function M.neq(actual, expected, msg)
    if deep_eq(actual, expected) then fail_at("neq: expected a value other than " .. show(expected), msg) end
  end
  function M.ok(v, msg) if not v then fail_at("ok: expected a truthy value, got " .. show(v), msg) end end
  function M.fail(msg) fail_at("fail", msg) end
  function M.is_nil(v, msg) if v ~= nil then fail_at("is_nil: expected nil, got " .. show(v), msg) end end
  function M.not_nil(v, msg) if v == nil then fail_at("not_nil: expected a value, got nil", msg) end end
  function M.is_true(v, msg) if v ~= true then fail_at("is_true: expected true, got " .. show(v), msg) end end
  function M.is_false(v, msg) if v ~= false then fail_at("is_false: expected false, got " .. show(v), msg) end end
  for _, t in ipairs({ "string", "number", "table", "function", "boolean" }) do
    M["is_" .. t] = function(v, msg)
      if type(v) ~= t then fail_at("is_" .. t .. ": expected a " .. t .. ", got " .. type(v), msg) end
    end
  end

  -- Substring for strings (plain, not a pattern); element (by ==) for tables.
  function M.contains(hay, needle, msg)
    if type(hay) == "table" then
      for _, v in pairs(hay) do if v == needle then return end end
      fail_at("contains: " .. show(hay) .. " has no element " .. show(needle), msg)
    end
    if type(hay) ~= "string" or type(needle) ~= "string" or not sfind(hay, needle, 1, true) then
      fail_at("contains: " .. show(hay) .. " does not contain " .. show(needle), msg)
    end
  end
  function M.matches(s, pattern, msg)
    if type(s) ~= "string" or not sfind(s, pattern) then
      fail_at("matches: " .. show(s) .. " does not match " .. show(pattern), msg)
    end
  end
  function M.has_key(t, key, msg)
    if type(t) ~= "table" or t[key] == nil then fail_at("has_key: no key " .. show(key) .. " in " .. show(t), msg) end
  end
  function M.len(v, expected, msg)
    local tv = type(v)
    if tv ~= "table" and tv ~= "string" then fail_at("len: expected a table or string, got " .. tv, msg) end
    if #v ~= expected then fail_at("len: expected length " .. tostring(expected) .. ", got " .. #v, msg) end
  end

  local function ordered(name, test, sym)
    M[name] = function(a, b, msg)
      local ta, tb = type(a), type(b)
      if not ((ta == "number" and tb == "number") or (ta == "string" and tb == "string")) then
        fail_at(name .. ": cannot compare " .. ta .. " with " .. tb, msg)
      end
      if not test(a, b) then fail_at(name .. ": expected " .. show(a) .. " " .. sym .. " " .. show(b), msg) end
    end
  end
  ordered("gt", function(a, b) return a > b end, ">")
  ordered("gte", function(a, b) return a >= b end, ">=")
  ordered("lt", function(a, b) return a < b end, "<")
  ordered("lte", function(a, b) return a <= b end, "<=")

  -- fn() must raise; returns what it raised.
  function M.throws(fn, msg)
    if type(fn) ~= "function" then fail_at("throws: expected a function, got " .. type(fn), msg) end
    local ok, e = pcall(fn)
    if ok then fail_at("throws: expected an error, got none", msg) end
    return e
  end
  function M.has_error(val, err, msg)
    if val ~= nil then fail_at("has_error: expected nil and an error, got value " .. show(val), msg) end
    if err == nil then fail_at("has_error: expected an error, got nil", msg) end
  end
  function M.no_error(val, err, msg)
    if err ~= nil then fail_at("no_error: unexpected error " .. tostring(err), msg) end
  end

  ---------------------------------------------------------------------------------------------
  -- Defining suites. defining[co] is the suite that describe/it add to, while define() runs.

  local defining = setmetatable({}, { __mode = "k" })
  local running = setmetatable({}, { __mode = "k" })   -- co -> the run (mocks live there)

  local function new_suite(name, parent)
    return { name = name, parent = parent, items = {}, before_all = {}, after_all = {},
      before_each = {}, after_each = {} }
  end

  local function current_suite(fname)
    local s = defining[co_running()]
    if not s then error("test." .. fname .. " must be called inside the function given to test.run_cases", 3) end
    return s
  end

  function M.describe(name, fn)
    local parent = current_suite("describe")
    if type(name) ~= "string" then error("bad argument #1 to 'describe' (string expected)", 2) end
    if type(fn) ~= "function" then error("bad argument #2 to 'describe' (function expected)", 2) end
    local s = new_suite(name, parent)
    parent.items[#parent.items + 1] = { suite = s }
    local co = co_running()
    defining[co] = s
    local ok, e = pcall(fn)
    defining[co] = parent
    if not ok then error(e, 0) end
  end
  M.spec, M.context = M.describe, M.describe

  local function add_case(fname, name, fn, skip)
    local s = current_suite(fname)
    if type(name) ~= "string" then error("bad argument #1 to '" .. fname .. "' (string expected)", 3) end
    if not skip and type(fn) ~= "function" then error("bad argument #2 to '" .. fname .. "' (function expected)", 3) end
    s.items[#s.items + 1] = { name = name, fn = fn, skip = skip }
  end
  function M.it(name, fn) add_case("it", name, fn, false) end
  function M.it_skip(name, fn) add_case("it_skip", name, fn, true) end

  for _, hook in ipairs({ "before_all", "after_all", "before_each", "after_each" }) do
    M[hook] = function(fn)
      local s = current_suite(hook)
      if type(fn) ~= "function" then error("bad argument #1 to '" .. hook .. "' (function expected)", 2) end
      s[hook][#s[hook] + 1] = fn
    end
  end

  ---------------------------------------------------------------------------------------------
  -- Mocks.

  -- The process global table a function at stack `level` sees: its `_ENV` local (an entry's
  -- main chunk declares one) or its `_ENV` upvalue (functions defined in that chunk that read a
  -- global). The kernel's own global table does not count. -> table | nil
  local function env_at(level)
    local info = dgetinfo(level + 1, "f")
    if not info then return nil, true end
    for i = 1, 255 do
      local name, v = dgetlocal(level + 1, i)
      if name == nil then break end
      if name == "_ENV" and type(v) == "table" and v ~= KERNEL_ENV then return v end
    end
    local f = info.func
    for i = 1, 255 do
      local name, v = dgetupvalue(f, i)
      if name == nil then break end
      if name == "_ENV" then
        if type(v) == "table" and v ~= KERNEL_ENV then return v end
        break
      end
    end
    return nil
  end

  -- The calling process's global table: the nearest caller (from `level` up) that shows one.
  local function caller_env(level)
    for l = level + 1, level + 40 do
      local env, past_end = env_at(l)
      if env then return env end
      if past_end then return nil end
    end
    return nil
  end

  local function the_run(fname)
    local r = running[co_running()]
    if not r then error("test." .. fname .. " must be called while a test case runs", 3) end
    return r
  end

  -- A mock record: { key, restore = function }.
  local function push_mock(r, key, restore)
    r.mocks[#r.mocks + 1] = { key = key, restore = restore }
  end

  local function restore_mock(r, key)
    for i = #r.mocks, 1, -1 do
      local m = r.mocks[i]
      if key == nil or m.key == key then
        table.remove(r.mocks, i)
        m.restore()
        if key ~= nil then return true end
      end
    end
    return key == nil
  end

  function M.mock(target, a, b)
    local r = the_run("mock")
    if type(target) == "table" then
      local field, repl = a, b
      if field == nil then error("bad argument #2 to 'mock' (field name expected)", 2) end
      local old = target[field]
      target[field] = repl
      push_mock(r, target, function() target[field] = old end)
      return
    end
    if type(target) ~= "string" then error("bad argument #1 to 'mock' (string path or table expected)", 2) end
    local path, repl = target, a
    local root, rest = smatch(path, "^([%a_][%w_]*)%.(.+)$")
    if not root then error("bad argument #1 to 'mock' (\"global.field\" expected, got " .. show(path) .. ")", 2) end
    local env = r.env or caller_env(2)
    if not env then error("mock: cannot find the calling process's globals; use test.mock(table, field, fn)", 2) end
    -- walk to the table holding the last field
    local segs = {}
    for seg in (rest .. "."):gmatch("([^.]+)%.") do segs[#segs + 1] = seg end
    local field = segs[#segs]
    if rawget(env, root) == nil and #segs == 1 then
      -- the root falls through to a shared (read-only) table: shadow it in this process
      local shared = env[root]
      if type(shared) ~= "table" then error("mock: global '" .. root .. "' is not a table", 2) end
      local shadow = setmetatable({ [field] = repl }, { __index = shared })
      rawset(env, root, shadow)
      push_mock(r, path, function() if rawget(env, root) == shadow then rawset(env, root, nil) end end)
      return
    end
    local t = env[root]
    for i = 1, #segs - 1 do
      if type(t) ~= "table" then break end
      t = t[segs[i]]
    end
    if type(t) ~= "table" then error("mock: " .. path .. " does not name a field of a table", 2) end
    local old = t[field]
    local ok, e = pcall(function() t[field] = repl end)
    if not ok then error("mock: cannot replace " .. path .. ": " .. tostring(e), 2) end
    push_mock(r, path, function() t[field] = old end)
  end
  function M.mock_process(field, repl)
    if type(field) ~= "string" then error("bad argument #1 to 'mock_process' (string expected)", 2) end
    local r = the_run("mock_process")
    local env = r.env or caller_env(2)
    if not env then error("mock: cannot find the calling process's globals", 2) end
    local shared = env.process
    local shadow = rawget(env, "process")
    if shadow == nil then
      shadow = setmetatable({}, { __index = shared })
      rawset(env, "process", shadow)
      push_mock(r, "process", function() if rawget(env, "process") == shadow then rawset(env, "process", nil) end end)
    end
    local old = rawget(shadow, field)
    rawset(shadow, field, repl)
    push_mock(r, "process." .. field, function() rawset(shadow, field, old) end)
  end
  function M.restore_mock(key) return restore_mock(the_run("restore_mock"), key) end
  function M.restore_all_mocks() return restore_mock(the_run("restore_all_mocks"), nil) end

  ---------------------------------------------------------------------------------------------
  -- Running.

  local function errtext(e)
    if type(e) == "string" then return e end
    local s = tostring(e)
    return s
  end

  local function run_hooks(list, from, to, step)
    for i = from, to, step do
      local ok, e = pcall(list[i])
      if not ok then return errtext(e) end
    end
    return nil
  end

  -- The chain of suites from the root (the define function's top level) to s, outermost first.
  local function chain(s)
    local out = {}
    while s do table.insert(out, 1, s); s = s.parent end
    return out
  end

  local function run_case(r, s, item, names)
    local full = tconcat(names, " ") .. (#names > 0 and " " or "") .. item.name
    local rec = { suite = tconcat(names, " "), name = item.name, full_name = full }
    r.result.total = r.result.total + 1
    if item.skip or s.skip_all then
      rec.status, rec.duration_ms = "skipped", 0
      r.result.skipped_tests = r.result.skipped_tests + 1
      r.result.cases[#r.result.cases + 1] = rec
      return
    end
    local t0 = now_ms()
    local err = s.failed_setup
    local suites = chain(s)
    local entered = 0
    if not err then
      for i = 1, #suites do
        local hooks = suites[i].before_each
        err = run_hooks(hooks, 1, #hooks, 1)
        entered = i
        if err then err = "before_each: " .. err; break end
      end
    end
    if not err then
      local ok, e = pcall(item.fn)
      if not ok then err = errtext(e) end
    end
    for i = entered, 1, -1 do
      local hooks = suites[i].after_each
      local e = run_hooks(hooks, #hooks, 1, -1)
      if e and not err then err = "after_each: " .. e end
    end
    restore_mock(r, nil)
    rec.duration_ms = now_ms() - t0
    if err then
      rec.status, rec.error = "failed", err
      r.result.failed_tests = r.result.failed_tests + 1
    else
      rec.status = "passed"
      r.result.passed_tests = r.result.passed_tests + 1
    end
    r.result.cases[#r.result.cases + 1] = rec
  end

  local function run_suite(r, s, names)
    if s.parent and s.parent.failed_setup then
      s.failed_setup = s.parent.failed_setup -- its hooks do not run either
    else
      local err = run_hooks(s.before_all, 1, #s.before_all, 1)
      if err then s.failed_setup = "before_all: " .. err end
    end
    for _, item in ipairs(s.items) do
      if item.suite then
        local sub = names
        if item.suite.name then
          sub = {}
          for i = 1, #names do sub[i] = names[i] end
          sub[#sub + 1] = item.suite.name
        end
        run_suite(r, item.suite, sub)
      else
        run_case(r, s, item, names)
      end
    end
    local aerr
    if not (s.parent and s.parent.failed_setup) then aerr = run_hooks(s.after_all, #s.after_all, 1, -1) end
    if aerr then
      -- reported as a failed case of its own, so it shows even in a suite without cases
      local suite = tconcat(names, " ")
      r.result.total = r.result.total + 1
      r.result.failed_tests = r.result.failed_tests + 1
      r.result.cases[#r.result.cases + 1] = { suite = suite, name = "after_all",
        full_name = (suite ~= "" and suite .. " " or "") .. "after_all", status = "failed",
        error = "after_all: " .. aerr, duration_ms = 0 }
    end
  end

  function M.run_cases(define)
    if type(define) ~= "function" then error("bad argument #1 to 'run_cases' (function expected)", 2) end
    -- the globals mocks patch: those of the code calling run_cases (usually an entry's main chunk)
    local env = caller_env(2)
    return function(options)
      local co = co_running()
      local root = new_suite(nil, nil)
      local prev = defining[co]
      defining[co] = root
      local ok, e = pcall(define, options)
      defining[co] = prev
      if not ok then error(e, 0) end
      local r = { env = env or caller_env(2), mocks = {}, result = { total = 0, passed_tests = 0, failed_tests = 0, skipped_tests = 0, cases = {} } }
      local prev_run = running[co]
      running[co] = r
      local rok, rerr = pcall(run_suite, r, root, {})
      restore_mock(r, nil)
      running[co] = prev_run
      if not rok then error(rerr, 0) end
      return r.result
    end
  end

  return M
end
