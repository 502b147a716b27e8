-- The `hash` module (Wippy docs, "Hash Functions"): md5, sha1, sha256, sha512 digests, their HMACs,
-- and the FNV-1a non-cryptographic hashes, computed by node:crypto through host functions.
--
-- Digests are lowercase hex unless `raw` is true (then the raw bytes). fnv32 returns an integer in
-- [0, 2^32); fnv64 returns the 64-bit FNV-1a value as a Lua integer with the same bits, so values
-- at or above 2^63 are negative (compare with math.ult; `%` still partitions deterministically).
--
-- Receives: deps.H (hash, hmac, fnv; src/lua/host-stdlib.ts), deps.err.
return function(deps)
  local H, err = deps.H, deps.err
  local type = type

  local function bad(fname, what, v)
    return nil, err("Invalid", fname .. ": " .. what .. " must be a string, got " .. type(v), false)
  end

  local hash = {}
  for _, alg in ipairs({ "md5", "sha1", "sha256", "sha512" }) do
    hash[alg] = function(data, raw)
      if type(data) ~= "string" then return bad(alg, "data", data) end
      return H.hash(alg, data, raw == true)
    end
    local hname = "hmac_" .. alg
    hash[hname] = function(data, secret, raw)
      if type(data) ~= "string" then return bad(hname, "data", data) end
      if type(secret) ~= "string" then return bad(hname, "secret", secret) end
      return H.hmac(alg, data, secret, raw == true)
    end
  end
  function hash.fnv32(data)
    if type(data) ~= "string" then return bad("fnv32", "data", data) end
    return H.fnv(32, data)
  end
  function hash.fnv64(data)
    if type(data) ~= "string" then return bad("fnv64", "data", data) end
    return H.fnv(64, data)
  end
  return hash
end
