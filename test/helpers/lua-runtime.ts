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

/** Assertion helpers available to every scenario. */
const PRELUDE = `
local time = require("time")
${LUA_EQ}${LUA_HAS}`;

/**
 * Lua, the end of a driver: the receiver's report on channel `done`, or, if the receiver ended
 * first (its EXIT on `ev`, the driver's events), an error naming why — so a failed check inside
 * the receiver fails the test instead of hanging it.
 */
export const REPORT_OR_EXIT = `
    local r = channel.select({ done:case_receive(), ev:case_receive() })
    if r.channel == done then return r.value end
    error("receiver ended first: " .. tostring(r.value.result and r.value.result.error))`;
