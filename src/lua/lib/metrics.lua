-- The `metrics` module (Wippy docs, "Metrics & Telemetry"): counters, gauges and histograms an
-- application records, exported with the runtime's own figures on the Prometheus `/metrics`
-- endpoint (src/ops/prometheus.ts) and listed by `wippy stats`.
--
-- Where values go. Each call is one "met" frame to the main thread,
--   { "met", op, name, value, labels }
-- op "c" (counter add), "g" (gauge set), "ga" (gauge add: inc / dec) or "h" (a histogram
-- observation); labels a map of label name -> string, or false. The main thread keeps them in one
-- prom-client registry (src/ops/user-metrics.ts), whether or not the endpoint is enabled, so the
-- calls never fail because nobody scrapes. Frames travel on the worker's ordered channel: one
-- process's calls are applied in the order it made them.
--
-- Checked here, before a frame is spent (Invalid errors naming the function and the metric):
-- the name is a Prometheus metric name ([a-zA-Z_:][a-zA-Z0-9_:]*); label names are Prometheus
-- label names not starting with "__"; label values are strings, numbers or booleans (sent as
-- strings); values are finite numbers, a counter's not negative; a name keeps the type and the
-- label names of its first use on this worker. The same name used with another type or other
-- label names from another worker is refused by the main thread, which logs it once (no answer
-- travels back: recording is one-way, like the logger).
--
-- Receives: deps.post(tid, frame) -> true | false, message; deps.err; deps.wire (the "met"
-- constructor); deps.run.cp (the caller, read at call time).
return function(deps)
  local post, err, wmet = deps.post, deps.err, deps.wire.met
  local type, tostring, pairs, sort, concat = type, tostring, pairs, table.sort, table.concat
  local smatch, ssub = string.match, string.sub

  -- name -> { kind = "counter" | "gauge" | "histogram", sig = "label,names" } of its first use here
  local seen = {}

  local function bad(fname, msg) return false, err("Invalid", "metrics." .. fname .. ": " .. msg, false) end

  -- -> labels table to send (or false), label signature | nil, message
  local function labels_of(labels)
    if labels == nil then return false, "" end
    if type(labels) ~= "table" then return nil, "labels must be a table, got " .. type(labels) end
    local out, names, n = {}, {}, 0
    for k, v in pairs(labels) do
      if type(k) ~= "string" or not smatch(k, "^[%a_][%w_]*$") or ssub(k, 1, 2) == "__" then
        return nil, "invalid label name " .. tostring(k)
      end
      local tv = type(v)
      if tv == "number" or tv == "boolean" then v = tostring(v)
      elseif tv ~= "string" then return nil, "label " .. k .. " must be a string or number, got " .. tv end
      n = n + 1
      names[n] = k
      out[k] = v
    end
    if n == 0 then return false, "" end
    sort(names)
    return out, concat(names, ",")
  end

  local function record(fname, kind, op, name, value, labels)
    if deps.run.cp == nil then error("metrics is only available inside a process", 3) end
    if type(name) ~= "string" or not smatch(name, "^[%a_:][%w_:]*$") then
      return bad(fname, "invalid metric name " .. tostring(name))
    end
    if type(value) ~= "number" or value ~= value or value == math.huge or value == -math.huge then
      return bad(fname, name .. ": value must be a finite number, got " .. tostring(value))
    end
    if op == "c" and value < 0 then return bad(fname, name .. ": a counter cannot decrease (got " .. tostring(value) .. ")") end
    local lv, sig = labels_of(labels)
    if lv == nil then return bad(fname, name .. ": " .. sig) end
    local s = seen[name]
    if s == nil then
      seen[name] = { kind = kind, sig = sig }
    elseif s.kind ~= kind then
      return bad(fname, name .. " is a " .. s.kind .. ", not a " .. kind)
    elseif s.sig ~= sig then
      return bad(fname, name .. " has labels {" .. s.sig .. "}, not {" .. sig .. "}")
    end
    local ok, perr = post(0, wmet(op, name, value, lv))
    if not ok then return false, err("Internal", "metrics." .. fname .. ": " .. tostring(perr), false) end
    return true
  end

  local metrics = {}
  function metrics.counter_inc(name, labels) return record("counter_inc", "counter", "c", name, 1, labels) end
  function metrics.counter_add(name, value, labels) return record("counter_add", "counter", "c", name, value, labels) end
  function metrics.gauge_set(name, value, labels) return record("gauge_set", "gauge", "g", name, value, labels) end
  function metrics.gauge_inc(name, labels) return record("gauge_inc", "gauge", "ga", name, 1, labels) end
  function metrics.gauge_dec(name, labels) return record("gauge_dec", "gauge", "ga", name, -1, labels) end
  function metrics.histogram(name, value, labels) return record("histogram", "histogram", "h", name, value, labels) end
  return metrics
end
