// The built-in Lua modules an entry may list in `modules:`, and the load error for any other name.
//
// The list must match the kernel's builtin module table (src/lua/kernel/init.lua registers each
// one); test/stdlib-modules.test.ts requires every name here from a real process, so the two
// cannot drift apart silently. `process` and the globals (channel, errors, ...) need no listing;
// `io` is listed by terminal commands. A new module is one name here and one line in init.lua.
//
// An unknown name is a registry problem at load ("unknown module 'tme' (did you mean 'time'?)")
// rather than a `require` failure at run time: a typo in `modules:` is found before anything runs.
import { editDistance } from './near.js';

export const BUILTIN_MODULES = [
  'base64', 'ctx', 'env', 'events', 'funcs', 'hash', 'io', 'json', 'logger', 'metrics', 'security', 'test', 'time',
  'uuid', 'yaml',
] as const;

/** The message for `name` when it is not a built-in module, else undefined. */
export function unknownModule(name: string): string | undefined {
  if ((BUILTIN_MODULES as readonly string[]).includes(name)) return undefined;
  let best: string | undefined;
  let bestD = Infinity;
  for (const m of BUILTIN_MODULES) {
    const d = editDistance(name.toLowerCase(), m);
    if (d < bestD) { bestD = d; best = m; }
  }
  if (best !== undefined && bestD <= Math.max(2, Math.floor(best.length / 3))) return `unknown module '${name}' (did you mean '${best}'?)`;
  return `unknown module '${name}'; built-in modules are ${BUILTIN_MODULES.join(', ')}`;
}
