-- Shared code: reachable from an entry through `imports` -> require("stats").
local stats = {}

function stats.sum(list)
  local s = 0
  for _, v in ipairs(list) do s = s + v end
  return s
end

-- Sum of k^2 for k = 1..n, the value the demo's fan-in must add up to.
function stats.sum_of_squares(n)
  return n * (n + 1) * (2 * n + 1) // 6
end

return stats
