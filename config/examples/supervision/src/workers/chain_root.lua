-- From the supervision seed, as written.
local function chain_root_main()
local time = require("time")
-- Erstes Kind starten
local child_pid, err = process.spawn_linked(
"app.workers:chain_node",
"app:processes",
4 -- Verbleibende Tiefe
)
if err then
error("spawn failed: " .. tostring(err))
end
-- Warten bis Kette aufgebaut ist
time.sleep("100ms")
-- Kaskade auslösen - alle verlinkten Prozesse sterben
error("CHAIN_ROOT_FAILURE")
end
return { main = chain_root_main }
