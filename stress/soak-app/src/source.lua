-- A source of numbered traffic (see sink.lua). The plan comes from the driver's seeded decisions:
-- { id, seed, targets = { { pid, d, l }, ... }, pause } -- d inbox messages and l listen-channel
-- messages for each target. The messages to different targets interleave, so one source's
-- traffic reaches several workers and hosts at once; a pause every 64 messages spreads it over
-- time (upgrades and crashes elsewhere happen while it is in flight).
local time = require("time")

local function main(plan)
  local s = plan.seed
  local function rand(k) s = (s * 6364136223846793005 + 1442695040888963407); return ((s >> 33) % k) + 1 end
  local pads = { "", "x", string.rep("p", 40), string.rep("q", 300) }
  local big = string.rep("B", 9000)
  local left, seqd, seql, sent = {}, {}, {}, 0
  for i, t in ipairs(plan.targets) do left[i] = { d = t.d, l = t.l }; seqd[i] = 0; seql[i] = 0 end
  local busy = true
  while busy do
    busy = false
    for i, t in ipairs(plan.targets) do
      local lf = left[i]
      if lf.d > 0 then
        seqd[i] = seqd[i] + 1; lf.d = lf.d - 1; busy = true
        local pad = rand(200) == 1 and big or pads[rand(#pads)]
        local ok, err = process.send(t.pid, "d", { src = plan.id, seq = seqd[i], pad = pad })
        if not ok then error("send d to " .. t.pid .. " failed: " .. tostring(err)) end
        sent = sent + 1
      end
      if lf.l > 0 then
        seql[i] = seql[i] + 1; lf.l = lf.l - 1; busy = true
        local ok, err = process.send(t.pid, "L", { src = plan.id, seq = seql[i] })
        if not ok then error("send L to " .. t.pid .. " failed: " .. tostring(err)) end
        sent = sent + 1
      end
      if plan.pause and sent % 64 == 0 then time.sleep(plan.pause) end
    end
  end
  for i, t in ipairs(plan.targets) do
    process.send(t.pid, "fin", { src = plan.id, d = seqd[i], l = seql[i] })
  end
  return sent
end

return { main = main }
