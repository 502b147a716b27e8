-- An agent: carries out the driver's commands on its worker and checks what comes back.
-- Commands arrive on the inbox as "cmd" { op = ... }:
--   victim { k, host, watch, fate, after, name, unreg }  spawn a victim (victim.lua) on `host`, watched
--        as `watch`: "mon" (spawn_monitored), "link" (spawn_linked), "both"
--        (spawn_linked_monitored), "mon_after" / "link_after" (spawn, then monitor / link), "none"
--   end { k }       end victim k the way its fate says ("go", CANCEL, terminate; an upgrading
--                   victim gets two "go"s, the second waiting in its mailbox across the upgrade)
--   names { k }     register a name, look it up, unregister it, look it up again
--   source { host, plan }  spawn a monitored traffic source (source.lua) with the plan
--   check { reply } answer with the open expectations and the violations so far
-- Every monitored victim must produce exactly one EXIT, every linked victim with an abnormal
-- end exactly one LINK_DOWN (links trap, so the agent lives on); a victim's name must be gone
-- by the time its EXIT arrives.
local time = require("time")

local ABNORMAL = { error = true, terminate = true }

local function main(tag)
  process.set_options({ trap_links = true })
  local inbox, events = process.inbox(), process.events()
  local vict, watch = {}, {}      -- k -> { pid, fate, after }; pid -> expectation
  local open, nviol, viol = 0, 0, {}
  local counts = { victims = 0, ends = 0, names = 0, sources = 0, exits = 0, link_downs = 0 }
  local function bad(s)
    nviol = nviol + 1
    if #viol < 20 then viol[#viol + 1] = tag .. ": " .. s end
  end
  local function expect(pid, what)
    -- nothing expected (unwatched, or linked with a normal end): any event from it is unexpected
    if what.exit > 0 or what.ld > 0 then watch[pid] = what; open = open + 1 end
  end
  local function settle(pid, w)
    if w.exit == w.got_exit and w.ld == w.got_ld then
      open = open - 1
      watch[pid] = nil
    end
  end

  local function on_event(e)
    local w = watch[e.from]
    if e.kind == process.event.EXIT then
      counts.exits = counts.exits + 1
      if not w or w.exit == 0 then bad("unexpected EXIT from " .. tostring(e.from)); return end
      w.got_exit = w.got_exit + 1
      if w.got_exit > w.exit then bad("duplicate EXIT from " .. e.from); return end
      local res = e.result or {}
      if w.source then
        if res.error ~= nil or res.value ~= w.sends then
          bad("source " .. w.k .. " ended with " .. tostring(res.error or res.value) .. ", planned " .. w.sends .. " sends")
        end
      else
        local end_fate = w.fate == "upgrade" and w.after or w.fate
        if end_fate == "normal" and res.value ~= "ok" then bad("victim " .. w.k .. " (normal) ended with " .. tostring(res.error or res.value)) end
        if end_fate == "cancel" and res.value ~= "cancelled" then bad("victim " .. w.k .. " (cancel) ended with " .. tostring(res.error or res.value)) end
        if end_fate == "error" and not tostring(res.error):find("soak victim error", 1, true) then bad("victim " .. w.k .. " (error) ended with " .. tostring(res.error or res.value)) end
        if end_fate == "terminate" and not tostring(res.error):find("process terminated", 1, true) then bad("victim " .. w.k .. " (terminate) ended with " .. tostring(res.error or res.value)) end
        if w.name then
          local holder = process.registry.lookup(w.name)
          if holder then bad("name " .. w.name .. " still held by " .. tostring(holder) .. " after the EXIT of " .. e.from) end
        end
      end
      settle(e.from, w)
    elseif e.kind == process.event.LINK_DOWN then
      counts.link_downs = counts.link_downs + 1
      if not w or w.ld == 0 then bad("unexpected LINK_DOWN from " .. tostring(e.from)); return end
      w.got_ld = w.got_ld + 1
      if w.got_ld > w.ld then bad("duplicate LINK_DOWN from " .. e.from); return end
      settle(e.from, w)
    end
  end

  local function spawn_victim(c)
    local opts = { fate = c.fate, after = c.after, name = c.name, unreg = c.unreg }
    local pid, err
    if c.watch == "mon" then pid, err = process.spawn_monitored("soak:victim", c.host, opts)
    elseif c.watch == "link" then pid, err = process.spawn_linked("soak:victim", c.host, opts)
    elseif c.watch == "both" then pid, err = process.spawn_linked_monitored("soak:victim", c.host, opts)
    else pid, err = process.spawn("soak:victim", c.host, opts) end
    if not pid then bad("spawn of victim " .. c.k .. " failed: " .. tostring(err)); return end
    if c.watch == "mon_after" then
      local ok, merr = process.monitor(pid)
      if not ok then bad("monitor " .. pid .. " failed: " .. tostring(merr)) end
    elseif c.watch == "link_after" then
      local ok, lerr = process.link(pid)
      if not ok then bad("link " .. pid .. " failed: " .. tostring(lerr)) end
    end
    local mon = c.watch == "mon" or c.watch == "both" or c.watch == "mon_after"
    local lnk = c.watch == "link" or c.watch == "both" or c.watch == "link_after"
    local end_fate = c.fate == "upgrade" and c.after or c.fate
    expect(pid, { k = c.k, fate = c.fate, after = c.after, name = mon and c.name or nil,
      exit = mon and 1 or 0, ld = (lnk and ABNORMAL[end_fate]) and 1 or 0, got_exit = 0, got_ld = 0 })
    vict[c.k] = { pid = pid, fate = c.fate }
    counts.victims = counts.victims + 1
  end

  local function end_victim(c)
    local v = vict[c.k]
    if not v then bad("end of unknown victim " .. tostring(c.k)); return end
    vict[c.k] = nil
    counts.ends = counts.ends + 1
    local ok, err
    if v.fate == "cancel" then ok, err = process.cancel(v.pid, "5s")
    elseif v.fate == "terminate" then ok, err = process.terminate(v.pid)
    else
      ok, err = process.send(v.pid, "go")
      if ok and v.fate == "upgrade" then ok, err = process.send(v.pid, "go") end
    end
    if not ok then bad("ending victim " .. c.k .. " (" .. v.fate .. ") failed: " .. tostring(err)) end
  end

  local function names(c)
    counts.names = counts.names + 1
    local name = tag .. ".n" .. c.k
    local ok, err = process.registry.register(name)
    if not ok then bad("register " .. name .. ": " .. tostring(err)); return end
    local got = process.registry.lookup(name)
    if got ~= process.pid() then bad("lookup " .. name .. " gave " .. tostring(got)) end
    if process.registry.unregister(name) ~= true then bad("unregister " .. name .. " returned false") end
    got = process.registry.lookup(name)
    if got ~= nil then bad("lookup after unregister of " .. name .. " gave " .. tostring(got)) end
  end

  local function source(c)
    local pid, err = process.spawn_monitored("soak:source", c.host, c.plan)
    if not pid then bad("spawn of source " .. c.plan.id .. " failed: " .. tostring(err)); return end
    local sends = 0
    for _, t in ipairs(c.plan.targets) do sends = sends + t.d + t.l end
    expect(pid, { k = c.plan.id, source = true, sends = sends, exit = 1, ld = 0, got_exit = 0, got_ld = 0 })
    counts.sources = counts.sources + 1
  end

  while true do
    local r = channel.select({ inbox:case_receive(), events:case_receive() })
    if r.channel == events then
      if r.value.kind == process.event.CANCEL then return counts end -- shutdown
      on_event(r.value)
    else
      local m = r.value
      local c = m:payload():data()
      if m:topic() == "cmd" then
        if c.op == "victim" then spawn_victim(c)
        elseif c.op == "end" then end_victim(c)
        elseif c.op == "names" then names(c)
        elseif c.op == "source" then source(c)
        end
      elseif m:topic() == "check" then
        local live = 0
        for _ in pairs(vict) do live = live + 1 end
        process.send(c.reply, "answer", { open = open, live = live, nviol = nviol, viol = viol, counts = counts })
      end
    end
  end
end

return { main = main }
