-- Security actors: who is acting -- an id and a metadata table.
--
-- Owns: the Actor objects (userdata from newud, state in a weak-keyed side table, like error
-- objects), their Lua methods (actor:id(), actor:meta()), and their plain form for crossing
-- workers ({ id, meta }).
-- May call: newud from the kernel; security_values.copy_data. deps: { newud, values }.
--
-- Metadata is copied in and out as plain data (strings, numbers, booleans, tables), so what a
-- process holds can be encoded for another worker unchanged and cannot be mutated behind the
-- actor's back.
--
-- Module:
--   states            actor -> { id, meta } (weak keys); read-only for other modules (hot path)
--   make(id, meta)    an actor from already-copied metadata
--   new(id, meta)     the checked constructor (raises on bad argument types)
--   is(v)             arg(actor, argn, fname) -> state | nil (nil actor), raises for a non-actor
--   encode(actor) -> { id, meta } | nil        decode(t) -> actor | nil
return function(deps)
  local type, error, setmetatable = type, error, setmetatable
  local newud, copy_data = deps.newud, deps.values.copy_data

  local ACT = setmetatable({}, { __mode = "k" })     -- actor -> { id, meta }
  local act_methods = {}
  local ACT_MT = { __index = act_methods, __metatable = "security.Actor",
    __tostring = function(self) return "security.Actor(" .. ACT[self].id .. ")" end }

  local function make_actor(id, meta)
    local u = newud(ACT_MT)
    ACT[u] = { id = id, meta = meta }
    return u
  end

  local function new_actor(id, meta)
    if type(id) ~= "string" then error("bad argument #1 to 'new_actor' (string expected)", 2) end
    if meta ~= nil and type(meta) ~= "table" then error("bad argument #2 to 'new_actor' (table expected)", 2) end
    return make_actor(id, copy_data(meta or {}))
  end

  function act_methods.id(self)
    local A = ACT[self]
    if not A then error("bad self (security.Actor expected)", 2) end
    return A.id
  end
  function act_methods.meta(self)
    local A = ACT[self]
    if not A then error("bad self (security.Actor expected)", 2) end
    return copy_data(A.meta)
  end

  -- An actor argument of a Lua-facing method; raises at the method's caller.
  local function actor_state(actor, argn, fname)
    if actor == nil then return nil end
    local A = ACT[actor]
    if not A then error("bad argument #" .. argn .. " to '" .. fname .. "' (security.Actor expected)", 3) end
    return A
  end

  local function encode(actor)
    local A = ACT[actor]
    if not A then return nil end
    return { id = A.id, meta = copy_data(A.meta) }
  end
  local function decode(t)
    if type(t) ~= "table" or type(t.id) ~= "string" then return nil end
    return make_actor(t.id, copy_data(type(t.meta) == "table" and t.meta or {}))
  end

  return { states = ACT, make = make_actor, new = new_actor, arg = actor_state,
    is = function(v) return ACT[v] ~= nil end, encode = encode, decode = decode }
end
