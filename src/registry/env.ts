// The environment entry kinds: where the `env` Lua module's variables come from.
//
//   env.storage.memory   values held in memory, writable; starts empty
//   env.storage.os       the OS environment of the runtime's process (writes set it there)
//   env.storage.static   `values: {NAME: "value"}`, read-only
//   env.storage.file     a dotenv file, `file_path` relative to the app root; `auto_create`
//                        creates it (empty) when missing; writes rewrite the file
//   env.storage.router   `storages: [ids]`, tried in order: the first that has a value answers a
//                        read; a write goes to the first writable storage
//   env.variable         one variable a process may read: `variable` (its name in the storage and
//                        the name `env.get` takes; default: the entry's name), `storage` (an
//                        env.storage.* entry), optional `default` (a string used when the storage
//                        has no value) and `read_only` (default false)
//
// This file owns their schemas (schema.ts lists them with the other kinds), the namespace
// qualification of their references, and the checks that need every entry: a variable's storage
// and a router's storages must be env.storage.* entries, a router may not contain itself, and two
// variables may not share a name (env.get("NAME") must mean one thing).
import { z } from 'zod';
import type { RawEntry } from './schema.js';

// (schema.ts imports this file for the schemas; importing its helpers back would make the two
// modules' evaluation order matter.)
const qualify = (ref: string, ns: string): string => (ref.includes(':') ? ref : `${ns}:${ref}`);
const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export const ENV_STORAGE_KINDS = ['env.storage.memory', 'env.storage.os', 'env.storage.static', 'env.storage.file', 'env.storage.router'] as const;
export const isEnvStorage = (kind: string): boolean => (ENV_STORAGE_KINDS as readonly string[]).includes(kind);

const text = () => z.string().min(1, 'must not be empty');
const none = z.object({});
const scalar = () => z.union([z.string(), z.number(), z.boolean()], { error: 'must be a string (or a number or boolean, kept as text)' }).transform(String);

export const ENV_SCHEMAS: Record<string, z.ZodType> = {
  'env.storage.memory': none,
  'env.storage.os': none,
  'env.storage.static': z.object({ values: z.preprocess((v) => v ?? {}, z.record(z.string(), scalar())) }),
  'env.storage.file': z.object({ file_path: text(), auto_create: z.boolean().default(false) }),
  'env.storage.router': z.object({ storages: z.array(text()).min(1, 'must list at least one storage') }),
  'env.variable': z.object({
    variable: text().optional(),
    storage: text(),
    default: scalar().optional(),
    read_only: z.boolean().default(false),
  }),
};

/** Bare storage names in env entries -> `namespace:name` (step 2 of schema.ts). */
export function qualifyEnvRefs(raw: RawEntry): void {
  const d = raw.data;
  const q = (v: unknown): unknown => (typeof v === 'string' && v !== '' ? qualify(v, raw.namespace) : v);
  if (raw.kind === 'env.variable') d.storage = q(d.storage);
  if (raw.kind === 'env.storage.router' && Array.isArray(d.storages)) d.storages = d.storages.map(q);
}

type Expect = (field: string, ref: unknown, what: string, kinds: (kind: string) => boolean, wanted: string) => void;

/** Cross-entry checks of one env entry (called from registry.ts's checkReferences). */
export function checkEnvReferences(raw: RawEntry, expect: Expect, report: (field: string, message: string) => void): void {
  const id = `${raw.namespace}:${raw.name}`;
  if (raw.kind === 'env.variable') expect('storage', raw.data.storage, 'storage', isEnvStorage, 'an env.storage.* entry');
  if (raw.kind === 'env.storage.router' && Array.isArray(raw.data.storages)) {
    raw.data.storages.forEach((ref, i) => {
      if (ref === id) report(`storages[${i}]`, 'a router cannot contain itself');
      else expect(`storages[${i}]`, ref, 'storage', isEnvStorage, 'an env.storage.* entry');
    });
  }
}

/** The name `env.get` finds a variable entry by. */
export function variableName(data: Record<string, unknown>, entryName: string): string {
  return typeof data.variable === 'string' && data.variable !== '' ? data.variable : entryName;
}

/** Two env.variable entries with one name: report the second, naming the first. */
export function checkEnvNames(declared: Iterable<RawEntry>, report: (raw: RawEntry, field: string, message: string) => void): void {
  const seen = new Map<string, string>();
  for (const raw of declared) {
    if (raw.kind !== 'env.variable' || !isPlainObject(raw.data)) continue;
    const name = variableName(raw.data, raw.name);
    const id = `${raw.namespace}:${raw.name}`;
    const other = seen.get(name);
    if (other) report(raw, 'variable', `env variable ${name} is already defined by ${other}`);
    else seen.set(name, id);
  }
}
