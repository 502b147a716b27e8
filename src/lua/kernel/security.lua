-- Security: actors, scopes, policies and the permission check (docs/process-model.md,
-- "Security"). This file is the face the rest of the kernel sees; it wires the parts and keeps
-- the decision rule and the `security` module processes require.
--
-- Parts (each a file returning function(deps), each unit-tested on its own under fakes):
--   security_values.lua    field paths and value comparisons shared by conditions and expressions
--   security_regex.lua     the regex subset of `matches`, translated to Lua patterns
--   security_expr.lua      the expression language of `security.policy.expr`
--   security_actors.lua    Actor objects
--   security_policies.lua  loading policy entries; patterns, conditions; deciding one policy
--   security_scopes.lua    Scope objects; deciding a scope
-- Owns here: the check (the model below), crossing workers (encode/decode of the context),
-- `lifecycle.security` blocks, and the `security` module.
-- May call: its parts, loaded through deps.factory; deps.err; deps.H.newud; reads deps.cfg
-- (strict_mode) and deps.cp (the running process: ctx_actor, ctx_scope, pid) at each check.
-- deps: { H = { newud }, err, cfg, cp, factory(name) -> a kernel module's factory }
--
-- Model. An *actor* says who is acting (an id and a metadata table). A *scope* is an immutable set
-- of *policies*. Every guarded operation asks `check(ctx, action, resource, attrs)`, where ctx
-- holds the calling frame's actor and scope:
--   1. actor AND scope present: evaluate the scope; allowed only if the result is "allow".
--      "undefined" (nothing matched, or an empty scope) is a denial.
--   2. otherwise: denied if `cfg.strict_mode` is true, else allowed (the permissive default).
-- How a scope and a policy decide: security_scopes.lua, security_policies.lua.
--
-- Objects. Actors, scopes and policies are userdata from newud with their state in weak-keyed
-- side tables, like error objects. Policies are interned: one object per loaded policy id, so
-- `scope:policies()` returns the same objects `security.policy(id)` does. Scopes are immutable;
-- `with`/`without` return new scopes.
--
-- Crossing workers. encode_ctx/decode_ctx turn an actor into { id, meta } and a scope into the
-- list of its policy ids; the receiving worker has the same policies loaded and resolves them. An
-- id it does not know decodes to a placeholder policy that DENIES everything.
--
-- Kernel API (the table this factory returns):
--   load_policies(entries) -> n, problems    entries: id -> entry; replaces all policies/groups
--   check(ctx, action, resource, attrs) -> bool     ctx = { actor, scope } or nil
--   decide(actor, scope, action, resource, attrs) -> bool          the same, unpacked
--   check_current(action, resource, attrs) -> bool   for the running process (deps.cp)
--   new_actor(id, meta)  new_scope([policies])  named_scope(group)  policy(id)
--   is_actor(v)  is_scope(v)  from_config(lifecycle.security) -> actor, scope | nil, nil, err
--   encode_ctx(actor, scope) -> table  decode_ctx(table) -> actor, scope
--   encode_actor / decode_actor / encode_scope / decode_scope      the halves of those
--   compile_regex(src), compile_expr(src)                           exposed for tests
--   module                    the `security` table processes require
-- Lua-facing objects: actor:id() actor:meta(); scope:policies() (Policy objects) scope:with(p)
-- scope:without(id) scope:contains(id) scope:evaluate(actor, action, resource [, meta]);
-- policy:id() policy:evaluate(actor, action, resource [, meta]). evaluate returns "allow",
-- "deny" or "undefined". Wherever a policy is expected a policy id string is accepted too.
-- Lookups that miss return nil and a NotFound error; bad argument types raise.
--
-- Not implemented: token stores (`security.token_store` and the TokenStore methods).
return function(K)
  local type, ipairs, tostring, error = type, ipairs, tostring, error
  local newud, err = K.H.newud, K.err

  -- The parts, wired once: each receives only what it uses.
  local values = K.factory("security_values")({})
  local regex = K.factory("security_regex")({})
  local expr = K.factory("security_expr")({ values = values, regex = regex })
  local actors = K.factory("security_actors")({ newud = newud, values = values })
  local policies = K.factory("security_policies")({ newud = newud, err = err, values = values,
    regex = regex, expr = expr, actors = actors })
  local scopes = K.factory("security_scopes")({ newud = newud, err = err, values = values,
    policies = policies, actors = actors })

  local copy_data, str_arg = values.copy_data, values.str_arg
  local ACT, SCO = actors.states, scopes.states
  local make_actor, make_scope, new_scope, eval_scope = actors.make, scopes.make, scopes.new, scopes.eval

  local M = {}
  M.load_policies = policies.load
  M.new_actor = actors.new
  M.is_actor = actors.is
  function M.new_scope(policies_arg)
    local s, serr = new_scope(policies_arg) -- not a tail call: new_scope raises at level 3
    return s, serr
  end
  M.is_scope = scopes.is
  M.named_scope = scopes.named
  M.policy = policies.policy
  M.compile_regex = regex.compile
  M.compile_expr = expr.compile

  ---------------------------------------------------------------------------------------------
  -- The check: steps 1 and 2 of the model above.

  local function strict() local c = K.cfg; return c ~= nil and c.strict_mode == true end

  -- Core decision on an actor and a scope (either may be nil).
  local function decide(actor, scope, action, resource, attrs)
    local A, S = ACT[actor], SCO[scope]
    if A and S then
      if type(action) ~= "string" then action = action == nil and "" or tostring(action) end
      if type(resource) ~= "string" then resource = resource == nil and "" or tostring(resource) end
      return eval_scope(S, A, action, resource, attrs) == "allow"
    end
    return not strict()
  end
  M.decide = decide

  -- ctx: { actor = actor|nil, scope = scope|nil } or nil.
  function M.check(ctx, action, resource, attrs)
    if ctx == nil then return not strict() end
    return decide(ctx.actor, ctx.scope, action, resource, attrs)
  end

  -- The same, for the process currently running (K.cp); attrs as the caller builds them.
  function M.check_current(action, resource, attrs)
    local P = K.cp
    if P == nil then return not strict() end
    return decide(P.ctx_actor, P.ctx_scope, action, resource, attrs)
  end

  ---------------------------------------------------------------------------------------------
  -- Crossing workers, and lifecycle.security blocks.

  M.encode_actor = actors.encode
  M.encode_scope = scopes.encode
  M.decode_actor = actors.decode
  M.decode_scope = scopes.decode

  -- -> { actor = {id, meta} | nil, scope = {policy ids} | nil }
  function M.encode_ctx(actor, scope)
    return { actor = M.encode_actor(actor), scope = M.encode_scope(scope) }
  end
  -- -> actor | nil, scope | nil
  function M.decode_ctx(t)
    if type(t) ~= "table" then return nil, nil end
    return M.decode_actor(t.actor), M.decode_scope(t.scope)
  end

  -- A `lifecycle.security` block: { actor = { id, meta }, policies = {ids}, groups = {ids} }, ids
  -- qualified. The scope is the union of the groups' policies and the listed ones; it is nil when
  -- the block has neither key. -> actor|nil, scope|nil | nil, nil, err (NotFound)
  function M.from_config(sec)
    if type(sec) ~= "table" then return nil, nil end
    local actor
    if type(sec.actor) == "table" and type(sec.actor.id) == "string" then
      actor = make_actor(sec.actor.id, copy_data(type(sec.actor.meta) == "table" and sec.actor.meta or {}))
    end
    if sec.groups == nil and sec.policies == nil then return actor, nil end
    local list, has = {}, {}
    local function add(rec)
      if not has[rec.id] then has[rec.id] = true; list[#list + 1] = rec end
    end
    for _, g in ipairs(sec.groups or {}) do
      local recs = policies.group(g)
      if not recs then return nil, nil, err("NotFound", "policy group not found: " .. tostring(g), false) end
      for i = 1, #recs do add(recs[i]) end
    end
    for _, id in ipairs(sec.policies or {}) do
      local rec = policies.get(id)
      if not rec then return nil, nil, err("NotFound", "policy not found: " .. tostring(id), false) end
      add(rec)
    end
    return actor, make_scope(list)
  end


  ---------------------------------------------------------------------------------------------
  -- The `security` module a process requires. Creating actors and scopes and reading policies are
  -- themselves guarded, as the reference documents (lua/security: "Security Actions"); a denial
  -- returns nil and an error of kind Invalid, the kind the reference documents for it.

  local function cur_attrs()
    local P = K.cp
    local pid = P and P.pid
    if pid then return { pid = pid } end
    return nil
  end
  local function guard(action, resource)
    if M.check_current(action, resource, cur_attrs()) then return true end
    return false, err("Invalid", "permission denied: " .. action .. " on " .. resource, false)
  end

  local mod = {}
  function mod.actor() local P = K.cp; return P and P.ctx_actor or nil end
  function mod.scope() local P = K.cp; return P and P.ctx_scope or nil end
  function mod.can(action, resource, meta)
    str_arg(action, 1, "can")
    str_arg(resource, 2, "can")
    if meta ~= nil and type(meta) ~= "table" then error("bad argument #3 to 'can' (table expected)", 2) end
    return M.check_current(action, resource, meta)
  end
  function mod.new_actor(id, meta)
    if type(id) ~= "string" then error("bad argument #1 to 'new_actor' (string expected)", 2) end
    if meta ~= nil and type(meta) ~= "table" then error("bad argument #2 to 'new_actor' (table expected)", 2) end
    local ok, err = guard("security.actor.create", id)
    if not ok then return nil, err end
    return make_actor(id, copy_data(meta or {}))
  end
  function mod.new_scope(policies)
    if policies ~= nil and type(policies) ~= "table" then error("bad argument #1 to 'new_scope' (table expected)", 2) end
    local ok, err = guard("security.scope.create", "custom")
    if not ok then return nil, err end
    local s, serr = new_scope(policies)
    return s, serr
  end
  function mod.policy(id)
    if type(id) ~= "string" then error("bad argument #1 to 'policy' (string expected)", 2) end
    local ok, err = guard("security.policy.get", id)
    if not ok then return nil, err end
    return M.policy(id)
  end
  function mod.named_scope(id)
    if type(id) ~= "string" then error("bad argument #1 to 'named_scope' (string expected)", 2) end
    local ok, err = guard("security.policy_group.get", id)
    if not ok then return nil, err end
    return M.named_scope(id)
  end
  M.module = mod

  return M
end
