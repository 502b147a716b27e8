// One entry at a time: how a raw registry entry (as written in YAML or given in code) becomes a
// typed `Entry`.
//
// Size: ~710 lines, over 500 because the pipeline below and the zod schemas of every kind are
// one unit: the schemas use the pipeline's helpers (durations, qualified refs, report paths and
// lines), and the pipeline's last step is choosing a kind's schema. The schemas alone (the second
// half) could move to a file of their own; that split has not been made.
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
//                         Kinds without a schema are kept as plain `Entry` data.
//
// Cross-entry checks (does the import exist, is the host a host) need the whole set of entries and
// live in registry.ts. Nothing here touches the filesystem except reading `file://` targets; that
// read is synchronous because `createRegistry` is synchronous and this is a cold, startup-only path.
//
// Size: over 500 lines because it holds the zod schema of every entry kind (hosts, Lua, services,
// WASM, policies, env, ...) beside the three steps that apply them; each schema is a few lines.

import { readFileSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import type { Entry, EntryId, EntryOrigin } from './types.js';
import { ENV_SCHEMAS, qualifyEnvRefs } from './env.js';
import { unknownModule } from './modules.js';
import { unknownKind } from './kinds.js';

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

/** The supervisor's own watcher host; services may not be placed on it. */
export const CONTROL_HOST = 'node:control';

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

/** A value quoted in a problem, cut to 80 characters (a field may hold a 10 MB string). */
export function cut(s: string, max = 80): string {
  return s.length > max ? `${s.slice(0, max - 3)}...` : s;
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}

// Go-style durations, as the reference writes them in YAML: "10s", "500ms", "1m30s", "2.5s".
const DURATION_UNIT_MS: Record<string, number> = {
  ns: 1e-6, us: 1e-3, 'µs': 1e-3, 'μs': 1e-3, ms: 1, s: 1_000, m: 60_000, h: 3_600_000,
};
const DURATION_PART = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/y;

/**
 * Parses a duration to milliseconds. Strings need a unit (`"10s"`, `"1h30m"`); the only bare
 * number accepted is 0, because a bare `10` is ambiguous (the Lua `time` module reads it as
 * nanoseconds, a reader of YAML would guess seconds) and guessing wrong is silent.
 */
export function parseDuration(v: unknown): number {
  if (v === 0 || v === '0') return 0;
  if (typeof v === 'number') throw new Error(`duration ${v} needs a unit, e.g. "${v}s" or "${v}ms"`);
  if (typeof v !== 'string' || v === '') throw new Error('expected a duration like "10s" or "500ms"');
  let ms = 0;
  DURATION_PART.lastIndex = 0;
  while (DURATION_PART.lastIndex < v.length) {
    const start = DURATION_PART.lastIndex;
    const m = DURATION_PART.exec(v);
    if (!m || m.index !== start) throw new Error(`invalid duration "${cut(v)}" (expected e.g. "10s", "500ms", "1m30s")`);
    ms += Number(m[1]) * DURATION_UNIT_MS[m[2]!]!;
  }
  return ms;
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
// Step 3: per-kind schemas
// ---------------------------------------------------------------------------------------------

// YAML writes an empty block (`lifecycle:`) as null; treat it like an absent key.
const block = <T extends z.ZodType>(schema: T) => z.preprocess((v) => v ?? {}, schema);
const list = <T extends z.ZodType>(item: T) => z.preprocess((v) => v ?? [], z.array(item));
const text = () => z.string().min(1, 'must not be empty');
const oneOf = <const T extends readonly [string, ...string[]]>(values: T) =>
  z.enum(values, {
    error: (iss) => (iss.input === undefined ? 'is required' : `must be one of ${values.map((v) => `"${v}"`).join(', ')}`),
  });

const duration = z.unknown().transform((v, ctx) => {
  try {
    return parseDuration(v);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
    return z.NEVER;
  }
});
const optDuration = (defaultMs: number) =>
  z.preprocess((v) => v ?? undefined, duration.optional()).transform((v) => v ?? defaultMs);

/** `host.stall_timeout` default (worker stall recovery, src/runtime/recovery.ts). */
export const DEFAULT_STALL_TIMEOUT_MS = 30_000;

const positiveInt = (message: string) =>
  z.number().int('must be an integer').refine((n) => n > 0, message);

/** `lifecycle.restart`; defaults are the reference implementation's. */
const restartSchema = block(
  z.object({
    initial_delay: optDuration(1_000),
    max_delay: optDuration(90_000),
    backoff_factor: z.number().refine((n) => n >= 1, 'backoff_factor must be at least 1').default(2.0),
    jitter: z.number().refine((n) => n >= 0 && n <= 1, 'jitter must be between 0 and 1').default(0.1),
    max_attempts: z.number().int('must be an integer').min(0, 'max_attempts must be 0 (unlimited) or more').default(0),
  }),
)
  .refine((r) => r.initial_delay <= r.max_delay, { message: 'initial_delay must not exceed max_delay', path: ['initial_delay'] })
  .transform((r) => ({
    initialDelayMs: r.initial_delay,
    maxDelayMs: r.max_delay,
    backoffFactor: r.backoff_factor,
    jitter: r.jitter,
    maxAttempts: r.max_attempts,
  }));

const securityContextSchema = z.object({
  actor: z.object({ id: text(), meta: z.record(z.string(), z.unknown()).optional() }).optional(),
  groups: list(z.string()).optional(),
  policies: list(z.string()).optional(),
});

/** The `lifecycle` block shared by hosts, services and any other kind that has one. */
const lifecycleSchema = block(
  z.object({
    auto_start: z.boolean().default(false),
    startup: z.preprocess((v) => v ?? 'required', oneOf(['required', 'optional'])),
    start_timeout: optDuration(10_000),
    stop_timeout: optDuration(10_000),
    stable_threshold: optDuration(5_000),
    requires: list(text()),
    depends_on: list(text()),
    restart: restartSchema,
    security: z.preprocess((v) => v ?? undefined, securityContextSchema.optional()),
  }),
).transform((l) => ({
  autoStart: l.auto_start,
  startup: l.startup,
  startTimeoutMs: l.start_timeout,
  stopTimeoutMs: l.stop_timeout,
  stableThresholdMs: l.stable_threshold,
  // `depends_on` is the legacy spelling of `requires`; both may appear, and they are merged.
  requires: [...new Set([...l.requires, ...l.depends_on])],
  restart: l.restart,
  ...(l.security !== undefined ? { security: l.security } : {}),
}));

const processHostSchema = z
  .object({
    host: block(
      z.object({
        workers: positiveInt('workers must be greater than 0').default(() => os.availableParallelism()),
        // Run-queue capacities (src/scheduler/tasks.ts), rounded up to a power of two (min 2).
        // A worker's own queue holding local_queue_size spawns counts as saturated and is shared
        // with idle siblings (src/host/placement.ts): 1024 keeps a group of ~1,000 processes
        // spawned by one process on one worker.
        queue_size: positiveInt('queue size must be greater than 0').pipe(z.number().max(1 << 20, 'queue size must be at most 1048576')).default(1024),
        local_queue_size: positiveInt('local queue size must be greater than 0').pipe(z.number().max(1 << 16, 'local queue size must be at most 65536')).default(1024),
        // Lua VM instructions a process may run between two yields before it is killed
        // (0 = no limit). 100M is about a second of pure Lua on these machines (~120M instr/s).
        max_reductions: z.number().int().min(0).default(100_000_000),
        // Cap on each worker's Lua heap in MiB (0 = none); the process allocating when it is
        // passed is killed. wasm memory itself stops at 2 GiB.
        max_memory_mb: z.number().int().min(0).default(1024),
        // A worker inside one kernel step for this long is terminated and replaced; its
        // processes exit with "worker stalled: ..." (src/runtime/recovery.ts). 30s is far above
        // any step the reduction budget allows (100M instructions, about a second) and short
        // enough that a pathological C call does not hold a worker for good.
        stall_timeout: optDuration(DEFAULT_STALL_TIMEOUT_MS).refine((ms) => ms > 0, 'stall timeout must be greater than 0'),
        // Unread messages a process may hold (0 = no limit); one more kills it with "mailbox
        // overflow" (docs/process-model.md). 100,000 small messages are ~30 MB of Lua heap (293
        // bytes each, measured), well under max_memory_mb, so the bound trips before the heap cap
        // blames whichever process happens to allocate. `npm run stress` stays under a quarter of it (a sink never holds
        // more than all it receives, ~23,500); the fan-in bench opts out (bench/harness.ts).
        max_mailbox: z.number().int('must be an integer').min(0, 'max_mailbox must be 0 (unlimited) or more').default(100_000),
        // Log a crash report for a process that fails with nobody watching it.
        crash_reports: z.boolean().default(true),
      }),
    ),
    lifecycle: lifecycleSchema,
  })
  .transform((e) => ({
    host: { workers: e.host.workers, queueSize: e.host.queue_size, localQueueSize: e.host.local_queue_size, maxReductions: e.host.max_reductions, maxMemoryMb: e.host.max_memory_mb, stallTimeoutMs: e.host.stall_timeout,
      maxMailbox: e.host.max_mailbox, crashReports: e.host.crash_reports },
    autoStart: e.lifecycle.autoStart,
  }));

/** A terminal host runs one CLI process at a time: a fixed single worker, default queues. */
const terminalHostSchema = z
  .object({ hide_logs: z.boolean().default(false), lifecycle: lifecycleSchema })
  .transform((e) => ({
    host: { workers: 1, queueSize: 1024, localQueueSize: 256, maxReductions: 0, maxMemoryMb: 1024, stallTimeoutMs: DEFAULT_STALL_TIMEOUT_MS, maxMailbox: 100_000, crashReports: true },
    autoStart: e.lifecycle.autoStart,
    hideLogs: e.hide_logs,
  }));

const moduleName = text().refine((m) => !m.includes(':'), 'modules lists built-in module names; registry entries belong in imports')
  .superRefine((m, ctx) => { const bad = m.includes(':') ? undefined : unknownModule(m); if (bad) ctx.addIssue({ code: 'custom', message: bad }); });
const luaCommon = {
  source: z.string({ error: (iss) => (iss.input === undefined ? 'is required (inline Lua or file://path.lua)' : undefined) })
    .min(1, 'must not be empty'),
  modules: list(moduleName),
  imports: z.preprocess((v) => v ?? {}, z.record(z.string(), text())),
};
const luaRunnableSchema = z.object({ ...luaCommon, method: text() });
const luaLibrarySchema = z.object({ ...luaCommon, method: text().optional() });

const serviceSchema = z.object({
  process: text(),
  host: text().refine((h) => h !== CONTROL_HOST, `${CONTROL_HOST} is the supervisor's internal host and cannot run services`),
  input: list(z.unknown()),
  lifecycle: lifecycleSchema,
});

const fsDirectorySchema = z.object({
  directory: text(),
  auto_init: z.boolean().default(false),
  mode: z.union([z.string(), z.number()], { error: 'must be a string such as "0755"' }).optional(),
});

const absolutePath = text().refine((p) => p.startsWith('/'), 'must be an absolute path');
// WebAssembly kinds (process.wasm, function.wasm, function.wat): fields and defaults are documented
// in docs/wasm.md; the typed shape is WasmEntry in types.ts. `memory` is bytes, or a size string.
const SIZE_UNIT: Record<string, number> = { '': 1, b: 1, k: 1024, kb: 1000, kib: 1024, m: 1 << 20, mb: 1e6, mib: 1 << 20, g: 1 << 30, gb: 1e9, gib: 1 << 30 };
const byteSize = z.union([z.number(), z.string()]).transform((v, ctx) => {
  const m = typeof v === 'number' ? [String(v), String(v), ''] : /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(v);
  const unit = m ? SIZE_UNIT[m[2]!.toLowerCase()] : undefined;
  if (!m || unit === undefined || !(Number(m[1]) > 0)) {
    ctx.addIssue({ code: 'custom', message: 'must be a positive size in bytes, or a string such as "64MiB"' });
    return z.NEVER;
  }
  return Math.floor(Number(m[1]) * unit);
});
const wasmPoolSchema = block(
  z.object({
    type: oneOf(['inline', 'lazy', 'static', 'adaptive']).optional(),
    size: positiveInt('size must be greater than 0').optional(),
    workers: positiveInt('workers must be greater than 0').optional(),
    buffer: positiveInt('buffer must be greater than 0').optional(),
    max_size: positiveInt('max_size must be greater than 0').optional(),
    worker_class: text().optional(),
  }),
);
const wasmCommon = {
  method: text(),
  wit: z.string().optional(),
  transport: z.preprocess((v) => v ?? 'payload', oneOf(['payload', 'wasi-http'])),
  imports: list(text()),
  wasi: z
    .preprocess(
      (v) => v ?? undefined,
      z.object({
        args: list(z.string()),
        cwd: absolutePath.optional(),
        env: list(z.object({ id: text(), name: text(), required: z.boolean().default(false) })),
        mounts: list(z.object({ fs: text(), guest: absolutePath, read_only: z.boolean().default(false) }))
          .refine((ms) => new Set(ms.map((m) => m.guest)).size === ms.length, 'mount guest paths must be unique'),
      }).optional(),
    ),
  limits: block(z.object({
    max_execution_ms: z.number().min(0, 'max_execution_ms must be 0 or more').optional(),
    memory: z.preprocess((v) => v ?? undefined, byteSize.optional()),
  })),
  // process.wasm accepts `pool` (shared config with function.wasm) and ignores it.
  pool: wasmPoolSchema,
};
const wasmBinary = {
  fs: text(),
  path: text(),
  hash: z.string({ error: (iss) => (iss.input === undefined ? 'is required ("sha256:" followed by 64 hex digits)' : undefined) })
    .regex(/^sha256:[0-9a-fA-F]{64}$/, 'must be "sha256:" followed by 64 hex digits'),
};
const wasmSchema = z.object({ ...wasmBinary, ...wasmCommon });
const watSchema = z.object({
  source: z.string({ error: (iss) => (iss.input === undefined ? 'is required (inline WAT or file://path.wat)' : 'must be WAT text (inline or file://)') })
    .min(1, 'must not be empty'),
  ...wasmCommon,
});

const CONDITION_OPERATORS = [
  'eq', 'ne', 'lt', 'gt', 'lte', 'gte', 'in', 'nin', 'exists', 'nexists', 'contains', 'ncontains', 'matches', 'nmatches',
] as const;
const patterns = z
  .union([z.string(), z.array(z.string())], {
    error: (iss) => (iss.input === undefined ? 'is required' : 'must be a string or a list of strings'),
  })
  .transform((v) => (typeof v === 'string' ? [v] : v));
const conditionSchema = z
  .object({
    field: text(),
    operator: oneOf(CONDITION_OPERATORS),
    value: z.unknown().optional(),
    value_from: text().optional(),
  })
  .superRefine((c, ctx) => {
    const unary = c.operator === 'exists' || c.operator === 'nexists';
    if (c.value !== undefined && c.value_from !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['value_from'], message: 'give either value or value_from, not both' });
    } else if (!unary && c.value === undefined && c.value_from === undefined) {
      ctx.addIssue({ code: 'custom', path: ['value'], message: `operator ${c.operator} needs value or value_from` });
    }
  });
const policyCore = { actions: patterns, resources: patterns, effect: oneOf(['allow', 'deny']) };
const policySchema = z.object({
  policy: z.object({ ...policyCore, conditions: list(conditionSchema) }),
  groups: list(text()),
});
const policyExprSchema = z.object({
  policy: z.object({ ...policyCore, expression: text() }),
  groups: list(text()),
});

const registryEntrySchema = z.object({}).loose();

/** Kinds with a schema; everything else is kept as plain data. */
const KIND_SCHEMAS: Record<string, z.ZodType> = {
  'process.host': processHostSchema,
  'terminal.host': terminalHostSchema,
  'process.lua': luaRunnableSchema,
  'function.lua': luaRunnableSchema,
  'library.lua': luaLibrarySchema,
  'registry.entry': registryEntrySchema,
  'process.service': serviceSchema,
  'fs.directory': fsDirectorySchema,
  'process.wasm': wasmSchema,
  'function.wasm': wasmSchema,
  'function.wat': watSchema,
  'security.policy': policySchema,
  'security.policy.expr': policyExprSchema,
  ...ENV_SCHEMAS, // env.storage.* and env.variable (env.ts)
};

/** Kinds whose `lifecycle` block is validated by their own schema; others get the generic check. */
const LIFECYCLE_IN_SCHEMA = new Set(['process.host', 'terminal.host', 'process.service']);

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
