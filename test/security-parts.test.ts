// The parts of the security kernel module (src/lua/kernel/security_*.lua), each loaded alone in a
// fresh wasmoon Lua state and called with fakes of what it receives: `newud` makes tables, `err`
// makes plain { kind, msg } tables, and the other parts are stubs that record their calls, so a
// test fails when a part reaches for something it was not given. The whole module, wired, is
// tested in security.test.ts; these pin each part's own contract.
import { test, describe } from 'node:test';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { LuaFactory } from 'wasmoon';

const PARTS = ['values', 'regex', 'expr', 'actors', 'policies', 'scopes'];
const factory = new LuaFactory();

const PRELUDE = String.raw`
-- part(name, deps): the factory of src/lua/kernel/security_<name>.lua called with deps
function part(name, deps)
  return assert(load(_G["SRC_" .. name], "=security_" .. name .. ".lua", "t"))()(deps)
end
function newud(mt) return setmetatable({}, mt) end
function err(kind, msg, retryable) return { kind = kind, msg = msg, retryable = retryable } end
function eq(got, want, what)
  if got ~= want then
    error(("%s: got %s, want %s"):format(what or "value", tostring(got), tostring(want)), 2)
  end
end
-- raises(fn, pattern): fn must raise an error whose text contains pattern (plain)
function raises(fn, pattern)
  local ok, e = pcall(fn)
  if ok then error("expected an error containing " .. pattern, 2) end
  if not tostring(e):find(pattern, 1, true) then error("error " .. tostring(e) .. " lacks " .. pattern, 2) end
end
`;

async function lua(code: string): Promise<void> {
  const engine = await factory.createEngine({ openStandardLibs: true, injectObjects: false, enableProxy: false });
  try {
    for (const p of PARTS) {
      engine.global.set(`SRC_${p}`, readFileSync(path.resolve(`src/lua/kernel/security_${p}.lua`), 'utf8'));
    }
    await engine.doString(PRELUDE);
    await engine.doString(code);
  } finally {
    engine.global.close();
  }
}

describe('security_values (no deps)', () => {
  test('equality coerces numeric strings; ordering needs comparable values', async () => {
    await lua(`
      local V = part("values", {})
      assert(V.eq(1, "1") and V.eq("2.0", 2) and not V.eq("x", 0) and not V.eq(nil, false))
      eq(V.cmp("a", "b"), -1); eq(V.cmp("10", 9), 1); eq(V.cmp(3, 3), 0)
      eq(V.cmp("x", 1), nil, "non-numeric string vs number"); eq(V.cmp({}, 1), nil); eq(V.cmp(nil, 1), nil)
      eq(V.cmp(0/0, 1), nil, "NaN is uncomparable")
    `);
  });

  test('membership and containment: nil is in nothing, bad operands cannot be evaluated', async () => {
    await lua(`
      local V = part("values", {})
      eq(V.is_in("2", { 1, 2 }), true); eq(V.is_in(nil, { 1 }), false); eq(V.is_in(1, "x"), nil)
      eq(V.contains("hello", "ell"), true); eq(V.contains(12345, 34), true)
      eq(V.contains({ "a", 2 }, "2"), true); eq(V.contains(nil, "a"), false)
      eq(V.contains(true, "a"), nil); eq(V.contains("a", {}), nil)
      eq(V.contains("a.b", "."), true, "plain search, not a pattern")
    `);
  });

  test('field paths read action, resource, actor and meta; unknown roots are rejected', async () => {
    await lua(`
      local V = part("values", {})
      local A = { id = "u1", meta = { role = "admin", deep = { x = { 7 } } } }
      local meta = { [1] = "first", k = { j = "v" } }
      local function get(path) local g = assert(V.compile_field(path)); return g(A, "act", "res", meta) end
      eq(get("action"), "act"); eq(get("resource"), "res"); eq(get("actor.id"), "u1")
      eq(get("actor.meta.role"), "admin"); eq(get("actor.meta.deep.x.1"), 7)
      eq(get("meta.k.j"), "v"); eq(get("meta.1"), "first", "numeric key fallback")
      eq(get("meta.nope.deeper"), nil)
      local g = assert(V.compile_field("actor.id")); eq(g(nil, "a", "r", nil), nil, "no actor")
      local _, e1 = V.compile_field("user.id"); assert(e1:find("unknown field 'user.id'", 1, true))
      local _, e2 = V.compile_field("meta..x"); assert(e2:find("bad field path", 1, true))
      local _, e3 = V.compile_field(5); eq(e3, "field must be a string")
    `);
  });

  test('copy_data keeps plain data only and cuts cycles', async () => {
    await lua(`
      local V = part("values", {})
      local t = { a = 1, b = { "x" }, f = print, [print] = 1 }
      t.self = t
      local c = V.copy_data(t)
      assert(c ~= t and c.b ~= t.b and c.b[1] == "x" and c.a == 1)
      eq(c.f, nil, "functions dropped"); eq(c.self, c, "cycle becomes shared")
      local n = 0; for _ in pairs(c) do n = n + 1 end; eq(n, 3)
      raises(function() V.str_arg(1, 2, "fname") end, "bad argument #2 to 'fname' (string expected, got number)")
    `);
  });
});

describe('security_regex (no deps)', () => {
  test('translates the supported subset and searches unanchored', async () => {
    await lua(String.raw`
      local R = part("regex", {})
      local function m(re, s) return R.match(s, assert(R.compile(re))) end
      assert(m("b+", "abbc")); assert(not m("^b", "ab")); assert(m("c$", "abc"))
      assert(m("^(foo|ba[rz])$", "baz")); assert(not m("^(foo|ba[rz])$", "bay"))
      assert(m("^\\d{2,3}-x?$", "123-")); assert(not m("^\\d{2,3}$", "1"))
      assert(m("^a.c$", "a\nc"), ". matches a newline")
      assert(m("^(?:ab)?c$", "c") and m("^(?:ab)?c$", "abc"))
      eq(R.match(42, assert(R.compile("^4"))), true, "numbers are stringified")
      eq(R.match(nil, assert(R.compile(".*"))), false, "nil never matches")
      eq(R.match({}, assert(R.compile(".*"))), nil, "a table cannot be matched")
    `);
  });

  test('rejects what it cannot translate, naming the regex and the offset', async () => {
    await lua(String.raw`
      local R = part("regex", {})
      local p, e = R.compile("(a)+")
      eq(p, nil); eq(e, "invalid regex '(a)+': quantified groups are not supported at offset 4")
      local _, e2 = R.compile("[abc"); assert(e2:find("unterminated character class", 1, true))
      local _, e3 = R.compile("a\\b"); assert(e3:find("unsupported escape \\b", 1, true))
      eq(R.compile(string.rep("(a|b)", 7)), nil, "more than 64 expansions")
    `);
  });

  test('dynamic compiles once per source and treats a bad regex as unevaluable', async () => {
    await lua(String.raw`
      local R = part("regex", {})
      eq(R.dynamic("abc", "^a"), true); eq(R.dynamic("abc", "^a"), true); eq(R.dynamic("abc", "^b"), false)
      eq(R.dynamic("abc", "(a)+"), nil); eq(R.dynamic("abc", 5), nil)
      -- more distinct sources than the cache keeps: still correct after the cache is dropped
      for i = 1, 300 do eq(R.dynamic("x" .. i, "^x" .. i .. "$"), true) end
    `);
  });
});

describe('security_expr (deps: values, regex)', () => {
  // The real values part (plain functions, no state) and a regex stub that records compiles.
  const SETUP = String.raw`
    V = part("values", {})
    compiled = {}
    RX = {
      compile = function(src)
        compiled[#compiled + 1] = src
        if src == "bad" then return nil, "invalid regex 'bad': stub" end
        return { src }
      end,
      match = function(s, pats) return s == pats[1] end,
      dynamic = function(s, re) return s == re end,
    }
    X = part("expr", { values = V, regex = RX })
    function run(src, A, action, resource, meta)
      local f = assert(X.compile(src))
      return pcall(f, A, action, resource, meta)
    end
  `;

  test('operators, precedence and fields', async () => {
    await lua(SETUP + String.raw`
      local A = { id = "u1", meta = { level = 5, tags = { "a", "b" } } }
      local function v(src, meta) local ok, r = run(src, A, "read", "doc:1", meta); assert(ok, src); return r end
      eq(v("actor.meta.level >= 3 && action == 'read'"), true)
      eq(v("false || true && false"), false, "&& binds tighter")
      eq(v("!(resource startsWith 'doc:') or 1 < 2"), true)
      eq(v("'b' in actor.meta.tags"), true); eq(v("'c' not in actor.meta.tags"), true)
      eq(v("resource endsWith ':1' and resource contains 'c:'"), true)
      eq(v("meta['x-y'] == -2", { ["x-y"] = -2 }), true)
      eq(v("[1, meta.n] == nil", { n = 1 }), false)
      eq(v("actor.id != null"), true)
    `);
  });

  test('a literal matches operand is compiled with the expression; a bad one fails the parse', async () => {
    await lua(SETUP + String.raw`
      local f = assert(X.compile("resource matches 'doc:1'"))
      eq(compiled[1], "doc:1"); eq(f(nil, "a", "doc:1", nil), true)
      local g = assert(X.compile("resource matches meta.re"))
      eq(#compiled, 1, "a non-literal regex is not compiled at parse time")
      eq(g(nil, "a", "x", { re = "x" }), true, "goes through regex.dynamic")
      local h, e = X.compile("resource matches 'bad'")
      eq(h, nil); assert(e:find("invalid expression: invalid regex 'bad': stub", 1, true), e)
    `);
  });

  test('evaluation failures raise the FAIL sentinel; parse errors name the token', async () => {
    await lua(SETUP + String.raw`
      local ok, e = run("meta.missing > 1", nil, "a", "r", {})
      assert(not ok and e == X.FAIL, "ordering a missing value fails")
      ok, e = run("1 && true", nil, "a", "r", nil)
      assert(not ok and e == X.FAIL, "&& needs booleans")
      ok, e = run("-action", nil, "a", "r", nil)
      assert(not ok and e == X.FAIL)
      local f, perr = X.compile("action ==")
      eq(f, nil); assert(perr:find("invalid expression: unexpected token", 1, true), perr)
      local _, perr2 = X.compile("user.id == 'x'"); assert(perr2:find("unknown field 'user.id'", 1, true), perr2)
      local _, perr3 = X.compile("'abc"); assert(perr3:find("unterminated string", 1, true), perr3)
      local _, perr4 = X.compile(42); eq(perr4, "expression must be a string")
    `);
  });
});

describe('security_actors (deps: newud, values)', () => {
  test('actors copy their metadata in and out, encode and decode', async () => {
    await lua(String.raw`
      local copies = 0
      local V = { copy_data = function(t) copies = copies + 1; local o = {}; for k, v in pairs(t) do o[k] = v end; return o end }
      local A = part("actors", { newud = newud, values = V })
      local meta = { role = "x" }
      local a = A.new("u1", meta)
      eq(copies, 1); assert(A.is(a)); assert(not A.is({}))
      meta.role = "changed"
      eq(a:id(), "u1"); eq(a:meta().role, "x"); eq(copies, 2)
      eq(tostring(a), "security.Actor(u1)")
      local wire = A.encode(a)
      eq(wire.id, "u1"); eq(wire.meta.role, "x")
      local b = A.decode(wire)
      assert(A.is(b) and b ~= a); eq(b:id(), "u1")
      eq(A.decode({ meta = {} }), nil); eq(A.encode("nope"), nil)
      eq(A.states[a].id, "u1")
      raises(function() A.new(1) end, "bad argument #1 to 'new_actor' (string expected)")
      raises(function() A.new("x", 1) end, "bad argument #2 to 'new_actor' (table expected)")
      raises(function() a.id({}) end, "bad self (security.Actor expected)")
      eq(A.arg(nil, 1, "f"), nil)
      raises(function() A.arg({}, 1, "evaluate") end, "bad argument #1 to 'evaluate' (security.Actor expected)")
    `);
  });
});

describe('security_policies (deps: newud, err, values, regex, expr, actors)', () => {
  // Real values; stubs for regex, expr and actors that record what the policies part asks of them.
  const SETUP = String.raw`
    V = part("values", {})
    asked = { regex = {}, expr = {} }
    RX = {
      compile = function(src) asked.regex[#asked.regex + 1] = src; return { src } end,
      match = function(s, pats) return s == pats[1] end,
      dynamic = function(s, re) return s == re end,
    }
    EX = { compile = function(src)
      asked.expr[#asked.expr + 1] = src
      if src == "yes" then return function() return true end end
      if src == "boom" then return function() error("boom") end end
      if src == "one" then return function() return 1 end end
      return nil, "invalid expression: stub"
    end }
    ACTORS = { arg = function(a) return a end }
    Pol = part("policies", { newud = newud, err = err, values = V, regex = RX, expr = EX, actors = ACTORS })
    function P(actions, resources, effect, conditions, groups)
      return { kind = "security.policy", groups = groups,
        policy = { actions = actions, resources = resources, effect = effect, conditions = conditions } }
    end
    function X(expression, effect)
      return { kind = "security.policy.expr", policy = { actions = "*", resources = "*", effect = effect or "allow", expression = expression } }
    end
    function ev(id, action, resource, meta, A) return Pol.eval(Pol.get(id), A, action, resource, meta) end
  `;

  test('load sorts ids, builds groups, reports broken policies and keeps them loaded', async () => {
    await lua(SETUP + String.raw`
      local n, problems = Pol.load({
        ["b:p"] = P("*", "*", "allow", nil, { "g" }),
        ["a:p"] = P("*", "*", "deny", nil, { "g", "h" }),
        ["c:bad"] = P("*", "*", "maybe"),
        ["d:x"] = X("nonsense"),
        ["other"] = { kind = "process.lua" },
      })
      eq(n, 4); eq(#problems, 2)
      eq(problems[1].id, "c:bad"); eq(problems[1].message, "effect must be allow or deny")
      eq(problems[2].id, "d:x"); eq(problems[2].message, "invalid expression: stub")
      local g = Pol.group("g"); eq(#g, 2); eq(g[1].id, "a:p"); eq(g[2].id, "b:p")
      eq(#Pol.group("h"), 1); eq(Pol.group("none"), nil)
      eq(ev("c:bad", "a", "r"), nil, "broken is undefined"); eq(Pol.get("other"), nil)
      -- a new load replaces everything
      Pol.load({}); eq(Pol.get("a:p"), nil); eq(Pol.group("g"), nil)
    `);
  });

  test('patterns: exact, any, prefix (dot optional), suffix, infix', async () => {
    await lua(SETUP + String.raw`
      Pol.load({ ["t:p"] = P({ "exact", "pre.*", "*.read", "*mid*" }, "*", "allow") })
      for _, a in ipairs({ "exact", "pre", "preX", "pre.x", "doc.read", "amidz" }) do eq(ev("t:p", a, "r"), "allow", a) end
      for _, a in ipairs({ "exac", "pr", "doc.reads", "mi" }) do eq(ev("t:p", a, "r"), nil, a) end
      Pol.load({ ["t:p"] = P("**", { "res:*" }, "deny") })
      eq(ev("t:p", "anything", "res:1"), "deny"); eq(ev("t:p", "anything", "other"), nil)
    `);
  });

  test('conditions use the values rules; matches goes through regex; a throwing expression is undefined', async () => {
    await lua(SETUP + String.raw`
      local C = function(f, op, v) return { field = f, operator = op, value = v } end
      Pol.load({
        ["t:num"] = P("*", "*", "allow", { C("meta.n", "gte", "10") }),
        ["t:ne"] = P("*", "*", "allow", { C("meta.missing", "ne", 1) }),
        ["t:rx"] = P("*", "*", "allow", { C("resource", "matches", "doc") }),
        ["t:from"] = P("*", "*", "allow", { { field = "actor.id", operator = "eq", value_from = "meta.owner" } }),
        ["t:yes"] = X("yes"), ["t:boom"] = X("boom"), ["t:one"] = X("one"),
      })
      eq(asked.regex[1], "doc", "the literal regex is compiled at load")
      eq(ev("t:num", "a", "r", { n = 12 }), "allow"); eq(ev("t:num", "a", "r", { n = 9 }), nil)
      eq(ev("t:num", "a", "r", {}), nil, "missing under an ordering operator")
      eq(ev("t:ne", "a", "r", {}), "allow")
      eq(ev("t:rx", "a", "doc"), "allow"); eq(ev("t:rx", "a", "x"), nil)
      eq(ev("t:from", "a", "r", { owner = "u1" }, { id = "u1" }), "allow")
      eq(ev("t:from", "a", "r", { owner = "u2" }, { id = "u1" }), nil)
      eq(ev("t:yes", "a", "r"), "allow"); eq(ev("t:boom", "a", "r"), nil); eq(ev("t:one", "a", "r"), nil)
      local _, problems = Pol.load({ ["t:p"] = P("*", "*", "allow", { C("meta.x", "bogus", 1), C("nope", "eq", 1) }) })
      eq(#problems, 1); eq(problems[1].message, "condition 2: unknown field 'nope'")
    `);
  });

  test('policy objects are interned; lookups that miss return NotFound; missing ids deny', async () => {
    await lua(SETUP + String.raw`
      Pol.load({ ["t:p"] = P("*", "*", "allow") })
      local o = assert(Pol.policy("t:p"))
      eq(Pol.policy("t:p"), o); eq(o:id(), "t:p"); eq(tostring(o), "security.Policy(t:p)")
      eq(Pol.of(o), Pol.get("t:p")); eq(Pol.of("t:p"), nil)
      eq(Pol.record(o), Pol.get("t:p")); eq(Pol.record("t:p"), Pol.get("t:p"))
      local r, e = Pol.record("t:zz"); eq(r, nil); eq(e.kind, "NotFound"); eq(e.msg, "policy not found: t:zz")
      eq(Pol.record(5), nil)
      local _, e2 = Pol.policy("t:zz"); eq(e2.kind, "NotFound")
      raises(function() Pol.policy(1) end, "bad argument #1 to 'policy' (string expected)")
      eq(o:evaluate({ id = "u" }, "a", "r"), "allow")
      raises(function() o:evaluate(nil, 1, "r") end, "bad argument #2 to 'evaluate' (string expected, got number)")
      local m = Pol.missing("t:gone")
      eq(m.id, "t:gone"); eq(Pol.eval(m, nil, "any", "thing"), "deny")
    `);
  });
});

describe('security_scopes (deps: newud, err, values, policies, actors)', () => {
  // A stub policies part: records are plain tables whose effect eval returns as it is.
  const SETUP = String.raw`
    V = part("values", {})
    RECS = {
      a = { id = "a", effect = "allow", obj = { tag = "A" } },
      d = { id = "d", effect = "deny", obj = { tag = "D" } },
      u = { id = "u", effect = nil, obj = { tag = "U" } },
    }
    local by_obj = {}
    for _, r in pairs(RECS) do by_obj[r.obj] = r end
    POL = {
      get = function(id) return RECS[id] end,
      group = function(g) if g == "grp" then return { RECS.a, RECS.u } end end,
      of = function(v) return by_obj[v] end,
      record = function(v)
        if by_obj[v] then return by_obj[v] end
        if type(v) == "string" then
          if RECS[v] then return RECS[v] end
          return nil, err("NotFound", "policy not found: " .. v)
        end
      end,
      eval = function(rec) return rec.effect end,
      missing = function(id) return { id = id, effect = "deny", missing = true } end,
    }
    ACTORS = { arg = function(a) return a end }
    S = part("scopes", { newud = newud, err = err, values = V, policies = POL, actors = ACTORS })
  `;

  test('deny wins, any allow allows, nothing is undefined', async () => {
    await lua(SETUP + String.raw`
      local function ev(ids) return S.eval(S.states[S.make((function() local l = {} for i, id in ipairs(ids) do l[i] = RECS[id] end return l end)())], nil, "a", "r") end
      eq(ev({}), "undefined"); eq(ev({ "u" }), "undefined"); eq(ev({ "a", "u" }), "allow")
      eq(ev({ "a", "d" }), "deny"); eq(ev({ "d", "a" }), "deny")
    `);
  });

  test('scopes are immutable: with/without return new scopes, or the same one when nothing changes', async () => {
    await lua(SETUP + String.raw`
      local s = assert(S.new({ RECS.a.obj, "u", "a" }))
      eq(#s:policies(), 2, "duplicates dropped"); eq(s:policies()[1], RECS.a.obj)
      assert(s:contains("a") and s:contains(RECS.u.obj) and not s:contains("d"))
      local s2 = s:with("d"); assert(s2 ~= s and s2:contains("d") and not s:contains("d"))
      eq(s:with("a"), s); eq(s:without("zz"), s)
      local s3 = s2:without(RECS.a.obj); eq(#s3:policies(), 2); assert(not s3:contains("a"))
      eq(tostring(s3), "security.Scope(2 policies)")
      eq(s2:evaluate(nil, "act", "res"), "deny"); eq(s:evaluate(nil, "act", "res"), "allow")
      local none, e = s:with("zz"); eq(none, nil); eq(e.kind, "NotFound")
      local none2, e2 = S.new({ "zz" }); eq(none2, nil); eq(e2.msg, "policy not found: zz")
      raises(function() s:with(5) end, "bad argument #1 to 'with' (security.Policy expected)")
      raises(function() s.policies({}) end, "bad self to 'policies' (security.Scope expected)")
      raises(function() S.new({ {} }) end, "element 1 is not a security.Policy")
    `);
  });

  test('named scopes copy the group; encode/decode by id, unknown ids deny', async () => {
    await lua(SETUP + String.raw`
      local g = assert(S.named("grp")); eq(#g:policies(), 2)
      local _, e = S.named("nope"); eq(e.kind, "NotFound"); eq(e.msg, "policy group not found: nope")
      local ids = S.encode(g); eq(#ids, 2); eq(ids[1], "a"); eq(ids[2], "u")
      local back = S.decode({ "a", "gone", "a", 7 })
      local st = S.states[back]
      eq(#st.list, 2); eq(st.list[1], RECS.a); eq(st.list[2].missing, true)
      eq(back:evaluate(nil, "x", "y"), "deny", "the unknown id denies")
      eq(S.decode("x"), nil); eq(S.encode({}), nil); assert(S.is(back) and not S.is({}))
    `);
  });
});
