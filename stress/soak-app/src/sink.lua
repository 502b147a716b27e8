-- A sink of numbered traffic. Every message carries { src = <source id>, seq = <n> }, numbered
-- from 1 per (source, sink, stream); the streams are the inbox (topic "d") and a listen channel
-- (topic "L"). The sink checks that each stream goes 1, 2, 3, ... (a repeat is a duplicate or a
-- reorder, a jump is a loss), and at the end that it got exactly the count each source announced
-- in its "fin" (sent after its last message, so per-sender FIFO puts it behind them).
--
-- Commands (inbox): "upgrade" -> process.upgrade to this same entry with the state (the mailbox,
-- listen-channel contents included, must survive); "stop" { srcs = {ids} } -> return the report
-- once every listed source's fin and messages are in; "report" -> return the report now.
local time = require("time")

local function new_state()
  return { d = {}, l = {}, nd = {}, nl = {}, fins = {}, got = 0, nviol = 0, viol = {},
    upgrades = 0, expect = nil }
end

local function main(st)
  st = st or new_state()
  -- L first: a subscription made later would find the L messages already in the inbox
  local L = process.listen("L")
  local inbox = process.inbox()

  local function viol(s)
    st.nviol = st.nviol + 1
    if #st.viol < 20 then st.viol[#st.viol + 1] = s end
  end
  local function take(last, count, d, kind)
    local prev = last[d.src] or 0
    if d.seq <= prev then
      viol(kind .. " duplicate or reorder: source " .. d.src .. " seq " .. d.seq .. " after " .. prev)
    elseif d.seq ~= prev + 1 then
      viol(kind .. " loss: source " .. d.src .. " seq " .. d.seq .. " after " .. prev)
    end
    if d.seq > prev then last[d.src] = d.seq end
    count[d.src] = (count[d.src] or 0) + 1
    st.got = st.got + 1
  end
  local function complete(src)
    local f = st.fins[src]
    return f ~= nil and (st.nd[src] or 0) >= f.d and (st.nl[src] or 0) >= f.l
  end
  local function report(final)
    local missing, srcs, llost = {}, 0, 0
    for _, src in ipairs(st.expect or {}) do
      srcs = srcs + 1
      local f = st.fins[src]
      if not f then
        missing[#missing + 1] = "source " .. src .. ": no fin (got d=" .. (st.nd[src] or 0) .. " l=" .. (st.nl[src] or 0) .. ")"
      else
        local gd, gl = st.nd[src] or 0, st.nl[src] or 0
        if gd ~= f.d then missing[#missing + 1] = "source " .. src .. ": d got " .. gd .. " of " .. f.d end
        if gl ~= f.l then
          missing[#missing + 1] = "source " .. src .. ": L got " .. gl .. " of " .. f.l
          if gl < f.l then llost = llost + f.l - gl end
        end
      end
    end
    return { got = st.got, sources = srcs, nviol = st.nviol, viol = st.viol, missing = missing,
      upgrades = st.upgrades, llost = llost, linbox = st.linbox or 0, final = final }
  end
  local function done()
    if not st.expect then return false end
    for _, src in ipairs(st.expect) do if not complete(src) then return false end end
    return true
  end

  while true do
    if done() then return report(true) end
    local r = channel.select({ inbox:case_receive(), L:case_receive() })
    if r.channel == L then
      take(st.l, st.nl, r.value, "L")
    else
      local m = r.value
      local t = m:topic()
      if t == "d" then
        take(st.d, st.nd, m:payload():data(), "d")
      elseif t == "L" then
        -- routed to the inbox before the listen channel existed (never expected: listen comes first)
        take(st.l, st.nl, m:payload():data(), "L")
        st.linbox = (st.linbox or 0) + 1
      elseif t == "fin" then
        local f = m:payload():data()
        if st.fins[f.src] then viol("duplicate fin from source " .. f.src) end
        st.fins[f.src] = f
      elseif t == "upgrade" then
        st.upgrades = st.upgrades + 1
        process.upgrade("soak:sink", st)
      elseif t == "stop" then
        st.expect = m:payload():data().srcs or {}
      elseif t == "report" then
        return report(false)
      end
    end
  end
end

return { main = main }
