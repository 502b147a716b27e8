-- From the supervision seed, as written.
local function linker_child_main()
local events_ch = process.events()
local inbox_ch = process.inbox()
-- Eltern-PID empfangen
local msg = inbox_ch:receive()
local parent_pid = msg:payload():data()
-- Mit Eltern verlinken
process.link(parent_pid)
-- Verlinkung bestätigen
process.send(parent_pid, "linked", process.pid())
-- Auf LINK_DOWN warten wenn Eltern stirbt
local event = events_ch:receive()
if event.kind == process.event.LINK_DOWN then
return "parent_died"
end
end
return { main = linker_child_main }
