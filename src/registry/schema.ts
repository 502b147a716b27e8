// One entry at a time: how a raw registry entry (as written in YAML or given in code) becomes a
// typed `Entry`.
//
// The pipeline for each entry is fixed: two checks and three steps, each of which only *reports*
// problems (it never throws), so that a whole app can be checked in one pass and every mistake
// listed:
//
//   0. two typo checks: a kind that is a typo of a known one (kinds.ts), and a Lua / WAT `source`
//      that is a bare file name (`hello.lua`, meant as `file://hello.lua`); both with a did-you-mean.
//   1. `resolveFiles`   — every `file://` string in the entry's data is replaced by the file's
//                         contents. `file://rel` is relative to the declaring YAML file,
//                         `file:///abs` to the app root, and a path that climbs out of the app root
//                         is rejected. Inlined fields are remembered in `Entry.files`.
//   2. `qualifyRefs`    — references that may be written as a bare `name` (imports, service
//                         process/host, lifecycle requires, wasm fs, policy groups) are rewritten to
//                         `namespace:name` of the declaring entry, in `data` itself, so the typed
//                         fields and `data` never disagree.
//   3. `validateEntry`  — the kind's zod schema checks field types and applies defaults, producing
//                         the typed shape from types.ts (LuaEntry, HostEntry, ServiceEntry, ...).
//                         Kinds without a schema are kept as plain `Entry` data. The schemas
//                         live in kind-schemas.ts; turning zod's issues into problems, here.
//
// Cross-entry checks (does the import exist, is the host a host) need the whole set of entries and
// live in registry.ts. Nothing here touches the filesystem except reading `file://` targets; that
// read is synchronous because `createRegistry` is synchronous and this is a cold, startup-only path.
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import type { Entry, EntryId, EntryOrigin } from './types.js';
import { qualifyEnvRefs } from './env.js';
import { unknownKind } from './kinds.js';
import { KIND_SCHEMAS, LIFECYCLE_IN_SCHEMA, lifecycleSchema } from './kind-schemas.js';
import { cut, isPlainObject } from './values.js';

export { cut, isPlainObject, parseDuration } from './values.js';
export { DEFAULT_STALL_TIMEOUT_MS } from './kind-schemas.js';
export { CONTROL_HOST } from '../wire/spec.js';

/** An entry before validation: what the loader (or `createRegistry`) read, nothing resolved yet. */
export interface RawEntry {
  namespace: string;
  name: string;
  kind: string;
  meta: Record<string, unknown>;
  /** Every field except name/kind/meta, as written. Mutated in place by steps 1 and 2. */
  data: Record<string, unknown>;
  origin: EntryOrigin;
  /** Field path (`host.workers`, `imports.util`, `input[0]`) -> 1-based line; empty for code. */
  lines: Map<string, number>;
}

/** Receives one problem about the entry being processed; the caller adds file, line and id. */
export type ReportFn = (field: string | undefined, message: string) => void;

export const LUA_KINDS = ['process.lua', 'function.lua', 'library.lua'] as const;
/** Kinds a `process.service` may supervise. */
export const PROCESS_KINDS = ['process.lua', 'process.lua.bc', 'process.wasm'] as const;
export const WASM_KINDS = ['process.wasm', 'function.wasm', 'function.wat'] as const;
export const HOST_KINDS = ['process.host', 'terminal.host'] as const;
export const POLICY_KINDS = ['security.policy', 'security.policy.expr'] as const;

// ---------------------------------------------------------------------------------------------
// Small shared helpers
// ---------------------------------------------------------------------------------------------

/** `name` -> `namespace:name`; a reference that already has a namespace is returned unchanged. */
export function qualify(ref: string, namespace: string): EntryId {
  return ref.includes(':') ? ref : `${namespace}:${ref}`;
}

/** Formats a path of keys and indexes the way problems name fields: `a.b[0].c`. */
export function fieldPath(parts: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const p of parts) {
    if (typeof p === 'number') out += `[${p}]`;
    else out += out === '' ? String(p) : `.${String(p)}`;
  }
  return out;
}

/** The line of the most specific part of `field` the parser recorded, else the entry's line. */
export function lineOf(raw: RawEntry, field: string | undefined): number | undefined {
  let f = field;
  while (f) {
    const line = raw.lines.get(f);
    if (line !== undefined) return line;
    const cut = Math.max(f.lastIndexOf('.'), f.lastIndexOf('['));
    f = cut > 0 ? f.slice(0, cut) : '';
  }
  return raw.origin.line;
}

// ---------------------------------------------------------------------------------------------
// Step 1: file:// resolution
// ---------------------------------------------------------------------------------------------

const FILE_PREFIX = 'file://';

/**
 * Replaces every `file://` string in `raw.data` (recursively) by the target file's contents and
 * returns field path -> absolute path for what was inlined. Text is decoded as UTF-8; a file with
 * a NUL byte in its first 8 KiB is treated as binary and inlined as a `Uint8Array`.
 */
export function resolveFiles(raw: RawEntry, root: string, report: ReportFn): Record<string, string> {
  const files: Record<string, string> = {};
  const baseDir = raw.origin.file.startsWith('<') ? root : path.dirname(raw.origin.file);

  const visit = (value: unknown, parts: Array<string | number>): unknown => {
    if (typeof value === 'string') {
      if (!value.startsWith(FILE_PREFIX)) return value;
      const field = fieldPath(parts);
      const target = resolveFileUrl(value, baseDir, root);
      if (typeof target !== 'string') {
        report(field, target.error);
        return value;
      }
      const shown = path.relative(root, target);
      let isFile = false;
      try { isFile = statSync(target).isFile(); } catch { /* reported below */ }
      if (!isFile) {
        report(field, `file not found: ${cut(shown)} (from "${cut(value)}")`);
        return value;
      }
      files[field] = target;
      return decodeFile(readFileSync(target));
    }
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) value[i] = visit(value[i], [...parts, i]);
      return value;
    }
    if (isPlainObject(value)) {
      for (const k of Object.keys(value)) value[k] = visit(value[k], [...parts, k]);
    }
    return value;
  };
  for (const k of Object.keys(raw.data)) raw.data[k] = visit(raw.data[k], [k]);
  return files;
}

function resolveFileUrl(url: string, baseDir: string, root: string): string | { error: string } {
  const rest = url.slice(FILE_PREFIX.length);
  if (rest === '' || rest === '/') return { error: `empty file reference "${url}"` };
  // `file:///x` is anchored at the app root, not the host filesystem root: apps stay relocatable.
  const target = rest.startsWith('/') ? path.resolve(root, '.' + rest) : path.resolve(baseDir, rest);
  const rel = path.relative(root, target);
  if (rel.startsWith('..') || path.isAbsolute(rel)) {
    return { error: `"${cut(url)}" points outside the app root (${cut(target)}); file:// paths may not escape it with ..` };
  }
  return target;
}

/**
 * A Lua or WAT `source` that is only a file name (`hello.lua`, `lib/util.lua`) was meant as a
 * file reference: inline, it would fail at run time as a Lua syntax error. -> the problem, or
 * undefined.
 */
function bareSourceFile(raw: RawEntry): string | undefined {
  const src = raw.data.source;
  const ext = raw.kind === 'function.wat' ? 'wat' : (LUA_KINDS as readonly string[]).includes(raw.kind) ? 'lua' : undefined;
  if (ext === undefined || typeof src !== 'string') return undefined;
  const name = src.trim();
  if (!new RegExp(`^[\\w./-]+\\.${ext}$`).test(name)) return undefined;
  return `"${cut(name)}" is a file name, not ${ext === 'lua' ? 'Lua' : 'WAT'} source (did you mean "file://${cut(name.replace(/^\.\//, ''))}"?)`;
}

function decodeFile(buf: Buffer): string | Uint8Array {
  if (buf.subarray(0, 8192).includes(0)) return new Uint8Array(buf);
  const text = buf.toString('utf8');
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

// ---------------------------------------------------------------------------------------------
// Step 2: bare-name references
// ---------------------------------------------------------------------------------------------

/** Rewrites bare-name references in `raw.data` to `namespace:name`. Wrong types are left for zod. */
export function qualifyRefs(raw: RawEntry): void {
  const ns = raw.namespace;
  const d = raw.data;
  const q = (v: unknown): unknown => (typeof v === 'string' && v !== '' ? qualify(v, ns) : v);
  const qList = (v: unknown): unknown => (Array.isArray(v) ? v.map(q) : v);

  const lifecycle = d.lifecycle;
  if (isPlainObject(lifecycle)) {
    lifecycle.requires = qList(lifecycle.requires);
    lifecycle.depends_on = qList(lifecycle.depends_on);
    if (lifecycle.requires === undefined) delete lifecycle.requires;
    if (lifecycle.depends_on === undefined) delete lifecycle.depends_on;
    const sec = lifecycle.security;
    if (isPlainObject(sec)) {
      if (sec.groups !== undefined) sec.groups = qList(sec.groups);
      if (sec.policies !== undefined) sec.policies = qList(sec.policies);
    }
  }

  switch (raw.kind) {
    case 'process.lua':
    case 'function.lua':
    case 'library.lua':
      if (isPlainObject(d.imports)) {
        for (const alias of Object.keys(d.imports)) d.imports[alias] = q(d.imports[alias]);
      }
      break;
    case 'process.service':
      d.process = q(d.process);
      // `node:control` already has a namespace and is rejected by the schema, not rewritten.
      d.host = q(d.host);
      break;
    case 'process.wasm':
    case 'function.wasm':
    case 'function.wat':
      if (d.fs !== undefined) d.fs = q(d.fs);
      if (isPlainObject(d.wasi)) {
        for (const m of Array.isArray(d.wasi.mounts) ? d.wasi.mounts : []) if (isPlainObject(m)) m.fs = q(m.fs);
        for (const e of Array.isArray(d.wasi.env) ? d.wasi.env : []) if (isPlainObject(e)) e.id = q(e.id);
      }
      break;
    case 'security.policy':
    case 'security.policy.expr':
      if (d.groups !== undefined) d.groups = qList(d.groups);
      break;
    default:
      if (raw.kind.startsWith('env.')) qualifyEnvRefs(raw);
  }
}

// ---------------------------------------------------------------------------------------------
// Step 3: the kind's schema (kind-schemas.ts), its issues as problems
// ---------------------------------------------------------------------------------------------

/** Turns a zod issue into the wording problems use ("is required", "expected a list, got a map"). */
function issueMessage(issue: z.core.$ZodIssue): string {
  const msg = issue.message;
  if (issue.code === 'invalid_type') {
    if (/received undefined$/.test(msg)) return 'is required';
    if (issue.expected === 'int') return 'must be an integer';
    const m = /expected (\w+), received (\w+)/.exec(msg);
    if (m) return `expected ${typeName(m[1]!)}, got ${typeName(m[2]!)}`;
  }
  if (issue.code === 'invalid_value') return `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
  return msg.replace(/^Invalid input: /, '');
}

function typeName(t: string): string {
  switch (t) {
    case 'object': case 'record': case 'map': return 'a map';
    case 'array': return 'a list';
    case 'string': return 'a string';
    case 'number': return 'a number';
    case 'boolean': return 'a boolean';
    case 'null': return 'nothing (null)';
    default: return t;
  }
}

function parseWith(schema: z.ZodType, input: unknown, prefix: ReadonlyArray<PropertyKey>, report: ReportFn): unknown {
  const r = schema.safeParse(input);
  if (r.success) return r.data;
  for (const issue of r.error.issues) report(fieldPath([...prefix, ...issue.path]) || undefined, issueMessage(issue));
  return undefined;
}

/**
 * Runs all three steps on one raw entry. Returns the typed entry, or undefined when a problem
 * was reported (the caller collects problems and fails the whole load).
 */
export function validateEntry(raw: RawEntry, root: string, report: ReportFn): Entry | undefined {
  let failed = false;
  const note: ReportFn = (field, message) => {
    failed = true;
    report(field, message);
  };

  const badKind = unknownKind(raw.kind, Object.keys(KIND_SCHEMAS));
  if (badKind) {
    note('kind', badKind);
    return undefined;
  }
  const bareFile = bareSourceFile(raw);
  if (bareFile) note('source', bareFile);
  const files = resolveFiles(raw, root, note);
  qualifyRefs(raw);

  const cmd = raw.meta.command;
  if (cmd !== undefined && !(isPlainObject(cmd) && typeof cmd.name === 'string' && cmd.name !== '')) {
    note('meta.command', 'must be a map with a non-empty name (and optional short)');
  }

  const base: Entry = {
    id: `${raw.namespace}:${raw.name}`,
    namespace: raw.namespace,
    name: raw.name,
    kind: raw.kind,
    meta: raw.meta,
    origin: raw.origin,
    data: raw.data,
    ...(Object.keys(files).length > 0 ? { files } : {}),
  };

  const schema = KIND_SCHEMAS[raw.kind];
  if (!LIFECYCLE_IN_SCHEMA.has(raw.kind) && raw.data.lifecycle !== undefined) {
    parseWith(lifecycleSchema, raw.data.lifecycle, ['lifecycle'], note);
  }
  if (!schema) return failed ? undefined : base;

  const parsed = parseWith(schema, raw.data, [], note) as Record<string, unknown> | undefined;
  if (failed || parsed === undefined) return undefined;
  return typedEntry(base, parsed, files, root);
}

/** Maps a kind's parsed (snake_case, defaulted) fields onto its typed shape from types.ts. */
function typedEntry(base: Entry, p: Record<string, unknown>, files: Record<string, string>, root: string): Entry {
  switch (base.kind) {
    case 'process.host':
    case 'terminal.host':
      return { ...base, ...p };
    case 'process.lua':
    case 'function.lua':
    case 'library.lua':
      return {
        ...base,
        source: p.source,
        ...(files.source !== undefined ? { sourcePath: files.source } : {}),
        ...(p.method !== undefined ? { method: p.method } : {}),
        modules: p.modules,
        imports: p.imports,
      } as Entry;
    case 'process.service':
      return { ...base, process: p.process, host: p.host, input: p.input, lifecycle: p.lifecycle } as Entry;
    case 'fs.directory':
      return {
        ...base,
        // Relative to the app root (the process working directory in the reference), not the YAML file.
        directory: path.resolve(root, p.directory as string),
        autoInit: p.auto_init,
        ...(p.mode !== undefined ? { mode: String(p.mode) } : {}),
      } as Entry;
    case 'process.wasm':
    case 'function.wasm':
    case 'function.wat':
      return typedWasmEntry(base, p, files);
    case 'security.policy':
    case 'security.policy.expr': {
      const pol = p.policy as {
        actions: string[]; resources: string[]; effect: 'allow' | 'deny';
        conditions?: Array<{ field: string; operator: string; value?: unknown; value_from?: string }>; expression?: string;
      };
      return {
        ...base,
        policy: {
          actions: pol.actions,
          resources: pol.resources,
          effect: pol.effect,
          conditions: (pol.conditions ?? []).map((c) => ({
            field: c.field,
            operator: c.operator,
            ...('value' in c && c.value !== undefined ? { value: c.value } : {}),
            ...(c.value_from !== undefined ? { valueFrom: c.value_from } : {}),
          })),
          ...(pol.expression !== undefined ? { expression: pol.expression } : {}),
        },
        groups: p.groups,
      } as Entry;
    }
    default:
      return base;
  }
}

/** process.wasm / function.wasm / function.wat: snake_case fields onto WasmEntry (types.ts). */
function typedWasmEntry(base: Entry, p: Record<string, unknown>, files: Record<string, string>): Entry {
  const w = p.wasi as
    | { args: string[]; cwd?: string; env: Array<{ id: string; name: string; required: boolean }>; mounts: Array<{ fs: string; guest: string; read_only: boolean }> }
    | undefined;
  const limits = p.limits as { max_execution_ms?: number; memory?: number };
  const pool = p.pool as { type?: string; size?: number; workers?: number; buffer?: number; max_size?: number; worker_class?: string };
  return {
    ...base,
    ...(base.kind === 'function.wat'
      ? { source: p.source, ...(files.source !== undefined ? { sourcePath: files.source } : {}) }
      : { fs: p.fs, path: p.path, hash: (p.hash as string).toLowerCase() }),
    method: p.method,
    ...(p.wit !== undefined ? { wit: p.wit } : {}),
    transport: p.transport,
    imports: p.imports,
    ...(w
      ? {
          wasi: {
            args: w.args,
            ...(w.cwd !== undefined ? { cwd: w.cwd } : {}),
            env: w.env,
            mounts: w.mounts.map((m) => ({ fs: m.fs, guest: m.guest, readOnly: m.read_only })),
          },
        }
      : {}),
    limits: {
      ...(limits.max_execution_ms !== undefined ? { maxExecutionMs: limits.max_execution_ms } : {}),
      ...(limits.memory !== undefined ? { memoryBytes: limits.memory } : {}),
    },
    pool: {
      ...(pool.type !== undefined ? { type: pool.type } : {}),
      ...(pool.size !== undefined ? { size: pool.size } : {}),
      ...(pool.workers !== undefined ? { workers: pool.workers } : {}),
      ...(pool.buffer !== undefined ? { buffer: pool.buffer } : {}),
      ...(pool.max_size !== undefined ? { maxSize: pool.max_size } : {}),
      ...(pool.worker_class !== undefined ? { workerClass: pool.worker_class } : {}),
    },
  } as unknown as Entry;
}
