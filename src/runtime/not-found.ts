// The "not found" errors of the JS API (spawn, exec, run): what was not found, and the closest
// ids that exist. The kernel's own messages stay the bare "factory not found" / "host not found"
// a process sees (Wippy's wording); these keep that wording first, so a test or a caller that
// matches it still does, and add the id and a did-you-mean.
import type { Registry } from '../registry/registry.js';
import { similarIds } from '../registry/registry.js';
import { didYouMean } from '../registry/near.js';
import { HOST_KINDS, LUA_KINDS, WASM_KINDS } from '../registry/schema.js';

const RUNNABLE: readonly string[] = [...LUA_KINDS.filter((k) => k !== 'library.lua'), ...WASM_KINDS];

/** `factory not found: app:helo (did you mean app:hello?)`, or what the entry is instead. */
export function factoryNotFound(reg: Registry, id: string): string {
  const e = reg.get(id);
  if (e) return `factory not found: ${id} is a ${e.kind}, not a process or function entry`;
  const near = similarIds(id, [...reg.entries.values()].filter((x) => RUNNABLE.includes(x.kind)).map((x) => x.id), 1);
  return `factory not found: ${id}${didYouMean(near)}`;
}

/** `host not found: app:proc (did you mean app:processes?)`. */
export function hostNotFound(reg: Registry, host: string): string {
  const e = reg.get(host);
  if (e && !(HOST_KINDS as readonly string[]).includes(e.kind)) return `host not found: ${host} is a ${e.kind}, not a host`;
  return `host not found: ${host}${didYouMean(similarIds(host, reg.hosts().map((h) => h.id), 1))}`;
}
