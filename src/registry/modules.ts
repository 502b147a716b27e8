// The built-in Lua modules an entry may list in `modules:`, and the load error for any other name.
//
// The list must match the kernel's builtin module table (src/lua/kernel/init.lua registers each
// one); test/stdlib-modules.test.ts requires every name here from a real process, so the two
// cannot drift apart silently. `process` and the globals (channel, errors, ...) need no listing;
// `io` is listed by terminal commands. A new module is one name here and one line in init.lua.
//
// An unknown name is a registry problem at load ("unknown module 'tme' (did you mean 'time'?)")
// rather than a `require` failure at run time: a typo in `modules:` is found before anything runs.
export const BUILTIN_MODULES = [
  'base64', 'ctx', 'env', 'events', 'funcs', 'hash', 'io', 'json', 'logger', 'security', 'test', 'time', 'uuid',
  'yaml',
] as const;

function distance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j]!;
      prev[j] = Math.min(up + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return prev[b.length]!;
}

/** The message for `name` when it is not a built-in module, else undefined. */
export function unknownModule(name: string): string | undefined {
  if ((BUILTIN_MODULES as readonly string[]).includes(name)) return undefined;
  let best: string | undefined;
  let bestD = Infinity;
  for (const m of BUILTIN_MODULES) {
    const d = distance(name.toLowerCase(), m);
    if (d < bestD) { bestD = d; best = m; }
  }
  if (best !== undefined && bestD <= Math.max(2, Math.floor(best.length / 3))) return `unknown module '${name}' (did you mean '${best}'?)`;
  return `unknown module '${name}'; built-in modules are ${BUILTIN_MODULES.join(', ')}`;
}
