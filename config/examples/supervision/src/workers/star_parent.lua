-- From the supervision seed, as written.
local function star_parent_main()
local time = require("time")
local events_ch = process.events()
local child_count = 10
-- trap_links aktivieren um Kinder-Tod zu sehen
process.set_options({ trap_links = true })
local children = {}
-- Kinder starten
for i = 1, child_count do
local child_pid, err = process.spawn(
"app.workers:linker_child",
"app:processes"
)
if err then
error("spawn child failed: " .. tostring(err))
end
-- Eltern-PID an Kind senden
process.send(child_pid, "inbox", process.pid())
children[child_pid] = true
end
-- Auf Bestätigung aller Kinder warten
for i = 1, child_count do
local msg = process.inbox():receive()
if msg:topic() ~= "linked" then
error("expected linked confirmation")
end
end
-- Fehler auslösen - alle Kinder sollten LINK_DOWN empfangen
error("PARENT_STAR_FAILURE")
end
return { main = star_parent_main }
