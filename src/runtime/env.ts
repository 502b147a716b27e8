// The environment variables of a runtime: the registry's `env.variable` entries over their
// `env.storage.*` entries (kinds described in src/registry/env.ts), served to processes through
// the "env" rpc of the `env` Lua module (src/lua/lib/env.lua).
//
// It lives on the main thread, one per runtime, so every process on every worker sees the same
// values and a `set` is visible everywhere at once. Permissions are not checked here: the kernel
// checks `env.get` / `env.set` with the caller's actor and scope before it asks.
//
// Lookup: `env.get("NAME")` finds the variable entry whose `variable` field (default: its entry
// name) is NAME; a key with a ':' is taken as the variable's entry id. A variable without a value
// in its storage falls back to its `default`; without either it is NotFound, as is a name no
// entry defines.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { WippyError } from '../codec/msgpack.js';
import { variableName } from '../registry/env.js';
import type { Registry } from '../registry/registry.js';

interface Storage {
  get(name: string): string | undefined;
  /** False: this storage is read-only. */
  set(name: string, value: string): boolean;
}

interface Variable { id: string; name: string; storage: string; default?: string; readOnly: boolean }

/** A dotenv file: KEY=VALUE lines, `#` comments, optional `export `, quotes stripped. */
export function parseDotenv(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    const m = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.]*)\s*=\s*(.*?)\s*$/.exec(line);
    if (!m) continue;
    let v = m[2]!;
    if (v.length >= 2 && (v[0] === '"' || v[0] === "'") && v[v.length - 1] === v[0]) {
      v = v.slice(1, -1);
      if (m[2]![0] === '"') v = v.replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
    } else {
      v = v.replace(/\s+#.*$/, '');
    }
    out.set(m[1]!, v);
  }
  return out;
}

function dotenvText(values: Map<string, string>): string {
  let out = '';
  for (const [k, v] of values) out += `${k}=${/[\s#"'\\]/.test(v) || v === '' ? JSON.stringify(v) : v}\n`;
  return out;
}

export class EnvService {
  private readonly storages = new Map<string, Storage>();
  private readonly byName = new Map<string, Variable>();
  private readonly byId = new Map<string, Variable>();

  constructor(registry: Registry) {
    for (const e of registry.entries.values()) {
      const d = e.data;
      switch (e.kind) {
        case 'env.storage.memory': {
          const values = new Map<string, string>();
          this.storages.set(e.id, { get: (n) => values.get(n), set: (n, v) => { values.set(n, v); return true; } });
          break;
        }
        case 'env.storage.os':
          this.storages.set(e.id, { get: (n) => process.env[n], set: (n, v) => { process.env[n] = v; return true; } });
          break;
        case 'env.storage.static': {
          const values = new Map(Object.entries((d.values ?? {}) as Record<string, unknown>).map(([k, v]) => [k, String(v)]));
          this.storages.set(e.id, { get: (n) => values.get(n), set: () => false });
          break;
        }
        case 'env.storage.file': {
          const file = path.resolve(registry.root, String(d.file_path));
          let values: Map<string, string> | undefined;
          const load = () => {
            if (values) return values;
            if (!existsSync(file) && d.auto_create === true) writeFileSync(file, '');
            values = existsSync(file) ? parseDotenv(readFileSync(file, 'utf8')) : new Map();
            return values;
          };
          this.storages.set(e.id, {
            get: (n) => load().get(n),
            set: (n, v) => { const vals = load(); vals.set(n, v); writeFileSync(file, dotenvText(vals)); return true; },
          });
          break;
        }
        case 'env.variable': {
          const v: Variable = { id: e.id, name: variableName(d, e.name), storage: String(d.storage), readOnly: d.read_only === true };
          if (d.default !== undefined) v.default = String(d.default);
          this.byName.set(v.name, v);
          this.byId.set(v.id, v);
          break;
        }
      }
    }
    // Routers last: their storages are resolved when called, so declaration order does not matter.
    for (const e of registry.entries.values()) {
      if (e.kind !== 'env.storage.router') continue;
      const ids = (e.data.storages as string[] | undefined) ?? [];
      const parts = () => ids.map((id) => this.storages.get(id)).filter((s): s is Storage => s !== undefined);
      this.storages.set(e.id, {
        get: (n) => { for (const s of parts()) { const v = s.get(n); if (v !== undefined) return v; } return undefined; },
        set: (n, v) => parts().some((s) => s.set(n, v)),
      });
    }
  }

  private variable(key: string): Variable | WippyError {
    const v = key.includes(':') ? this.byId.get(key) : this.byName.get(key);
    return v ?? new WippyError(`env variable not found: ${key}`, 'NotFound', false);
  }

  get(key: string): string | WippyError {
    const v = this.variable(key);
    if (v instanceof WippyError) return v;
    const value = this.storages.get(v.storage)?.get(v.name) ?? v.default;
    return value ?? new WippyError(`env variable not found: ${key} (no value in ${v.storage})`, 'NotFound', false);
  }

  set(key: string, value: string): true | WippyError {
    const v = this.variable(key);
    if (v instanceof WippyError) return v;
    if (v.readOnly) return new WippyError(`env variable ${key} is read-only`, 'PermissionDenied', false);
    const s = this.storages.get(v.storage);
    if (!s || !s.set(v.name, value)) return new WippyError(`env variable ${key}: storage ${v.storage} is read-only`, 'PermissionDenied', false);
    return true;
  }

  /** Every defined variable that has a value, by name. */
  all(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const v of this.byName.values()) {
      const value = this.storages.get(v.storage)?.get(v.name) ?? v.default;
      if (value !== undefined) out[v.name] = value;
    }
    return out;
  }

  /** Answer one "env" rpc frame: [result, error]. */
  handle(op: string, key: unknown, value: unknown): [unknown, WippyError | undefined] {
    if (op === 'all') return [this.all(), undefined];
    if (typeof key !== 'string') return [undefined, new WippyError('env: key must be a string', 'Invalid', false)];
    const r = op === 'get' ? this.get(key) : op === 'set' ? this.set(key, String(value)) : new WippyError(`env: unknown operation ${op}`, 'Invalid', false);
    return r instanceof WippyError ? [undefined, r] : [r, undefined];
  }
}
