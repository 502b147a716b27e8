-- The `uuid` module (Wippy docs, "UUID Generation"): v1, v3, v4, v5, v7 generation (the `uuid`
-- package, through the host function uuid_gen) and validate / version / variant / parse / format,
-- which are plain string work done here.
--
-- Accepted input forms (as Go's uuid.Parse): "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx",
-- "{...}" around it, "urn:uuid:" before it, or the 32 hex digits alone; hex in either case.
-- Generated and formatted UUIDs are lowercase.
--
-- Choices where the page leaves room: variant names follow RFC 4122's table by the top bits of
-- byte 8: 0xx "NCS", 10x "RFC4122", 110 "Microsoft", 111 "Future" ("Reserved" and "Invalid" are
-- never returned: input that is not a UUID is an error). parse's `timestamp` is Unix seconds
-- (an integer; v7 keeps milliseconds in its first 48 bits, v1 counts 100 ns since 1582), and
-- `node` is the 12 lowercase hex digits of a v1 UUID's node field.
--
-- Receives: deps.H (uuid_gen; src/lua/host-stdlib.ts), deps.err.
return function(deps)
  local H, err = deps.H, deps.err
  local type, tonumber, sub, lower, gsub, find = type, tonumber, string.sub, string.lower, string.gsub, string.find

  local function invalid(msg) return nil, err("Invalid", msg, false) end

  -- -> 32 lowercase hex digits | nil
  local function hex32(s)
    local n = #s
    if n == 45 and lower(sub(s, 1, 9)) == "urn:uuid:" then s = sub(s, 10); n = 36
    elseif n == 38 and sub(s, 1, 1) == "{" and sub(s, 38) == "}" then s = sub(s, 2, 37); n = 36 end
    if n == 36 then
      if not find(s, "^%x%x%x%x%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%x%x%x%x%x%x%x%x$") then return nil end
      return lower((gsub(s, "-", "")))
    end
    if n == 32 and not find(s, "%X") then return lower(s) end
    return nil
  end

  local function standard(h)
    return sub(h, 1, 8) .. "-" .. sub(h, 9, 12) .. "-" .. sub(h, 13, 16) .. "-" .. sub(h, 17, 20) .. "-" .. sub(h, 21)
  end

  -- -> hex | nil, err
  local function parse_arg(fname, id)
    if type(id) ~= "string" then return invalid("uuid." .. fname .. ": invalid input type: expected a string, got " .. type(id)) end
    local h = hex32(id)
    if not h then return invalid("uuid." .. fname .. ": invalid UUID format: " .. id) end
    return h
  end

  local function variant_of(h)
    local b = tonumber(sub(h, 17, 18), 16)
    if b & 0x80 == 0 then return "NCS" end
    if b & 0xc0 == 0x80 then return "RFC4122" end
    if b & 0xe0 == 0xc0 then return "Microsoft" end
    return "Future"
  end

  local uuid = {}

  local function gen(v)
    return function()
      local id, msg = H.uuid_gen(v)
      if not id then return nil, err("Internal", "uuid generation failed: " .. msg, false) end
      return id
    end
  end
  uuid.v1, uuid.v4, uuid.v7 = gen(1), gen(4), gen(7)

  local function named(v)
    local fname = "v" .. v
    return function(namespace, name)
      local h, e = parse_arg(fname, namespace)
      if not h then return nil, e end
      if type(name) ~= "string" then
        return invalid("uuid." .. fname .. ": invalid input type: name must be a string, got " .. type(name))
      end
      local id, msg = H.uuid_gen(v, standard(h), name)
      if not id then return nil, err("Internal", "uuid generation failed: " .. msg, false) end
      return id
    end
  end
  uuid.v3, uuid.v5 = named(3), named(5)

  function uuid.validate(input)
    return type(input) == "string" and hex32(input) ~= nil
  end

  function uuid.version(id)
    local h, e = parse_arg("version", id)
    if not h then return nil, e end
    return tonumber(sub(h, 13, 13), 16)
  end

  function uuid.variant(id)
    local h, e = parse_arg("variant", id)
    if not h then return nil, e end
    return variant_of(h)
  end

  function uuid.parse(id)
    local h, e = parse_arg("parse", id)
    if not h then return nil, e end
    local v = tonumber(sub(h, 13, 13), 16)
    local info = { version = v, variant = variant_of(h) }
    if v == 7 then
      info.timestamp = tonumber(sub(h, 1, 12), 16) // 1000
    elseif v == 1 then
      local t = (tonumber(sub(h, 14, 16), 16) << 48) | (tonumber(sub(h, 9, 12), 16) << 32) | tonumber(sub(h, 1, 8), 16)
      info.timestamp = (t - 122192928000000000) // 10000000 -- 100 ns ticks since 1582-10-15
      info.node = sub(h, 21)
    end
    return info
  end

  function uuid.format(id, fmt)
    local h, e = parse_arg("format", id)
    if not h then return nil, e end
    if fmt == nil or fmt == "standard" then return standard(h) end
    if fmt == "simple" then return h end
    if fmt == "urn" then return "urn:uuid:" .. standard(h) end
    return invalid("uuid.format: unsupported format type: " .. tostring(fmt) .. " (standard, simple or urn)")
  end

  return uuid
end
