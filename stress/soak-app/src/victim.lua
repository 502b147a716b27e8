-- A process with a fate, chosen by the driver: how it ends. Its watcher (an agent) knows the fate
-- and so which events it must get, exactly once each.
--   normal    return "ok" when told "go"
--   error     raise when told "go" (abnormal: links get LINK_DOWN)
--   cancel    return "cancelled" on CANCEL (normal exit)
--   terminate wait until terminated (abnormal)
--   upgrade   on "go", upgrade into this entry with fate `after` (normal or error), which then
--             ends on the next "go"
-- `name`, if given, is registered first (it must be gone before the watcher hears of the exit);
-- with `unreg`, a normal end unregisters it first (the process then exits holding no name).
local time = require("time")

local function main(opts, upgraded)
  if opts.name and not upgraded then process.registry.register(opts.name) end
  local inbox = process.inbox()
  local ev = process.events()
  while true do
    local r = channel.select({ inbox:case_receive(), ev:case_receive() })
    if r.channel == ev then
      if r.value.kind == process.event.CANCEL and opts.fate == "cancel" then return "cancelled" end
    elseif r.value:topic() == "go" then
      if opts.fate == "normal" then
        if opts.unreg and opts.name then process.registry.unregister(opts.name) end
        return "ok"
      end
      if opts.fate == "error" then error("soak victim error") end
      if opts.fate == "upgrade" then
        process.upgrade("soak:victim", { fate = opts.after, name = opts.name, unreg = opts.unreg }, true)
      end
    end
  end
end

return { main = main }
