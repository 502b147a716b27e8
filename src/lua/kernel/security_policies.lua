-- Security policies: loading policy entries from the registry and deciding one policy.
--
-- Owns: the loaded policies (id -> record, group -> records), the Policy objects (one per loaded
-- policy id, so `scope:policies()` and `security.policy(id)` hand out the same objects), the
-- compiled action/resource patterns, the compiled conditions, and eval_policy.
-- May call: security_values, security_regex, security_expr and security_actors (to read an actor
-- argument), all passed in; newud and err from the kernel.
-- deps: { newud, err, values, regex, expr, actors }
--
-- A policy applies when the action matches one of its action patterns, the resource one of its
-- resource patterns, and every condition (or its expression) holds; then it returns its effect.
-- A condition that is false, or cannot be evaluated (wrong types, a missing field under an
-- ordering operator, a broken expression), makes the policy undefined -- the two cases are
-- deliberately the same, so a malformed rule can only ever withhold its own effect. A policy that
-- fails to compile is still loaded, "broken": always undefined, and reported by load.
--
-- Patterns (actions and resources):
--   "*"          anything
--   "pre.*"      any value starting with "pre" (the dot is not required: "process.*" matches
--                "processX", as Wippy's reference implementation does)
--   "pre*"       any value starting with "pre"
--   "*.read"     any value ending with ".read" (the reference implementation only matches it
--                literally; the Wippy docs intend a suffix match, and we follow the docs)
--   "*mid*"      any value containing "mid" (leading and trailing star together)
--   anything else: exact match
-- Each pattern list is compiled once into an exact-match set plus prefix/suffix/infix lists, so
-- the common check (an exact or "*" pattern) costs one hash lookup and allocates nothing.
--
-- Conditions: `{ field, operator, value | value_from }`. Fields: action, resource, actor.id,
-- actor.meta[.k...], meta[.k...] (the check's attributes). value_from names another field.
--   eq / ne           equality; a number and a numeric string compare as numbers. A missing field
--                     is simply unequal (so `ne` holds for it).
--   lt gt lte gte     numbers (numeric strings coerced) or two strings (byte order); anything else,
--                     including a missing field, fails to evaluate.
--   in / nin          value is a list; membership by `eq`. A missing field is in no list.
--   exists / nexists  the field is (not) nil. `value: false` inverts them.
--   contains / ncontains  substring for strings (numbers are stringified), element for lists.
--                     A missing field contains nothing.
--   matches / nmatches  a regular expression in a safe subset (security_regex.lua); an
--                     unsupported regex makes the policy broken. Numbers are stringified.
-- Negated operators are the exact negation of their positive form, except that when the positive
-- form fails to evaluate the negated one fails too (never turns an error into a match).
--
-- Module:
--   load(entries) -> n, problems    entries: id -> entry; replaces all policies and groups
--   get(id) -> record | nil         group(id) -> array of records | nil
--   of(v) -> record | nil           the record of a Policy object (nil for anything else)
--   record(v) -> record | nil, err  v: a Policy object or a policy id (nil, NotFound for an
--                                   unknown id; nil alone for anything else)
--   policy(id) -> Policy | nil, NotFound     (raises on a non-string id)
--   eval(record, A, action, resource, meta) -> "allow" | "deny" | nil (undefined)
--   missing(id) -> a record that denies everything (for an id another worker knows and we don't)
-- A record: { id, kind, effect, actions, resources, conds, expr, broken, missing, obj }.
return function(deps)
  local type, ipairs, tostring, setmetatable, error, pcall =
    type, ipairs, tostring, setmetatable, error, pcall
  local sfind, ssub, sbyte = string.find, string.sub, string.byte
  local tsort = table.sort
  local newud, err = deps.newud, deps.err
  local V, RX, actors = deps.values, deps.regex, deps.actors
  local copy_data, eq, cmp, is_in, contains, compile_field, str_arg =
    V.copy_data, V.eq, V.cmp, V.is_in, V.contains, V.compile_field, V.str_arg
  local compile_regex, rx_match, rx_dynamic = RX.compile, RX.match, RX.dynamic
  local compile_expr = deps.expr.compile
  local actor_state = actors.arg

  local function E(kind, msg) return nil, err(kind, msg, false) end

  ---------------------------------------------------------------------------------------------
  -- Conditions. compile_condition -> function(A, action, resource, meta) -> true|false|nil

  local function negate(r) if r == nil then return nil end return not r end

  local OPS = {
    eq = function(a, b) return eq(a, b) end,
    ne = function(a, b) return not eq(a, b) end,
    lt = function(a, b) local c = cmp(a, b); if c == nil then return nil end return c < 0 end,
    gt = function(a, b) local c = cmp(a, b); if c == nil then return nil end return c > 0 end,
    lte = function(a, b) local c = cmp(a, b); if c == nil then return nil end return c <= 0 end,
    gte = function(a, b) local c = cmp(a, b); if c == nil then return nil end return c >= 0 end,
    ["in"] = is_in,
    nin = function(a, b) return negate(is_in(a, b)) end,
    exists = function(a, b) return (a ~= nil) == (b ~= false) end,
    nexists = function(a, b) return (a == nil) == (b ~= false) end,
    contains = contains,
    ncontains = function(a, b) return negate(contains(a, b)) end,
    matches = rx_dynamic,
    nmatches = function(a, b) return negate(rx_dynamic(a, b)) end,
  }

  -- -> condition function | nil, err
  local function compile_condition(c)
    if type(c) ~= "table" then return nil, "condition must be a table" end
    local get, err = compile_field(c.field)
    if not get then return nil, err end
    local opname = c.operator
    local op = OPS[opname]
    if not op then return nil, "unknown operator '" .. tostring(opname) .. "'" end
    local from = c.value_from
    if from == nil then from = c.valueFrom end
    if from ~= nil then
      local vget, verr = compile_field(from)
      if not vget then return nil, "value_from: " .. verr end
      return function(A, action, resource, meta)
        return op(get(A, action, resource, meta), vget(A, action, resource, meta))
      end
    end
    local value = copy_data(c.value)
    if (opname == "matches" or opname == "nmatches") then
      if type(value) ~= "string" then return nil, opname .. " needs a string value" end
      local pats, rerr = compile_regex(value)
      if not pats then return nil, rerr end
      if opname == "matches" then
        return function(A, action, resource, meta) return rx_match(get(A, action, resource, meta), pats) end
      end
      return function(A, action, resource, meta) return negate(rx_match(get(A, action, resource, meta), pats)) end
    end
    if (opname == "in" or opname == "nin") and type(value) ~= "table" then
      return nil, opname .. " needs a list value"
    end
    return function(A, action, resource, meta) return op(get(A, action, resource, meta), value) end
  end

  ---------------------------------------------------------------------------------------------
  -- Patterns for actions and resources, compiled per list.

  local function compile_patterns(p)
    if type(p) == "string" then p = { p } end
    local set = { exact = {}, any = false, prefix = {}, suffix = {}, infix = {} }
    if type(p) ~= "table" then return set end
    for _, s in ipairs(p) do
      if type(s) == "string" then
        local n = #s
        local lead, trail = n > 1 and sbyte(s, 1) == 42, n > 1 and sbyte(s, n) == 42 -- '*'
        if s == "*" or (lead and trail and n == 2) then
          set.any = true
        elseif lead and trail then
          set.infix[#set.infix + 1] = ssub(s, 2, -2)
        elseif trail then
          local pre = ssub(s, 1, -2)
          if sbyte(pre, -1) == 46 then pre = ssub(pre, 1, -2) end -- "pre.*": the dot is optional
          if pre == "" then set.any = true else set.prefix[#set.prefix + 1] = pre end
        elseif lead then
          set.suffix[#set.suffix + 1] = ssub(s, 2)
        else
          set.exact[s] = true
        end
      end
    end
    return set
  end

  local function pmatch(set, v)
    if set.any or set.exact[v] then return true end
    local l = set.prefix
    for i = 1, #l do local p = l[i]; if ssub(v, 1, #p) == p then return true end end
    l = set.suffix
    for i = 1, #l do local p = l[i]; if ssub(v, -#p) == p then return true end end
    l = set.infix
    for i = 1, #l do if sfind(v, l[i], 1, true) then return true end end
    return false
  end

  ---------------------------------------------------------------------------------------------
  -- Policies. A record: { id, kind, effect, actions, resources, conds, expr, broken, obj }.

  local POL = setmetatable({}, { __mode = "k" })     -- policy object -> record
  local pol_methods = {}
  local POL_MT = { __index = pol_methods, __metatable = "security.Policy",
    __tostring = function(self) return "security.Policy(" .. POL[self].id .. ")" end }

  local by_id = {}    -- policy id -> record
  local groups = {}   -- group id -> array of records, sorted by policy id

  local ACT = setmetatable({}, { __mode = "k" })     -- actor -> { id, meta }
  -- -> "allow" | "deny" | nil (undefined). A is the actor state or nil.
  local function eval_policy(rec, A, action, resource, meta)
    if rec.broken then return nil end
    if not pmatch(rec.actions, action) or not pmatch(rec.resources, resource) then return nil end
    local conds = rec.conds
    for i = 1, #conds do
      if conds[i](A, action, resource, meta) ~= true then return nil end
    end
    local x = rec.expr
    if x then
      -- Any error, not only EXPR_FAIL, leaves the policy undefined: a check must never raise.
      local ok, v = pcall(x, A, action, resource, meta)
      if not ok or v ~= true then return nil end
    end
    return rec.effect
  end

  local function new_policy_obj(rec)
    local u = newud(POL_MT)
    POL[u] = rec
    rec.obj = u
    return u
  end

  -- -> record (possibly broken), problem message | nil
  local function compile_policy(id, e)
    local rec = { id = id, kind = e.kind, conds = {} }
    local p = e.policy
    local problem
    if type(p) ~= "table" then
      rec.broken, problem = true, "missing policy block"
      rec.actions, rec.resources = compile_patterns(nil), compile_patterns(nil)
      return rec, problem
    end
    rec.actions = compile_patterns(p.actions)
    rec.resources = compile_patterns(p.resources)
    if p.effect == "allow" or p.effect == "deny" then
      rec.effect = p.effect
    else
      rec.broken, problem = true, "effect must be allow or deny"
    end
    local is_expr = e.kind == "security.policy.expr" or (e.kind == nil and p.expression ~= nil)
    if is_expr then
      local f, err = compile_expr(p.expression)
      if f then rec.expr = f else rec.broken, problem = true, err end
    elseif type(p.conditions) == "table" then
      for i, c in ipairs(p.conditions) do
        local f, err = compile_condition(c)
        if f then rec.conds[#rec.conds + 1] = f
        else rec.broken, problem = true, "condition " .. i .. ": " .. err end
      end
    end
    return rec, problem
  end

  -- entries: id -> entry. Entries of other kinds are ignored. Replaces everything loaded before.
  -- -> number of policies loaded, list of { id, message } for policies that are broken (they are
  -- still loaded, and always evaluate to undefined).
  local function load_policies(entries)
    local ids = {}
    for id, e in pairs(entries or {}) do
      if type(e) == "table" and (e.kind == "security.policy" or e.kind == "security.policy.expr"
          or (e.kind == nil and type(e.policy) == "table")) then
        ids[#ids + 1] = id
      end
    end
    tsort(ids)
    local new_by_id, new_groups, problems = {}, {}, {}
    for _, id in ipairs(ids) do
      local e = entries[id]
      local rec, problem = compile_policy(id, e)
      if problem then problems[#problems + 1] = { id = id, message = problem } end
      new_policy_obj(rec)
      new_by_id[id] = rec
      if type(e.groups) == "table" then
        for _, g in ipairs(e.groups) do
          local list = new_groups[g]
          if not list then list = {}; new_groups[g] = list end
          if list[#list] ~= rec then list[#list + 1] = rec end
        end
      end
    end
    by_id, groups = new_by_id, new_groups
    return #ids, problems
  end


  function pol_methods.id(self)
    local rec = POL[self]
    if not rec then error("bad self (security.Policy expected)", 2) end
    return rec.id
  end

  function pol_methods.evaluate(self, actor, action, resource, meta)
    local rec = POL[self]
    if not rec then error("bad self (security.Policy expected)", 2) end
    local A = actor_state(actor, 1, "evaluate")
    return eval_policy(rec, A, str_arg(action, 2, "evaluate"), str_arg(resource, 3, "evaluate"), meta)
      or "undefined"
  end

  -- A policy argument: a policy object, or a policy id string. -> record | nil, err
  local function policy_rec(p)
    local rec = POL[p]
    if rec then return rec end
    if type(p) == "string" then
      rec = by_id[p]
      if rec then return rec end
      return E("NotFound", "policy not found: " .. p)
    end
    return nil
  end


  local function policy(id)
    if type(id) ~= "string" then error("bad argument #1 to 'policy' (string expected)", 2) end
    local rec = by_id[id]
    if not rec then return E("NotFound", "policy not found: " .. id) end
    return rec.obj
  end

  -- Placeholder for a policy id the receiving worker does not know: it denies everything.
  local function missing_policy(id)
    local rec = { id = id, effect = "deny", missing = true, conds = {},
      actions = compile_patterns("*"), resources = compile_patterns("*") }
    new_policy_obj(rec)
    return rec
  end

  return { load = load_policies, get = function(id) return by_id[id] end,
    group = function(g) return groups[g] end, of = function(v) return POL[v] end,
    record = policy_rec, policy = policy,
    eval = eval_policy, missing = missing_policy }
end
