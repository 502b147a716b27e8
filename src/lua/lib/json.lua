-- The `json` module (Wippy docs, "JSON Encoding"): encode, decode, validate, validate_string.
--
-- Receives: deps.H (host functions json_enc, json_dec, json_schema; src/lua/host-stdlib.ts) and
-- deps.err(kind, message, retryable) (error objects, kernel/errors.lua). Nothing else.
--
-- The conversion runs in JS (JSON.parse, and a walk of the Lua table through the raw C API) so
-- large documents cost one host call, not a Lua parser under the reduction budget.
--
-- Encoding rules (the doc page's): nil -> null; a table with keys exactly 1..n is an array, one
-- with only string keys an object; an empty table is `[]` (Lua cannot tell `{}` made "with string
-- keys" from any other empty table); mixed keys, gaps, non-string/non-index keys, recursive
-- references, nesting past 128 levels and functions/userdata are errors of kind Internal naming
-- the path (`$.items[2]`); NaN and ±Inf become null. Object keys are written in sorted order
-- (Lua tables have no order; Go's encoder sorts map keys too), strings are not HTML-escaped.
-- Decoding: JSON null -> nil (a null array element leaves a hole), integral numbers -> Lua
-- integers, others -> floats; invalid JSON is an Internal error with the parser's message.
return function(deps)
  local H, err = deps.H, deps.err
  local type = type

  local json = {}

  function json.encode(value)
    local s, msg = H.json_enc(value)
    if s == nil then return nil, err("Internal", "json encode: " .. msg, false) end
    return s
  end

  function json.decode(str)
    if type(str) ~= "string" then
      return nil, err("Invalid", "json decode: expected a string, got " .. type(str), false)
    end
    local ok, v = H.json_dec(str)
    if not ok then return nil, err("Internal", "json decode: " .. v, false) end
    return v
  end

  -- Schemas: a table (the schema itself) or a JSON string; compiled once per schema text.
  local function schema_text(schema)
    if type(schema) == "string" then return schema end
    if type(schema) == "table" then
      local s, msg = H.json_enc(schema)
      if s == nil then return nil, msg end
      return s
    end
    return nil, "schema must be a table or a JSON string, got " .. type(schema)
  end

  local function validate_text(schema, text)
    local st, serr = schema_text(schema)
    if not st then return false, err("Invalid", "json schema: " .. serr, false) end
    local ok, kind, msg = H.json_schema(st, text)
    if ok then return true end
    return false, err(kind, msg, false)
  end

  function json.validate(schema, data)
    local text, msg = H.json_enc(data)
    if text == nil then return false, err("Invalid", "json validate: " .. msg, false) end
    return validate_text(schema, text)
  end

  function json.validate_string(schema, json_str)
    if type(json_str) ~= "string" then
      return false, err("Invalid", "json validate: expected a JSON string, got " .. type(json_str), false)
    end
    return validate_text(schema, json_str)
  end

  return json
end
