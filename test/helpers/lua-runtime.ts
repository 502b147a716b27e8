// Test door for Lua scenarios: a runtime built from entries given in code, with each scenario a
// process.lua entry whose main() runs assertions and returns a value.
import { createRuntime, type Runtime } from '../../src/index.js';
import { LUA_EQ, LUA_HAS, luaMain } from './lua-asserts.js';

export interface Scenario { name: string; source: string; modules?: string[]; imports?: Record<string, string>; kind?: string }

const HOSTS = [
  { id: 'test:processes', kind: 'process.host', host: { workers: 2 } },
  { id: 'test:other', kind: 'process.host', host: { workers: 1 } },
  { id: 'test:terminal', kind: 'terminal.host' },
];

/** Start a runtime holding the scenarios (plus `extra` raw entries) as entries in namespace `test`. */
export async function scenarioRuntime(scenarios: Scenario[], opts: { workers?: number; extra?: Array<Record<string, unknown>> } = {}): Promise<Runtime> {
  const entries: Array<Record<string, unknown>> = [...HOSTS];
  for (const s of scenarios) {
    entries.push({
      id: `test:${s.name}`, kind: s.kind ?? 'process.lua', method: 'main', source: s.source,
      modules: s.modules ?? ['time'], imports: s.imports ?? {},
    });
  }
  entries.push(...(opts.extra ?? []));
  return createRuntime({ entries, workers: opts.workers });
}

/** Lua source of a module whose main is `body` (a function body taking `...`). */
export function main(body: string): string {
  return luaMain(PRELUDE, body);
}

/**
 * Lua, `watchdog(who, secs)`: bounded waits for a scenario's processes, so that a message or an
 * EXIT that never comes (a wrong C path dropping a frame, a kernel losing a watcher) fails the
 * test with a message naming what was awaited instead of hanging it until the runner's timeout.
 * `w.select(cases, what)` is channel.select(cases) plus one timer case; `w.receive(ch, what)` is
 * ch:receive(). The timer ticks every secs / 4 (one timer per tick, not per wait: a hot receive
 * loop keeps its cost and its batches); when four ticks in a row found no wait of this watchdog
 * returned since the one before, the process raises "<who>: nothing for <secs> s, waiting for
 * <what>" (`what`: a string or a function making one, called only then) — secs to 1.25 secs after
 * the last progress. Not a performance check: the bounds are far past any wait of a passing run,
 * loaded or not (a whole world runs in about a second quiet); the default, 15 s with nothing at
 * all arriving, is there only to turn an infinite wait into a failure.
 */
export const LUA_WATCHDOG = `local function watchdog(who, secs)
  secs = secs or 15
  local w, timer, n, seen, idle = {}, nil, 0, 0, 0
  function w.select(cases, what)
    local k = #cases + 1
    while true do
      if not timer then timer = time.after(secs * 250000000) end -- a quarter of secs, in ns
      cases[k] = timer:case_receive()
      local r = channel.select(cases)
      cases[k] = nil
      if r.channel ~= timer then n = n + 1; return r end
      timer = nil
      if n ~= seen then seen, idle = n, 0 else idle = idle + 1 end
      if idle >= 4 then
        if type(what) == "function" then what = what() end
        error(tostring(who) .. ": nothing for " .. secs .. " s, waiting for " .. tostring(what), 0)
      end
    end
  end
  function w.receive(ch, what) return w.select({ ch:case_receive() }, what).value end
  return w
end
`;

/** Assertion helpers available to every scenario. */
const PRELUDE = `
local time = require("time")
${LUA_EQ}${LUA_HAS}${LUA_WATCHDOG}`;

/**
 * Lua, the end of a driver: the receiver's report on channel `done`, or, if the receiver ended
 * first (its EXIT on `ev`, the driver's events), an error naming why — so a failed check inside
 * the receiver fails the test instead of hanging it. Bounded (a watchdog of 120 s with no report
 * and no EXIT: it covers a whole run of the receiver, whose own waits are bounded), so an EXIT
 * that is never sent fails too.
 */
export const REPORT_OR_EXIT = `
    local r = watchdog("driver", 120).select({ done:case_receive(), ev:case_receive() }, "the receiver's report or its EXIT")
    if r.channel == done then return r.value end
    error("receiver ended first: " .. tostring(r.value.result and r.value.result.error))`;
