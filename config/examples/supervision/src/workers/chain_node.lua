-- From the supervision seed, as written.
local function chain_node_main(depth)
local time = require("time")
if depth > 0 then
-- Nächsten in Kette starten
local child_pid, err = process.spawn_linked(
"app.workers:chain_node",
"app:processes",
depth - 1
)
if err then
error("spawn failed: " .. tostring(err))
end
end
-- Warten bis Eltern stirbt (löst unseren Tod via LINK_DOWN aus)
time.sleep("5s")
end
return { main = chain_node_main }
