-- A worker: squares every "job" it receives and sends the answer to the process registered as
-- "coordinator"; exits normally on "done", returning how many jobs it did (the EXIT value).
local function main(index)
  local inbox = process.inbox()
  local done = 0
  while true do
    local msg = inbox:receive()
    if msg:topic() == "done" then
      return done
    end
    local job = msg:payload():data()
    local ok, err = process.send("coordinator", "result", { id = job.id, square = job.n * job.n, worker = index })
    if not ok then return nil, err end
    done = done + 1
  end
end

return { main = main }
