-- The demo's coordinator (`wippy run demo [workers] [jobs]`): registers itself by name, spawns
-- monitored workers on app:processes, fans jobs out over messages, fans the results in through its
-- inbox, waits for every worker's EXIT and prints a summary.
local io = require("io")
local time = require("time")
local stats = require("stats")

local function main(...)
  local args = io.args()
  local nworkers = tonumber(args[1]) or 4
  local njobs = tonumber(args[2]) or 100
  local started = time.now()

  local ok, err = process.registry.register("coordinator")
  if not ok then return nil, err end
  local inbox, events = process.inbox(), process.events()

  local workers = {}
  for i = 1, nworkers do
    local pid, serr = process.spawn_monitored("app.demo:worker", "app:processes", i)
    if not pid then return nil, serr end
    workers[i] = pid
  end
  io.print(("coordinator %s: %d workers on app:processes"):format(process.pid(), nworkers))

  for j = 1, njobs do
    process.send(workers[(j - 1) % nworkers + 1], "job", { id = j, n = j })
  end
  for _, pid in ipairs(workers) do process.send(pid, "done") end

  local squares, per_worker, exits = {}, {}, 0
  local deadline = time.after("10s")
  while #squares < njobs or exits < nworkers do
    local r = channel.select({ inbox:case_receive(), events:case_receive(), deadline:case_receive() })
    if r.channel == deadline then
      return nil, errors.new({ kind = errors.TIMEOUT, message = "demo: timed out waiting for workers" })
    elseif r.channel == inbox then
      local result = r.value:payload():data()
      squares[#squares + 1] = result.square
    elseif r.value.kind == process.event.EXIT then
      exits = exits + 1
      if r.value.result.error then return nil, r.value.result.error end
      per_worker[#per_worker + 1] = ("%s did %d"):format(r.value.from, r.value.result.value)
    end
  end

  local total, expected = stats.sum(squares), stats.sum_of_squares(njobs)
  table.sort(per_worker)
  for _, line in ipairs(per_worker) do io.print("  " .. line) end
  io.print(("%d jobs, sum of squares %d (expected %d) in %s"):format(
    njobs, total, expected, tostring(time.now():sub(started))))
  if total ~= expected then return nil, "demo: wrong total" end
  return 0
end

return { main = main }
