// `wasi.env` values: each names a registry env entry (`id`), the guest variable (`name`) and
// whether it is `required`. Resolved at call time, so a changed storage is seen by the next call.
//
// Owns: the default resolver over registry entries, used until the env module (`env.variable`
// entries and storages as the Lua `env` module sees them) offers its own; WasmFunctions takes any
// `EnvResolver`. Default rules: an `env.variable` entry reads `variable` (default: its name) from
// its `storage`; storages: `env.storage.static` / `env.storage.memory` (`values`), `env.storage.os`
// (the host environment — only through such an entry, never ambiently), `env.storage.router`
// (`storages` in order, first hit wins). A variable entry with a `value` or `default` uses it when
// the storage has nothing.
// May call: the registry. Rejected: reading process.env by `name` directly — the guest would see
// the host's environment without any registry entry granting it.

import type { Registry } from '../registry/registry.js';
import { WasmError } from './errors.js';

export type EnvResolver = (id: string) => string | undefined;

export function registryEnv(registry: Registry): EnvResolver {
  const fromStorage = (id: string, key: string, seen: Set<string>): string | undefined => {
    const s = registry.get(id);
    if (!s || seen.has(id)) return undefined;
    seen.add(id);
    const d = s.data;
    switch (s.kind) {
      case 'env.storage.static':
      case 'env.storage.memory': {
        const v = (d.values as Record<string, unknown> | undefined)?.[key];
        return v === undefined || v === null ? undefined : String(v);
      }
      case 'env.storage.os': return process.env[key];
      case 'env.storage.router':
        for (const next of Array.isArray(d.storages) ? d.storages : []) {
          const v = typeof next === 'string' ? fromStorage(next.includes(':') ? next : `${s.namespace}:${next}`, key, seen) : undefined;
          if (v !== undefined) return v;
        }
        return undefined;
      default: return undefined;
    }
  };
  return (id) => {
    const e = registry.get(id);
    if (!e || e.kind !== 'env.variable') return undefined;
    const key = typeof e.data.variable === 'string' ? e.data.variable : e.name;
    const storage = typeof e.data.storage === 'string' ? (e.data.storage.includes(':') ? e.data.storage : `${e.namespace}:${e.data.storage}`) : undefined;
    const v = storage ? fromStorage(storage, key, new Set()) : undefined;
    if (v !== undefined) return v;
    const fallback = e.data.value ?? e.data.default;
    return fallback === undefined || fallback === null ? undefined : String(fallback);
  };
}

/** The guest environment for an entry's `wasi.env`; a missing required variable is an error. */
export function resolveEnv(entryId: string, list: Array<{ id: string; name: string; required: boolean }>, resolve: EnvResolver): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const v of list) {
    const value = resolve(v.id);
    if (value === undefined) {
      if (v.required) throw new WasmError('NotFound', `${entryId}: required environment variable ${v.name} (from ${v.id}) is not set`, { entry: entryId });
      continue;
    }
    out.push([v.name, value]);
  }
  return out;
}
