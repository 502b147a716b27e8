-- A main-thread job: sum of squares 1..n; with `via`, each square through process.exec of a
-- function on host `via` (a cross-host call per term).
local function main(n, via)
  local sum = 0
  for i = 1, n do
    if via then
      local v, err = process.exec("soak:square", via, i)
      if err then error(err) end
      sum = sum + v
    else
      sum = sum + i * i
    end
  end
  return sum
end

return { main = main }
