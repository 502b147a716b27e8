-- A supervised service (process.service): holds its name; "crash" makes it fail, and the
-- supervisor restarts it with backoff; it answers "ping" with the number of its life.
local function main(name)
  assert(process.registry.register(name))
  local inbox = process.inbox()
  while true do
    local m = inbox:receive()
    if m:topic() == "crash" then error("soak service crash") end
    if m:topic() == "ping" then process.send(m:payload():data(), "pong", name) end
  end
end

return { main = main }
