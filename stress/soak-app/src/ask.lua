-- The main thread's question to a long-lived process: send { reply = self, arg } on `topic`,
-- wait for one "answer" (at most `timeout`), return its data.
local time = require("time")

local function main(dest, topic, arg, timeout)
  local inbox = process.inbox()
  local ok, err = process.send(dest, topic, { reply = process.pid(), arg = arg })
  if not ok then return nil, err end
  local r = channel.select({ inbox:case_receive(), time.after(timeout or "10s"):case_receive() })
  if r.channel ~= inbox then return { timeout = true } end
  return r.value:payload():data()
end

return { main = main }
