// Lua entries for tests that run real processes (test/funcs.test.ts, test/wasm-lua.test.ts,
// test/wasm-guest.test.ts): a main(...) body with its modules required as locals of the same
// name and the assertion helpers eq / fails in scope; and a bounded wait for a condition
// (outcomes, not timings).
import assert from 'node:assert/strict';
import { LUA_EQ, luaMain } from './lua-asserts.js';

const ASSERTS = `${LUA_EQ}local function fails(what, kind, v, err, text)
  if v ~= nil then error(what .. ": expected a failure, got " .. tostring(v), 2) end
  if err == nil then error(what .. ": expected an error", 2) end
  if err:kind() ~= kind then error(what .. ": expected kind " .. kind .. ", got " .. tostring(err:kind()) .. ": " .. tostring(err), 2) end
  if text and not tostring(err):find(text, 1, true) then error(what .. ": message '" .. tostring(err) .. "' lacks '" .. text .. "'", 2) end
end
`;

/** The source of a Lua entry whose main(...) is `body`, with `modules` required and eq / fails. */
export function luaSource(body: string, modules: string[]): string {
  const requires = modules.map((m) => `local ${m} = require("${m}")\n`).join('');
  return luaMain(requires + ASSERTS, body);
}

/** A `kind` entry (process.lua / function.lua) running `body` (see luaSource). */
export function luaEntry(id: string, kind: string, body: string, modules: string[]): Record<string, unknown> {
  return { id, kind, method: 'main', modules, source: luaSource(body, modules) };
}

/** Poll until cond() holds (bounded; fails the test otherwise). */
export async function until(what: string, cond: () => boolean | Promise<boolean>): Promise<void> {
  for (let i = 0; i < 2000; i++) {
    if (await cond()) return;
    await new Promise((res) => setTimeout(res, 5));
  }
  assert.fail(`never happened: ${what}`);
}
