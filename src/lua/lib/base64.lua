-- The `base64` module (Wippy docs, "Base64 Encoding"): standard alphabet, padded (RFC 4648 §4),
-- decoded strictly like Go's StdEncoding (line breaks are skipped): a character outside the alphabet, missing or misplaced
-- padding, or non-zero trailing bits is an Invalid error "illegal base64 data at input byte N".
-- Binary strings pass through unchanged (bytes, not UTF-8 text).
--
-- Receives: deps.H (b64_enc, b64_dec; src/lua/host-stdlib.ts), deps.err.
return function(deps)
  local H, err = deps.H, deps.err
  local type = type

  local base64 = {}

  function base64.encode(data)
    if type(data) ~= "string" then
      return nil, err("Invalid", "base64 encode: expected a string, got " .. type(data), false)
    end
    if data == "" then return "" end
    return H.b64_enc(data)
  end

  function base64.decode(data)
    if type(data) ~= "string" then
      return nil, err("Invalid", "base64 decode: expected a string, got " .. type(data), false)
    end
    if data == "" then return "" end
    local out, msg = H.b64_dec(data)
    if out == nil then return nil, err("Invalid", "base64 decode: " .. msg, false) end
    return out
  end

  return base64
end
