-- A supervised service (process.service): holds its name; "crash" makes it fail, and the
-- supervisor restarts it with backoff; it answers "ping"; CANCEL (shutdown) ends it.
local function main(name)
  assert(process.registry.register(name))
  local inbox, events = process.inbox(), process.events()
  while true do
    local r = channel.select({ inbox:case_receive(), events:case_receive() })
    if r.channel == events then
      if r.value.kind == process.event.CANCEL then return "stopped" end
    else
      local m = r.value
      if m:topic() == "crash" then error("soak service crash") end
      if m:topic() == "ping" then process.send(m:payload():data(), "pong", name) end
    end
  end
end

return { main = main }
