-- Security scopes: immutable sets of policies, and their evaluation.
--
-- Owns: the Scope objects (userdata from newud, state { list = array of policy records,
-- has = id -> true } in a weak-keyed side table), their Lua methods, eval_scope, and the plain form
-- of a scope for crossing workers (the list of its policy ids).
-- May call: security_policies (records, groups, eval), security_actors (actor arguments),
-- security_values (argument checks); newud and err from the kernel.
-- deps: { newud, err, values, policies, actors }
--
-- A scope evaluates its policies in no particular order: any "deny" wins, else any "allow" gives
-- "allow", else "undefined" (also for an empty scope). A scope holds the policy *records* it was
-- built from, so a later load of policies (a new registry snapshot) does not change existing
-- scopes. `with` / `without` return new scopes (or the same one when nothing changes).
--
-- Crossing workers: a scope travels as its policy ids; the receiving worker has the same policies
-- loaded and resolves them. An id it does not know decodes to a placeholder policy that DENIES
-- everything: dropping it instead could silently drop a deny rule, i.e. widen the sender's rights.
--
-- Module:
--   states                 scope -> state (weak keys); read-only for other modules (hot path)
--   make(records)          a scope over a fresh array of records
--   new(policies) -> scope | nil, err   policies: nil or a list of Policy objects / ids; raises
--                          "bad argument" two levels up (callers wrap it in a non-tail call)
--   named(group_id) -> scope | nil, NotFound      is(v)
--   eval(S, A, action, resource, meta) -> "allow" | "deny" | "undefined"
--   encode(scope) -> { ids } | nil        decode(ids) -> scope | nil
-- Lua methods: scope:policies() scope:with(p) scope:without(id) scope:contains(id)
-- scope:evaluate(actor, action, resource [, meta]).
return function(deps)
  local type, ipairs, error, setmetatable = type, ipairs, error, setmetatable
  local newud, err = deps.newud, deps.err
  local policies, actors, str_arg = deps.policies, deps.actors, deps.values.str_arg
  local policy_rec, policy_of, eval_policy = policies.record, policies.of, policies.eval
  local actor_state = actors.arg

  local function E(kind, msg) return nil, err(kind, msg, false) end

  local SCO = setmetatable({}, { __mode = "k" })
  local sco_methods = {}
  local SCO_MT = { __index = sco_methods, __metatable = "security.Scope",
    __tostring = function(self) return "security.Scope(" .. #SCO[self].list .. " policies)" end }

  local function make_scope(list)
    local has = {}
    for i = 1, #list do has[list[i].id] = true end
    local u = newud(SCO_MT)
    SCO[u] = { list = list, has = has }
    return u
  end

  local function state_of(scope, fname)
    local S = SCO[scope]
    if not S then error("bad self to '" .. fname .. "' (security.Scope expected)", 3) end
    return S
  end

  -- policies: nil, or a list of policy objects (or ids). Raises (at the caller of the caller)
  -- for a bad argument. -> scope | nil, err
  local function new_scope(list_arg)
    if list_arg == nil then return make_scope({}) end
    if type(list_arg) ~= "table" then error("bad argument #1 to 'new_scope' (table expected)", 3) end
    local list, has = {}, {}
    for i, p in ipairs(list_arg) do
      local rec, perr = policy_rec(p)
      if not rec then
        if perr then return nil, perr end
        error("bad argument #1 to 'new_scope' (element " .. i .. " is not a security.Policy)", 3)
      end
      if not has[rec.id] then has[rec.id] = true; list[#list + 1] = rec end
    end
    return make_scope(list)
  end

  local function named_scope(group_id)
    if type(group_id) ~= "string" then error("bad argument #1 to 'named_scope' (string expected)", 2) end
    local g = policies.group(group_id)
    if not g then return E("NotFound", "policy group not found: " .. group_id) end
    local list = {}
    for i = 1, #g do list[i] = g[i] end
    return make_scope(list)
  end

  function sco_methods.policies(self)
    local S = state_of(self, "policies")
    local out = {}
    for i = 1, #S.list do out[i] = S.list[i].obj end
    return out
  end
  function sco_methods.contains(self, id)
    local S = state_of(self, "contains")
    local rec = policy_of(id)
    if rec then id = rec.id end
    return S.has[id] == true
  end
  function sco_methods.with(self, p)
    local S = state_of(self, "with")
    local rec, perr = policy_rec(p)
    if not rec then
      if perr then return nil, perr end
      error("bad argument #1 to 'with' (security.Policy expected)", 2)
    end
    if S.has[rec.id] then return self end
    local list = {}
    for i = 1, #S.list do list[i] = S.list[i] end
    list[#list + 1] = rec
    return make_scope(list)
  end
  function sco_methods.without(self, id)
    local S = state_of(self, "without")
    local rec = policy_of(id)
    if rec then id = rec.id end
    if type(id) ~= "string" then error("bad argument #1 to 'without' (string expected)", 2) end
    if not S.has[id] then return self end
    local list = {}
    for i = 1, #S.list do
      if S.list[i].id ~= id then list[#list + 1] = S.list[i] end
    end
    return make_scope(list)
  end

  -- -> "allow" | "deny" | "undefined"
  local function eval_scope(S, A, action, resource, meta)
    local list, allowed = S.list, false
    for i = 1, #list do
      local r = eval_policy(list[i], A, action, resource, meta)
      if r == "deny" then return "deny" end
      if r == "allow" then allowed = true end
    end
    return allowed and "allow" or "undefined"
  end

  function sco_methods.evaluate(self, actor, action, resource, meta)
    local S = state_of(self, "evaluate")
    local A = actor_state(actor, 1, "evaluate")
    return eval_scope(S, A, str_arg(action, 2, "evaluate"), str_arg(resource, 3, "evaluate"), meta)
  end

  local function encode(scope)
    local S = SCO[scope]
    if not S then return nil end
    local ids = {}
    for i = 1, #S.list do ids[i] = S.list[i].id end
    return ids
  end
  local function decode(ids)
    if type(ids) ~= "table" then return nil end
    local list, has = {}, {}
    for _, id in ipairs(ids) do
      if type(id) == "string" and not has[id] then
        has[id] = true
        list[#list + 1] = policies.get(id) or policies.missing(id)
      end
    end
    return make_scope(list)
  end

  return { states = SCO, make = make_scope, new = new_scope, named = named_scope,
    is = function(v) return SCO[v] ~= nil end, eval = eval_scope, encode = encode, decode = decode }
end
