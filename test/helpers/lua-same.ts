// The lockstep value comparison the C-against-Lua codec tests share, as Lua source to put in a
// test's prelude: same(K, a, b, path[, m[, unordered]]) raises, naming the path, unless a and b
// are the same value table by table in next order — same types and math.type, NaN and -0.0 kept
// apart, the same sharing and cycles (m maps a's tables to b's), the same `#`, error objects (K's
// is_error/error_fields) compared field by field. Maps with table or userdata keys are compared
// without order (a table key's place in next order is its address's) and set TABLE_KEYS.
export const SAME_LUA = String.raw`
-- Lockstep walk: a and b are the same value, table by table in next order. Maps with table
-- keys are compared without order (a table key's place depends on its address).
function same(K, a, b, path, m, unordered)
  m = m or {}
  local ta, tb = type(a), type(b)
  if ta ~= tb then error(path .. ": type " .. ta .. " vs " .. tb, 0) end
  if ta == "number" then
    if math.type(a) ~= math.type(b) then error(path .. ": math.type differs", 0) end
    if a ~= a and b ~= b then return end
    if a ~= b or (a == 0 and math.type(a) == "float" and 1 / a ~= 1 / b) then
      error(path .. ": " .. tostring(a) .. " vs " .. tostring(b), 0)
    end
    return
  end
  if ta ~= "table" then
    if a ~= b then error(path .. ": " .. tostring(a) .. " vs " .. tostring(b), 0) end
    return
  end
  if m[a] ~= nil then
    if m[a] ~= b then error(path .. ": sharing differs", 0) end
    return
  end
  m[a] = b
  local ea, eb = K.is_error(a), K.is_error(b)
  if ea ~= eb then error(path .. ": error object vs not", 0) end
  if ea then
    local fa, fb = K.error_fields(a), K.error_fields(b)
    for _, f in ipairs({ "kind", "message", "retryable", "details", "stack" }) do
      same(K, fa[f], fb[f], path .. "." .. f, m, unordered)
    end
    return
  end
  if not unordered and rawlen(a) ~= rawlen(b) then error(path .. ": # " .. rawlen(a) .. " vs " .. rawlen(b), 0) end
  local tkeys = unordered
  for k in next, a do if type(k) == "table" or type(k) == "userdata" then tkeys = true end end
  if tkeys then TABLE_KEYS = true end
  if not tkeys then
    local ka, kb = next(a), next(b)
    while ka ~= nil or kb ~= nil do
      same(K, ka, kb, path .. ".<key>", m)
      same(K, rawget(a, ka), rawget(b, kb), path .. "." .. tostring(ka), m)
      ka, kb = next(a, ka), next(b, kb)
    end
    return
  end
  local na, nb = 0, 0
  for k, v in next, a do
    na = na + 1
    if type(k) ~= "table" and type(k) ~= "userdata" then same(K, v, rawget(b, k), path .. "." .. tostring(k), m, unordered) end
  end
  for _ in next, b do nb = nb + 1 end
  if na ~= nb then error(path .. ": " .. na .. " keys vs " .. nb, 0) end
end
`;
