// The Lua assertion helpers and the module shape the tests that run real processes write their
// entries with: `eq` and `has` as local functions (their errors name what was checked and what came),
// and a module whose main(...) is a body after a header of locals.

/** `eq(got, want, what)`: raises "what: expected want, got got" (level 2: the caller's line). */
export const LUA_EQ = `local function eq(got, want, what)
  if got ~= want then error((what or "value") .. ": expected " .. tostring(want) .. ", got " .. tostring(got), 2) end
end
`;

/** `has(s, sub, what)`: raises unless tostring(s) contains sub (plain text, not a pattern). */
export const LUA_HAS = `local function has(s, sub, what)
  s = tostring(s)
  if not s:find(sub, 1, true) then error((what or "text") .. ": expected to contain '" .. sub .. "', got '" .. s .. "'", 2) end
end
`;

/** Lua source of a module whose main is `body` (a function body taking `...`), after `header`. */
export function luaMain(header: string, body: string): string {
  return `${header}local function main(...)\n${body}\nend\nreturn { main = main }\n`;
}
