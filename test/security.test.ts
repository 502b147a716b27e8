// The security kernel module (src/lua/kernel/security.lua, which wires its security_*.lua parts)
// on its own, inside a wasmoon Lua state with a minimal fake kernel: K.H.newud makes tables instead
// of userdata, K.err comes from the real errors.lua, K.cfg holds strict_mode, K.cp stands in for
// the running process and K.factory loads the parts from their files.
//
// Each test is one Lua chunk written with `assert`; the helpers below build policy entries in the
// shape load_policies receives them (the YAML `policy:` block plus `groups`).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { LuaFactory } from 'wasmoon';
import type { LuaEngine } from 'wasmoon';

const PRELUDE = `
K = { H = { newud = function(mt) return setmetatable({}, mt) end }, cfg = { strict_mode = false } }
load(ERRORS_SRC, "=errors.lua")()(K)
K.factory = function(name) return load(_G["SRC_" .. name], "=" .. name .. ".lua")() end
S = load(SECURITY_SRC, "=security.lua")()(K)

-- a security.policy entry
function P(actions, resources, effect, conditions, groups)
  return { kind = "security.policy", groups = groups,
    policy = { actions = actions, resources = resources, effect = effect, conditions = conditions } }
end
-- a security.policy.expr entry
function X(actions, resources, effect, expression, groups)
  return { kind = "security.policy.expr", groups = groups,
    policy = { actions = actions, resources = resources, effect = effect, expression = expression } }
end
function C(field, operator, value) return { field = field, operator = operator, value = value } end

-- Load entries (id -> entry), asserting none is broken unless allow_broken.
function load_all(entries, allow_broken)
  local n, problems = S.load_policies(entries)
  if not allow_broken and #problems > 0 then error(problems[1].id .. ": " .. problems[1].message, 2) end
  return n, problems
end

-- Everything loaded, as one scope. ids: list of policy ids.
function scope_of(ids)
  local list = {}
  for i, id in ipairs(ids) do list[i] = assert(S.policy(id)) end
  return assert(S.new_scope(list))
end

-- check with an actor and a scope made of exactly one policy entry
function one(entry, action, resource, meta, actor_meta, actor_id)
  load_all({ ["t:p"] = entry })
  local actor = S.new_actor(actor_id or "user:1", actor_meta or {})
  return S.check({ actor = actor, scope = scope_of({ "t:p" }) }, action, resource, meta)
end

-- the raw policy result ("allow" | "deny" | "undefined") of one entry
function result(entry, action, resource, meta, actor_meta, actor_id)
  load_all({ ["t:p"] = entry })
  local actor = S.new_actor(actor_id or "user:1", actor_meta or {})
  return S.policy("t:p"):evaluate(actor, action, resource, meta)
end

function eqv(a, b, what)
  if a ~= b then error((what or "value") .. ": expected " .. tostring(b) .. ", got " .. tostring(a), 2) end
end

function reset()
  K.cfg = { strict_mode = false }
  K.cp = nil
  S.load_policies({})
end
`;

let engine: LuaEngine;

function lua(code: string): unknown {
  return engine.doStringSync(`reset()\n${code}`);
}

before(async () => {
  engine = await new LuaFactory().createEngine({ injectObjects: false, enableProxy: false });
  engine.global.set('ERRORS_SRC', readFileSync(path.resolve('src/lua/kernel/errors.lua'), 'utf8'));
  engine.global.set('SECURITY_SRC', readFileSync(path.resolve('src/lua/kernel/security.lua'), 'utf8'));
  for (const part of ['values', 'regex', 'expr', 'actors', 'policies', 'scopes']) {
    const name = `security_${part}`;
    engine.global.set(`SRC_${name}`, readFileSync(path.resolve(`src/lua/kernel/${name}.lua`), 'utf8'));
  }
  engine.doStringSync(PRELUDE);
});

after(() => {
  engine.global.close();
});

// ---------------------------------------------------------------------------------------------
// Patterns

test('pattern "*" matches anything, including the empty string', () => {
  lua(`
    assert(one(P("*", "*", "allow"), "any.thing", "res"))
    assert(one(P("*", "*", "allow"), "", ""))
  `);
});

test('exact patterns match only themselves', () => {
  lua(`
    local e = P("process.send", "app:a", "allow")
    assert(one(e, "process.send", "app:a"))
    assert(not one(e, "process.sendx", "app:a"))
    assert(not one(e, "process.send", "app:ab"))
    assert(not one(e, "process", "app:a"))
  `);
});

test('"pre.*" is a prefix match on "pre", the dot not required', () => {
  lua(`
    local e = P("process.*", "*", "allow")
    assert(one(e, "process.spawn", "r"))
    assert(one(e, "process.spawn.linked", "r"))
    assert(one(e, "processX", "r"), "the dot is not required")
    assert(one(e, "process", "r"))
    assert(not one(e, "proc", "r"))
    assert(not one(e, "xprocess.send", "r"))
  `);
});

test('"pre*" is a prefix match', () => {
  lua(`
    local e = P("*", "app.workers:*", "allow")
    assert(one(e, "a", "app.workers:one"))
    assert(one(e, "a", "app.workers:"))
    assert(not one(e, "a", "app.worker:one"))
    assert(not one(e, "a", "x.app.workers:one"))
  `);
});

test('a leading wildcard "*.read" is a suffix match', () => {
  lua(`
    local e = P("*.read", "*", "allow")
    assert(one(e, "file.read", "r"))
    assert(one(e, "a.b.read", "r"))
    assert(one(e, ".read", "r"))
    assert(not one(e, "file.reader", "r"))
    assert(not one(e, "fileread", "r"))
  `);
});

test('"*mid*" is an infix match, "**" matches anything', () => {
  lua(`
    assert(one(P("*", "*secret*", "allow"), "a", "doc:secret:1"))
    assert(not one(P("*", "*secret*", "allow"), "a", "doc:public:1"))
    assert(one(P("**", "*", "allow"), "anything", "r"))
  `);
});

test('pattern lists match when any element does', () => {
  lua(`
    local e = P({ "process.spawn", "process.host", "process.spawn.*" }, { "app.workers:*", "app:processes" }, "allow")
    assert(one(e, "process.spawn", "app.workers:w1"))
    assert(one(e, "process.host", "app:processes"))
    assert(one(e, "process.spawn.monitored", "app:processes"))
    assert(not one(e, "process.send", "app:processes"))
    assert(not one(e, "process.spawn", "app:other"))
    assert(not one(P({}, "*", "allow"), "a", "r"), "an empty action list matches nothing")
  `);
});

// ---------------------------------------------------------------------------------------------
// Scope evaluation and the decision procedure

test('deny overrides allow, whatever the order', () => {
  lua(`
    load_all({
      ["t:a"] = P("*", "*", "allow"),
      ["t:d"] = P("delete", "*", "deny"),
      ["t:z"] = P("*", "*", "allow"),
    })
    local actor = S.new_actor("u", {})
    for _, order in ipairs({ { "t:a", "t:d", "t:z" }, { "t:d", "t:a" }, { "t:z", "t:a", "t:d" } }) do
      local ctx = { actor = actor, scope = scope_of(order) }
      assert(not S.check(ctx, "delete", "doc:1"))
      assert(S.check(ctx, "read", "doc:1"))
      eqv(ctx.scope:evaluate(actor, "delete", "doc:1"), "deny")
      eqv(ctx.scope:evaluate(actor, "read", "doc:1"), "allow")
    end
  `);
});

test('undefined is denied: a scope where nothing matches denies', () => {
  lua(`
    load_all({ ["t:a"] = P("read", "doc:*", "allow") })
    local actor = S.new_actor("u", {})
    local ctx = { actor = actor, scope = scope_of({ "t:a" }) }
    assert(S.check(ctx, "read", "doc:1"))
    assert(not S.check(ctx, "write", "doc:1"))
    eqv(ctx.scope:evaluate(actor, "write", "doc:1"), "undefined")
    -- a deny policy that does not match leaves the result undefined too
    load_all({ ["t:d"] = P("x", "*", "deny") })
    ctx = { actor = actor, scope = scope_of({ "t:d" }) }
    eqv(ctx.scope:evaluate(actor, "read", "doc:1"), "undefined")
    assert(not S.check(ctx, "read", "doc:1"))
  `);
});

test('an empty scope denies everything, in either mode', () => {
  lua(`
    load_all({ ["t:a"] = P("*", "*", "allow") })
    local ctx = { actor = S.new_actor("u"), scope = S.new_scope() }
    assert(#ctx.scope:policies() == 0)
    assert(not S.check(ctx, "process.spawn.monitored", "app:w"))
    assert(not S.check(ctx, "anything", ""))
    eqv(ctx.scope:evaluate(ctx.actor, "a", "b"), "undefined")
    K.cfg.strict_mode = true
    assert(not S.check(ctx, "anything", ""))
    assert(not S.check({ actor = ctx.actor, scope = S.new_scope({}) }, "a", "b"))
  `);
});

test('strict mode: actor or scope missing is allowed by default, denied when strict', () => {
  lua(`
    load_all({ ["t:d"] = P("*", "*", "deny") })
    local actor, scope = S.new_actor("u"), scope_of({ "t:d" })
    -- permissive default: anything missing allows, even next to a deny-all scope
    assert(S.check(nil, "a", "r"))
    assert(S.check({}, "a", "r"))
    assert(S.check({ actor = actor }, "a", "r"))
    assert(S.check({ scope = scope }, "a", "r"))
    assert(not S.check({ actor = actor, scope = scope }, "a", "r"))
    K.cfg.strict_mode = true
    assert(not S.check(nil, "a", "r"))
    assert(not S.check({}, "a", "r"))
    assert(not S.check({ actor = actor }, "a", "r"))
    assert(not S.check({ scope = scope }, "a", "r"))
    -- with both present, strict mode changes nothing: the scope decides
    load_all({ ["t:a"] = P("*", "*", "allow") })
    assert(S.check({ actor = actor, scope = scope_of({ "t:a" }) }, "a", "r"))
    -- strict_mode must be literally true
    K.cfg.strict_mode = "yes"
    assert(S.check({}, "a", "r"))
    K.cfg = nil
    assert(S.check({}, "a", "r"))
  `);
});

test('values that are not actors or scopes count as missing', () => {
  lua(`
    load_all({ ["t:d"] = P("*", "*", "deny") })
    assert(S.check({ actor = { id = "u" }, scope = scope_of({ "t:d" }) }, "a", "r"))
    assert(S.check({ actor = S.new_actor("u"), scope = { "t:d" } }, "a", "r"))
    K.cfg.strict_mode = true
    assert(not S.check({ actor = { id = "u" }, scope = scope_of({ "t:d" }) }, "a", "r"))
  `);
});

// ---------------------------------------------------------------------------------------------
// Conditions: every operator

test('eq / ne, with number-string coercion and missing fields', () => {
  lua(`
    assert(one(P("*", "*", "allow", { C("actor.meta.role", "eq", "admin") }), "a", "r", nil, { role = "admin" }))
    assert(not one(P("*", "*", "allow", { C("actor.meta.role", "eq", "admin") }), "a", "r", nil, { role = "user" }))
    assert(not one(P("*", "*", "allow", { C("actor.meta.role", "eq", "admin") }), "a", "r", nil, {}))
    assert(one(P("*", "*", "allow", { C("meta.n", "eq", 3) }), "a", "r", { n = "3" }))
    assert(one(P("*", "*", "allow", { C("meta.n", "eq", "3.0") }), "a", "r", { n = 3 }))
    assert(one(P("*", "*", "allow", { C("meta.b", "eq", true) }), "a", "r", { b = true }))
    assert(not one(P("*", "*", "allow", { C("meta.b", "eq", true) }), "a", "r", { b = "true" }))
    assert(one(P("*", "*", "allow", { C("meta.status", "ne", "deleted") }), "a", "r", { status = "ok" }))
    assert(not one(P("*", "*", "allow", { C("meta.status", "ne", "deleted") }), "a", "r", { status = "deleted" }))
    assert(one(P("*", "*", "allow", { C("meta.status", "ne", "deleted") }), "a", "r", {}), "missing is unequal")
  `);
});

test('lt / gt / lte / gte on numbers and strings; uncomparable values fail', () => {
  lua(`
    local function cmp(op, field_v, v) return one(P("*", "*", "allow", { C("meta.x", op, v) }), "a", "r", { x = field_v }) end
    assert(cmp("lt", 2, 3)); assert(not cmp("lt", 3, 3)); assert(not cmp("lt", 4, 3))
    assert(cmp("gt", 4, 3)); assert(not cmp("gt", 3, 3)); assert(not cmp("gt", 2, 3))
    assert(cmp("lte", 3, 3)); assert(cmp("lte", 2, 3)); assert(not cmp("lte", 4, 3))
    assert(cmp("gte", 3, 3)); assert(cmp("gte", 4, 3)); assert(not cmp("gte", 2, 3))
    assert(cmp("lt", 2.5, 3)); assert(cmp("gt", "10", 9), "numeric string vs number compares numerically")
    assert(cmp("lt", "abc", "abd")); assert(not cmp("lt", "b", "a"))
    assert(cmp("gt", "10", "9") == false, "two strings compare as strings")
    -- missing field, wrong types: the condition cannot be evaluated -> undefined
    eqv(result(P("*", "*", "allow", { C("meta.x", "lt", 3) }), "a", "r", {}), "undefined")
    eqv(result(P("*", "*", "allow", { C("meta.x", "lt", 3) }), "a", "r", { x = "abc" }), "undefined")
    eqv(result(P("*", "*", "allow", { C("meta.x", "gte", 3) }), "a", "r", { x = true }), "undefined")
    eqv(result(P("*", "*", "allow", { C("meta.x", "gt", 3) }), "a", "r", { x = {} }), "undefined")
  `);
});

test('the docs example: deny confidential documents without clearance', () => {
  lua(`
    load_all({
      ["app.security:deny_confidential"] = P("*", "document:*", "deny", {
        C("meta.classification", "eq", "confidential"),
        C("actor.meta.clearance", "lt", 3),
      }),
      ["app.security:readonly"] = P({ "*.read", "*.get", "*.list", "read" }, "*", "allow"),
    })
    local scope = scope_of({ "app.security:deny_confidential", "app.security:readonly" })
    local low = { actor = S.new_actor("user:1", { clearance = 1 }), scope = scope }
    local high = { actor = S.new_actor("user:2", { clearance = 3 }), scope = scope }
    local none = { actor = S.new_actor("user:3", {}), scope = scope }
    assert(not S.check(low, "read", "document:1", { classification = "confidential" }))
    assert(S.check(low, "read", "document:1", { classification = "internal" }))
    assert(S.check(high, "read", "document:1", { classification = "confidential" }))
    -- the deny's clearance condition cannot be evaluated, so the deny does not apply
    assert(S.check(none, "read", "document:1", { classification = "confidential" }))
  `);
});

test('in / nin', () => {
  lua(`
    local roles = { "admin", "moderator" }
    assert(one(P("*", "*", "allow", { C("actor.meta.role", "in", roles) }), "a", "r", nil, { role = "moderator" }))
    assert(not one(P("*", "*", "allow", { C("actor.meta.role", "in", roles) }), "a", "r", nil, { role = "user" }))
    assert(not one(P("*", "*", "allow", { C("actor.meta.role", "in", roles) }), "a", "r", nil, {}))
    assert(one(P("*", "*", "allow", { C("action", "in", { "read", "write" }) }), "write", "r"))
    assert(one(P("*", "*", "allow", { C("meta.n", "in", { 1, 2 }) }), "a", "r", { n = "2" }))
    assert(one(P("*", "*", "allow", { C("meta.status", "nin", { "deleted", "archived" }) }), "a", "r", { status = "live" }))
    assert(not one(P("*", "*", "allow", { C("meta.status", "nin", { "deleted", "archived" }) }), "a", "r", { status = "deleted" }))
    assert(one(P("*", "*", "allow", { C("meta.status", "nin", { "deleted" }) }), "a", "r", {}))
    -- a non-list value is a broken policy
    local n, problems = load_all({ ["t:p"] = P("*", "*", "allow", { C("action", "in", "read") }) }, true)
    eqv(#problems, 1); assert(problems[1].message:find("list", 1, true))
  `);
});

test('exists / nexists, and value false inverting them', () => {
  lua(`
    assert(one(P("*", "*", "allow", { C("meta.owner", "exists", true) }), "a", "r", { owner = "u" }))
    assert(not one(P("*", "*", "allow", { C("meta.owner", "exists", true) }), "a", "r", {}))
    assert(one(P("*", "*", "allow", { C("meta.owner", "exists") }), "a", "r", { owner = false }), "false exists")
    assert(one(P("*", "*", "allow", { C("meta.deleted", "nexists", true) }), "a", "r", {}))
    assert(not one(P("*", "*", "allow", { C("meta.deleted", "nexists", true) }), "a", "r", { deleted = 1 }))
    assert(one(P("*", "*", "allow", { C("meta.owner", "exists", false) }), "a", "r", {}))
    assert(one(P("*", "*", "allow", { C("meta.owner", "nexists", false) }), "a", "r", { owner = 1 }))
    assert(one(P("*", "*", "allow", { C("meta.x", "exists", true) }), "a", "r", nil) == false, "no attributes at all")
  `);
});

test('contains / ncontains on strings and lists', () => {
  lua(`
    assert(one(P("*", "*", "allow", { C("resource", "contains", "sensitive") }), "a", "doc:sensitive:1"))
    assert(not one(P("*", "*", "allow", { C("resource", "contains", "sensitive") }), "a", "doc:1"))
    assert(one(P("*", "*", "allow", { C("resource", "contains", "a.b") }), "a", "xa.by"), "plain, not a pattern")
    assert(not one(P("*", "*", "allow", { C("resource", "contains", "a.b") }), "a", "xaXby"))
    assert(one(P("*", "*", "allow", { C("actor.meta.tags", "contains", "ops") }), "a", "r", nil, { tags = { "dev", "ops" } }))
    assert(not one(P("*", "*", "allow", { C("actor.meta.tags", "contains", "qa") }), "a", "r", nil, { tags = { "dev", "ops" } }))
    assert(one(P("*", "*", "allow", { C("meta.n", "contains", 23) }), "a", "r", { n = 1234 }))
    assert(one(P("*", "*", "allow", { C("resource", "ncontains", "public") }), "a", "doc:private"))
    assert(not one(P("*", "*", "allow", { C("resource", "ncontains", "public") }), "a", "doc:public"))
    assert(one(P("*", "*", "allow", { C("meta.x", "ncontains", "a") }), "a", "r", {}), "missing contains nothing")
    -- a boolean cannot contain anything: both forms are undefined
    eqv(result(P("*", "*", "allow", { C("meta.x", "contains", "a") }), "a", "r", { x = true }), "undefined")
    eqv(result(P("*", "*", "allow", { C("meta.x", "ncontains", "a") }), "a", "r", { x = true }), "undefined")
  `);
});

test('matches / nmatches with the regex subset', () => {
  lua(`
    local function m(re, s) return one(P("*", "*", "allow", { C("resource", "matches", re) }), "a", s) end
    local function nm(re, s) return one(P("*", "*", "allow", { C("resource", "nmatches", re) }), "a", s) end
    assert(m("^doc:.*", "doc:1")); assert(not m("^doc:.*", "xdoc:1"))
    assert(m("doc", "my-doc-1"), "unanchored search")
    assert(m("^api:/v[0-9]+/admin/.*", "api:/v12/admin/users"))
    assert(not m("^api:/v[0-9]+/admin/.*", "api:/vX/admin/users"))
    assert(m("^a\\\\.b$", "a.b")); assert(not m("^a\\\\.b$", "axb"))
    assert(m("^\\\\d{3}-\\\\d{2,4}$", "123-45")); assert(m("^\\\\d{3}-\\\\d{2,4}$", "123-4567"))
    assert(not m("^\\\\d{3}-\\\\d{2,4}$", "123-4")); assert(not m("^\\\\d{3}-\\\\d{2,4}$", "123-45678"))
    assert(m("^x{2,}$", "xxxx")); assert(not m("^x{2,}$", "x"))
    assert(m("^(read|write):\\\\w+$", "write:doc_1")); assert(not m("^(read|write):\\\\w+$", "delete:doc"))
    assert(m("^(?:a|b)c?$", "a")); assert(m("^(?:a|b)c?$", "bc")); assert(not m("^(?:a|b)c?$", "cc"))
    assert(m("^user(:admin)?$", "user")); assert(m("^user(:admin)?$", "user:admin"))
    assert(m("^cat$|^dog$", "dog")); assert(not m("^cat$|^dog$", "cats"))
    assert(m("^[^:]+:[a-z-]+$", "ns:a-b")); assert(not m("^[^:]+:[a-z-]+$", "ns:A"))
    assert(m("^a+?b$", "aaab")); assert(m("^a.*?z$", "abcz"))
    assert(m("100%", "100%"), "% is literal"); assert(m("^a-b$", "a-b"), "- is literal")
    assert(m("^[\\\\d.]+$", "1.2.3")); assert(not m("^[\\\\d.]+$", "1.2a"))
    assert(m("{", "a{b"), "a lone brace is literal")
    assert(nm("^system:.*", "user:1")); assert(not nm("^system:.*", "system:core"))
    -- numbers are stringified; a missing field never matches
    assert(one(P("*", "*", "allow", { C("meta.n", "matches", "^4") }), "a", "r", { n = 42 }))
    assert(not one(P("*", "*", "allow", { C("meta.n", "matches", ".*") }), "a", "r", {}))
    assert(one(P("*", "*", "allow", { C("meta.n", "nmatches", "x") }), "a", "r", {}))
    -- uncomparable: both forms undefined
    eqv(result(P("*", "*", "allow", { C("meta.n", "nmatches", "x") }), "a", "r", { n = {} }), "undefined")
  `);
});

test('unsupported regexes are rejected when the policy loads', () => {
  lua(`
    for _, re in ipairs({ "(a)+", "(a)*", "a\\\\b", "\\\\1", "(?=a)", "a^b", "a$b", "[[:alpha:]]", "[abc", "(ab", "ab)", "*a", "x{99}", "a\\\\" }) do
      assert(S.compile_regex(re) == nil, "expected rejection: " .. re)
      local _, problems = load_all({ ["t:p"] = P("*", "*", "allow", { C("resource", "matches", re) }) }, true)
      eqv(#problems, 1, re)
      -- a broken policy is always undefined, so a broken allow allows nothing
      local actor = S.new_actor("u")
      eqv(S.policy("t:p"):evaluate(actor, "a", "r"), "undefined")
      assert(not S.check({ actor = actor, scope = scope_of({ "t:p" }) }, "a", "r"))
    end
    -- too many alternatives
    assert(S.compile_regex(string.rep("(a|b)", 7)) == nil)
    assert(S.compile_regex(string.rep("(a|b)", 6)) ~= nil)
  `);
});

test('a regex reaching matches through value_from is compiled at run time', () => {
  lua(`
    local e = P("*", "*", "allow", { { field = "resource", operator = "matches", value_from = "actor.meta.allowed" } })
    assert(one(e, "a", "doc:7", nil, { allowed = "^doc:%d*" }) == false, "Lua pattern syntax is not regex")
    assert(one(e, "a", "doc:7", nil, { allowed = "^doc:\\\\d+$" }))
    assert(not one(e, "a", "img:7", nil, { allowed = "^doc:\\\\d+$" }))
    eqv(result(e, "a", "doc:7", nil, { allowed = "(x)+" }), "undefined")
    eqv(result(e, "a", "doc:7", nil, {}), "undefined")
  `);
});

test('conditions are AND-ed', () => {
  lua(`
    local e = P("*", "*", "allow", {
      C("actor.meta.department", "eq", "engineering"),
      C("meta.environment", "eq", "production"),
    })
    assert(one(e, "a", "r", { environment = "production" }, { department = "engineering" }))
    assert(not one(e, "a", "r", { environment = "staging" }, { department = "engineering" }))
    assert(not one(e, "a", "r", { environment = "production" }, { department = "sales" }))
  `);
});

test('fields: action, resource, actor.id, nested actor.meta and meta paths', () => {
  lua(`
    assert(one(P("*", "*", "allow", { C("action", "eq", "go") }), "go", "r"))
    assert(one(P("*", "*", "allow", { C("resource", "eq", "r1") }), "go", "r1"))
    assert(one(P("*", "*", "allow", { C("actor.id", "eq", "user:9") }), "go", "r", nil, {}, "user:9"))
    assert(one(P("*", "*", "allow", { C("actor.meta.org.name", "eq", "acme") }), "go", "r", nil, { org = { name = "acme" } }))
    assert(one(P("*", "*", "allow", { C("meta.pid", "eq", "{app|0x00001}") }), "go", "r", { pid = "{app|0x00001}" }))
    assert(one(P("*", "*", "allow", { C("meta.list.2", "eq", "b") }), "go", "r", { list = { "a", "b" } }))
    -- walking through a non-table gives nil, not an error
    assert(not one(P("*", "*", "allow", { C("meta.a.b", "eq", "x") }), "go", "r", { a = "str" }))
    -- unknown roots are a broken policy
    for _, f in ipairs({ "actor", "actor.name", "subject.id", "action.x", "meta..x", "" }) do
      local _, problems = load_all({ ["t:p"] = P("*", "*", "allow", { C(f, "eq", "x") }) }, true)
      eqv(#problems, 1, f)
    end
  `);
});

test('value_from compares against another field (and accepts the normalised valueFrom)', () => {
  lua(`
    local owner = P({ "read", "write", "delete" }, "document:*", "allow", {
      { field = "meta.owner", operator = "eq", value_from = "actor.id" } })
    assert(one(owner, "write", "document:1", { owner = "user:1" }, {}, "user:1"))
    assert(not one(owner, "write", "document:1", { owner = "user:2" }, {}, "user:1"))
    assert(not one(owner, "write", "document:1", {}, {}, "user:1"))
    local camel = P("*", "*", "allow", { { field = "meta.level", operator = "lte", valueFrom = "actor.meta.level" } })
    assert(one(camel, "a", "r", { level = 2 }, { level = 3 }))
    assert(not one(camel, "a", "r", { level = 4 }, { level = 3 }))
    local bad = P("*", "*", "allow", { { field = "meta.x", operator = "eq", value_from = "bogus.path" } })
    local _, problems = load_all({ ["t:p"] = bad }, true)
    eqv(#problems, 1)
  `);
});

test('broken policies load, are reported, and evaluate to undefined', () => {
  lua(`
    local n, problems = load_all({
      ["t:effect"] = P("*", "*", "permit"),
      ["t:op"] = P("*", "*", "allow", { C("action", "like", "x") }),
      ["t:noblock"] = { kind = "security.policy" },
      ["t:ok"] = P("*", "*", "allow"),
      ["t:other"] = { kind = "process.lua", source = "x" },
    }, true)
    eqv(n, 4)
    eqv(#problems, 3)
    local actor = S.new_actor("u")
    for _, id in ipairs({ "t:effect", "t:op", "t:noblock" }) do
      eqv(S.policy(id):evaluate(actor, "a", "r"), "undefined", id)
    end
    local p, err = S.policy("t:other")
    assert(p == nil and err:kind() == "NotFound")
  `);
});

// ---------------------------------------------------------------------------------------------
// Expression policies

test('the docs expression example', () => {
  lua(`
    local e = X({ "read", "write" }, "file:*", "allow", [[
      (actor.meta.role == "editor" && action == "write") ||
      (action == "read" && meta.public == true) ||
      actor.id == meta.owner
    ]])
    assert(one(e, "write", "file:1", {}, { role = "editor" }))
    assert(not one(e, "write", "file:1", {}, { role = "viewer" }))
    assert(one(e, "read", "file:1", { public = true }, {}))
    assert(not one(e, "read", "file:1", { public = "true" }, {}))
    assert(one(e, "write", "file:1", { owner = "user:1" }, {}, "user:1"))
    assert(not one(e, "delete", "file:1", { owner = "user:1" }, {}, "user:1"), "actions still filter")
  `);
});

test('expression operators, precedence and literals', () => {
  lua(`
    local function ex(expr, meta, actor_meta, action, resource)
      return result(X("*", "*", "allow", expr), action or "read", resource or "doc:1", meta or {}, actor_meta or {})
    end
    eqv(ex("true"), "allow"); eqv(ex("false"), "undefined")
    eqv(ex("1 < 2 && 2 <= 2 && 3 > 2 && 3 >= 3 && 1 != 2 && 2 == 2.0"), "allow")
    eqv(ex("meta.n > 10", { n = 11 }), "allow"); eqv(ex("meta.n > 10", { n = 9 }), "undefined")
    eqv(ex("meta.n >= -1", { n = -1 }), "allow")
    eqv(ex("meta.n == 1.5e2", { n = 150 }), "allow")
    eqv(ex("true || false && false"), "allow", "&& binds tighter than ||")
    eqv(ex("(true || false) && false"), "undefined")
    eqv(ex("!false"), "allow"); eqv(ex("not (1 == 2)"), "allow"); eqv(ex("!!true"), "allow")
    eqv(ex("true and not false or false"), "allow")
    eqv(ex("action in ['read', 'write']"), "allow")
    eqv(ex("action not in ['read', 'write']"), "undefined")
    eqv(ex("actor.meta.role in [\\"a\\", meta.r]", { r = "b" }, { role = "b" }), "allow")
    eqv(ex("resource contains ':'"), "allow")
    eqv(ex("resource startsWith 'doc:'"), "allow"); eqv(ex("resource endsWith ':1'"), "allow")
    eqv(ex("resource startsWith 'img:'"), "undefined"); eqv(ex("resource endsWith ''"), "allow")
    eqv(ex("resource matches '^doc:\\\\\\\\d+$'"), "allow")
    eqv(ex("resource matches meta.re", { re = "^doc" }), "allow")
    eqv(ex("meta['x-y'] == 'z'", { ["x-y"] = "z" }), "allow")
    eqv(ex("meta.missing == nil && meta.missing == null"), "allow")
    eqv(ex("'it\\\\'s' == \\"it's\\""), "allow")
    eqv(ex("actor.meta.tags contains 'ops'", {}, { tags = { "ops" } }), "allow")
  `);
});

test('expression evaluation errors leave the policy undefined', () => {
  lua(`
    local function ex(expr, meta) return result(X("*", "*", "deny", expr), "a", "r", meta or {}) end
    eqv(ex("meta.n > 1"), "undefined", "missing under an ordering operator")
    eqv(ex("meta.s && true", { s = "x" }), "undefined", "&& needs booleans")
    eqv(ex("!meta.s", { s = 1 }), "undefined")
    eqv(ex("meta.n"), "undefined", "a non-boolean result")
    eqv(ex("meta.n", { n = true }), "deny")
    eqv(ex("meta.s startsWith 'a'", { s = 5 }), "undefined")
    eqv(ex("action in meta.s", { s = "abc" }), "undefined")
    eqv(ex("-meta.s == 1", { s = "x" }), "undefined")
    eqv(ex("meta.s matches meta.re", { s = "a", re = "(a)+" }), "undefined")
    -- short-circuit: the right side is never evaluated
    eqv(ex("true || meta.n > 1"), "deny")
    eqv(ex("false && meta.n > 1"), "undefined")
  `);
});

test('expression parse errors make a broken, reported policy', () => {
  lua(`
    for _, src in ipairs({ "", "(true", "true)", "a.b == 1", "actor.name == 'x'", "1 +", "'open",
        "meta.x ==", "1 = 1", "resource matches '(a)+'", "meta[1.5 == 1", "true true", "@" }) do
      local _, problems = load_all({ ["t:p"] = X("*", "*", "allow", src) }, true)
      eqv(#problems, 1, src)
      assert(problems[1].id == "t:p")
      eqv(S.policy("t:p"):evaluate(S.new_actor("u"), "a", "r"), "undefined", src)
    end
    -- an expr entry with no kind is recognised by its expression field
    local e = X("*", "*", "allow", "action == 'a'"); e.kind = nil
    load_all({ ["t:p"] = e })
    eqv(S.policy("t:p"):evaluate(S.new_actor("u"), "a", "r"), "allow")
    eqv(S.policy("t:p"):evaluate(S.new_actor("u"), "b", "r"), "undefined")
  `);
});

// ---------------------------------------------------------------------------------------------
// Objects: actors, policies, scopes, groups

test('actors: id, meta is a copy, arguments are checked', () => {
  lua(`
    local meta = { role = "admin", nested = { a = 1 }, f = function() end }
    local a = S.new_actor("user:1", meta)
    eqv(a:id(), "user:1")
    local m = a:meta()
    eqv(m.role, "admin"); eqv(m.nested.a, 1); eqv(m.f, nil, "functions are dropped")
    m.role = "x"; m.nested.a = 2; meta.role = "y"
    eqv(a:meta().role, "admin"); eqv(a:meta().nested.a, 1)
    assert(S.is_actor(a) and not S.is_actor({}))
    eqv(next(S.new_actor("u"):meta()), nil)
    assert(not pcall(S.new_actor, 1)); assert(not pcall(S.new_actor, "u", "meta"))
    assert(tostring(a):find("user:1", 1, true))
  `);
});

test('policies: lookup, id, evaluate, interned objects', () => {
  lua(`
    load_all({ ["app:read"] = P("read", "*", "allow"), ["app:nodel"] = P("delete", "*", "deny") })
    local p = assert(S.policy("app:read"))
    eqv(p:id(), "app:read")
    assert(S.policy("app:read") == p, "one object per id")
    local actor = S.new_actor("u")
    eqv(p:evaluate(actor, "read", "x"), "allow")
    eqv(p:evaluate(actor, "write", "x"), "undefined")
    eqv(S.policy("app:nodel"):evaluate(nil, "delete", "x"), "deny", "no actor is fine")
    local none, err = S.policy("app:nope")
    assert(none == nil and err:kind() == "NotFound")
    assert(not pcall(p.evaluate, p, "not an actor", "a", "r"))
    assert(not pcall(p.evaluate, p, actor, nil, "r"))
  `);
});

test('scopes: new_scope, with, without, contains, policies, evaluate; immutable', () => {
  lua(`
    load_all({ ["app:read"] = P("read", "*", "allow"), ["app:write"] = P("write", "*", "allow"),
      ["app:admin"] = P("*", "*", "allow") })
    local r, w = S.policy("app:read"), S.policy("app:write")
    local s0 = S.new_scope()
    local s1 = s0:with(r)
    local s2 = s1:with(w)
    eqv(#s0:policies(), 0); eqv(#s1:policies(), 1); eqv(#s2:policies(), 2)
    assert(s2:policies()[1] == r and s2:policies()[2] == w)
    eqv(s2:policies()[2]:id(), "app:write")
    assert(s2:contains("app:read") and s2:contains(w) and not s2:contains("app:admin"))
    assert(not s1:contains("app:write"), "with returns a new scope")
    local s3 = s2:without("app:read")
    assert(not s3:contains("app:read") and s3:contains("app:write") and s2:contains("app:read"))
    assert(s2:without(r):contains("app:write") and not s2:without(r):contains("app:read"))
    eqv(#s2:with(r):policies(), 2, "no duplicates")
    eqv(#S.new_scope({ r, r, "app:write" }):policies(), 2, "ids are accepted and deduplicated")
    local actor = S.new_actor("u")
    eqv(s2:evaluate(actor, "write", "x"), "allow"); eqv(s3:evaluate(actor, "read", "x"), "undefined")
    local bad, err = S.new_scope({ "app:missing" })
    assert(bad == nil and err:kind() == "NotFound")
    bad, err = s0:with("app:missing")
    assert(bad == nil and err:kind() == "NotFound")
    -- argument errors point at the caller's code, not at the kernel (the closures avoid tail
    -- calls, which would drop the caller's frame)
    for _, f in ipairs({ S.new_scope, S.module.new_scope }) do
      local ok, e = pcall(function() local r = f({ {} }); return r end)
      assert(not ok and e:find('reset()', 1, true) and e:find("is not a security.Policy", 1, true), e)
      ok, e = pcall(function() local r = f("x"); return r end)
      assert(not ok and e:find('reset()', 1, true), e)
    end
    local ok, e = pcall(function() local r = s0:evaluate("nope", "a", "r"); return r end)
    assert(not ok and e:find('reset()', 1, true), e)
    assert(not pcall(s0.with, s0, 42))
    assert(S.is_scope(s0) and not S.is_scope({}))
  `);
});

test('groups and named_scope', () => {
  lua(`
    load_all({
      ["app.security:admin_policy"] = P("*", "*", "allow", { C("actor.meta.role", "eq", "admin") }, { "app.security:admin" }),
      ["app.security:readonly"] = P("*.read", "*", "allow", nil, { "app.security:default", "app.security:admin" }),
      ["app.security:owner"] = P("write", "document:*", "allow",
        { { field = "meta.owner", operator = "eq", value_from = "actor.id" } }, { "app.security:default" }),
      ["app.security:loose"] = P("*", "*", "allow"),
    })
    local admin = assert(S.named_scope("app.security:admin"))
    local ids = {}
    for i, p in ipairs(admin:policies()) do ids[i] = p:id() end
    eqv(table.concat(ids, ","), "app.security:admin_policy,app.security:readonly", "sorted by id")
    local def = assert(S.named_scope("app.security:default"))
    eqv(#def:policies(), 2)
    local u = S.new_actor("user:1", { role = "user" })
    assert(S.check({ actor = u, scope = def }, "doc.read", "x"))
    assert(S.check({ actor = u, scope = def }, "write", "document:1", { owner = "user:1" }))
    assert(not S.check({ actor = u, scope = def }, "write", "document:1", { owner = "user:2" }))
    assert(not S.check({ actor = u, scope = admin }, "delete", "x"))
    assert(S.check({ actor = S.new_actor("root", { role = "admin" }), scope = admin }, "delete", "x"))
    local s, err = S.named_scope("app.security:nope")
    assert(s == nil and err:kind() == "NotFound")
    -- each named_scope call is a fresh scope; editing it does not touch the group
    local a2 = admin:without("app.security:readonly")
    eqv(#S.named_scope("app.security:admin"):policies(), 2)
    -- load_policies replaces everything: groups of the old snapshot are gone
    load_all({ ["x:p"] = P("*", "*", "allow", nil, { "x:g" }) })
    assert(S.named_scope("app.security:admin") == nil)
    assert(S.named_scope("x:g"))
    -- a scope built before the reload keeps its policies
    eqv(admin:evaluate(S.new_actor("r", { role = "admin" }), "a", "b"), "allow")
  `);
});

test('from_config builds the actor and scope of a lifecycle.security block', () => {
  lua(`
    load_all({
      ["app:a"] = P("a", "*", "allow", nil, { "app:g" }),
      ["app:b"] = P("b", "*", "allow", nil, { "app:g" }),
      ["app:c"] = P("c", "*", "allow"),
    })
    local actor, scope = S.from_config({ actor = { id = "service:w", meta = { role = "worker" } },
      groups = { "app:g" }, policies = { "app:c", "app:a" } })
    eqv(actor:id(), "service:w"); eqv(actor:meta().role, "worker")
    eqv(#scope:policies(), 3)
    assert(S.check({ actor = actor, scope = scope }, "c", "r"))
    local a2, s2 = S.from_config({ actor = { id = "x" } })
    assert(a2 and s2 == nil, "no policies or groups: no scope")
    local a3, s3 = S.from_config({ actor = { id = "x" }, policies = {} })
    eqv(#s3:policies(), 0)
    local a4, s4, err = S.from_config({ groups = { "app:nope" } })
    assert(a4 == nil and s4 == nil and err:kind() == "NotFound")
    a4, s4, err = S.from_config({ policies = { "app:nope" } })
    assert(err:kind() == "NotFound")
  `);
});

// ---------------------------------------------------------------------------------------------
// Crossing workers

test('encode_ctx / decode_ctx round trip', () => {
  lua(`
    load_all({ ["app:r"] = P("read", "*", "allow"), ["app:d"] = P("read", "secret:*", "deny") })
    local actor = S.new_actor("user:1", { role = "r", n = 2, nested = { x = { 1, 2 } } })
    local scope = scope_of({ "app:r", "app:d" })
    local t = S.encode_ctx(actor, scope)
    -- plain data only
    assert(getmetatable(t) == nil and getmetatable(t.actor) == nil)
    eqv(t.actor.id, "user:1"); eqv(t.scope[1], "app:r"); eqv(t.scope[2], "app:d"); eqv(#t.scope, 2)
    local a2, s2 = S.decode_ctx(t)
    eqv(a2:id(), "user:1"); eqv(a2:meta().nested.x[2], 2)
    eqv(#s2:policies(), 2); assert(s2:contains("app:r") and s2:contains("app:d"))
    assert(s2:policies()[1] == S.policy("app:r"), "resolved to the receiver's policy objects")
    local ctx = { actor = a2, scope = s2 }
    assert(S.check(ctx, "read", "doc:1")); assert(not S.check(ctx, "read", "secret:1"))
    -- the encoding is independent of the original: mutating it later changes nothing
    t.actor.meta.role = "changed"
    eqv(a2:meta().role, "r")
    -- partial contexts
    local e1 = S.encode_ctx(actor, nil)
    assert(e1.scope == nil)
    local a3, s3 = S.decode_ctx(e1)
    assert(a3:id() == "user:1" and s3 == nil)
    local a4, s4 = S.decode_ctx(S.encode_ctx(nil, S.new_scope()))
    assert(a4 == nil and #s4:policies() == 0)
    local a5, s5 = S.decode_ctx(nil)
    assert(a5 == nil and s5 == nil)
    -- an empty scope still denies after the trip
    assert(not S.check({ actor = a3, scope = s4 }, "read", "doc:1"))
  `);
});

test('decoding an unknown policy id fails closed', () => {
  lua(`
    load_all({ ["app:r"] = P("*", "*", "allow") })
    local t = S.encode_ctx(S.new_actor("u"), scope_of({ "app:r" }))
    t.scope[2] = "app:only_on_sender"
    local a, s = S.decode_ctx(t)
    eqv(#s:policies(), 2)
    assert(s:contains("app:only_on_sender"))
    assert(not S.check({ actor = a, scope = s }, "anything", "r"), "unknown policy denies")
    assert(S.policy("app:only_on_sender") == nil, "the placeholder is not a loaded policy")
    eqv(S.encode_scope(s)[2], "app:only_on_sender", "and it re-encodes under its id")
  `);
});

// ---------------------------------------------------------------------------------------------
// The Lua-facing module

test('module: actor() and scope() read the current process', () => {
  lua(`
    local sec = S.module
    assert(sec.actor() == nil and sec.scope() == nil, "no current process")
    K.cp = { pid = "{app|0x00001}" }
    assert(sec.actor() == nil and sec.scope() == nil)
    local a, s = S.new_actor("u"), S.new_scope()
    K.cp.ctx_actor, K.cp.ctx_scope = a, s
    assert(sec.actor() == a and sec.scope() == s)
  `);
});

test('module: can() uses the current frame and passes meta', () => {
  lua(`
    load_all({ ["app:owner"] = P("edit", "doc:*", "allow", { { field = "meta.owner", operator = "eq", value_from = "actor.id" } }) })
    local sec = S.module
    assert(sec.can("edit", "doc:1"), "no process: permissive default")
    K.cfg.strict_mode = true
    assert(not sec.can("edit", "doc:1"))
    K.cp = { pid = "{app|0x00001}", ctx_actor = S.new_actor("user:1"), ctx_scope = scope_of({ "app:owner" }) }
    assert(sec.can("edit", "doc:1", { owner = "user:1" }))
    assert(not sec.can("edit", "doc:1", { owner = "user:2" }))
    assert(not sec.can("edit", "doc:1"))
    assert(not pcall(sec.can, nil, "doc:1"))
    assert(not pcall(sec.can, "edit", 1))
    assert(not pcall(sec.can, "edit", "doc:1", "meta"))
  `);
});

test('module: creating actors and scopes and reading policies are guarded', () => {
  lua(`
    load_all({
      ["app:p"] = P("*", "*", "allow", nil, { "app:g" }),
      ["app:sec"] = P({ "security.actor.create" }, "user:*", "allow"),
    })
    local sec = S.module
    -- no actor or scope in the frame: allowed (not strict)
    assert(sec.new_actor("x", { a = 1 }):meta().a == 1)
    assert(sec.new_scope({ S.policy("app:p") }))
    assert(sec.policy("app:p"):id() == "app:p")
    assert(sec.named_scope("app:g"))
    local none, err = sec.named_scope("app:zz")
    assert(none == nil and err:kind() == "NotFound")
    -- a restricted frame
    K.cp = { pid = "{app|0x00001}", ctx_actor = S.new_actor("svc"), ctx_scope = scope_of({ "app:sec" }) }
    assert(sec.new_actor("user:2"))
    local a, e1 = sec.new_actor("admin:1")
    assert(a == nil and e1:kind() == "Invalid")
    local s, e2 = sec.new_scope()
    assert(s == nil and e2:kind() == "Invalid")
    local p, e3 = sec.policy("app:p")
    assert(p == nil and e3:kind() == "Invalid")
    local g, e4 = sec.named_scope("app:g")
    assert(g == nil and e4:kind() == "Invalid")
    -- a frame with an empty scope can do nothing at all
    K.cp.ctx_scope = S.new_scope()
    assert(sec.new_actor("user:2") == nil)
    assert(not sec.can("security.actor.create", "user:2"))
  `);
});

test('check_current reads K.cp and the strict flag', () => {
  lua(`
    load_all({ ["app:send"] = P("process.send", "*", "allow", { C("meta.pid", "eq", "{app|0x00001}") }) })
    assert(S.check_current("process.send", "{app|0x00002}"))
    K.cp = { pid = "{app|0x00001}", ctx_actor = S.new_actor("u"), ctx_scope = scope_of({ "app:send" }) }
    assert(S.check_current("process.send", "{app|0x00002}", { pid = "{app|0x00001}" }))
    assert(not S.check_current("process.send", "{app|0x00002}", { pid = "{app|0x00009}" }))
    assert(not S.check_current("process.spawn", "app:w", { pid = "{app|0x00001}" }))
    K.cp.ctx_scope = nil
    assert(S.check_current("process.spawn", "app:w"))
    K.cfg.strict_mode = true
    assert(not S.check_current("process.spawn", "app:w"))
  `);
});
