-- The `yaml` module (Wippy docs, "YAML Encoding"): encode(table, options?) and decode(string),
-- parsed and emitted by the `yaml` package (YAML 1.2 core schema) through host functions.
--
-- encode: the table follows json.encode's shape rules (arrays are 1..n, maps have string keys;
-- mixed or sparse tables are errors). Map keys come out sorted; `options.field_order` puts the
-- listed keys first, in that order, at every level; `sort_unordered` is accepted, and the rest are
-- sorted whether or not it is set (Lua tables have no order of their own to keep).
-- decode: a mapping becomes a table, a sequence an array, scalars Lua values; null -> nil.
-- Errors (the doc page's kinds): encode of a non-table, decode of a non-string or "" -> Invalid;
-- a syntax error or unencodable value -> Internal with the parser's message.
--
-- Receives: deps.H (yaml_enc, yaml_dec; src/lua/host-stdlib.ts), deps.err.
return function(deps)
  local H, err = deps.H, deps.err
  local type = type

  local yaml = {}

  function yaml.encode(data, options)
    if type(data) ~= "table" then
      return nil, err("Invalid", "yaml encode: expected a table, got " .. type(data), false)
    end
    local order
    if options ~= nil then
      if type(options) ~= "table" then
        return nil, err("Invalid", "yaml encode: options must be a table, got " .. type(options), false)
      end
      order = options.field_order
      if order ~= nil and type(order) ~= "table" then
        return nil, err("Invalid", "yaml encode: field_order must be a list of strings", false)
      end
    end
    local s, msg = H.yaml_enc(data, order)
    if s == nil then return nil, err("Internal", "yaml encode: " .. msg, false) end
    return s
  end

  function yaml.decode(data)
    if type(data) ~= "string" then
      return nil, err("Invalid", "yaml decode: expected a string, got " .. type(data), false)
    end
    if data == "" then return nil, err("Invalid", "yaml decode: empty input", false) end
    local ok, v = H.yaml_dec(data)
    if not ok then return nil, err("Internal", "yaml decode: " .. v, false) end
    return v
  end

  return yaml
end
