// Step 3 of the entry pipeline (schema.ts): the zod schema of every entry kind that has one —
// hosts, Lua, services, fs directories, WASM, policies (and env.*, from env.ts). A schema checks
// field types and applies defaults; validateEntry (schema.ts) picks the kind's schema, runs it and
// turns zod's issues into problems with the field's path and line.
import os from 'node:os';
import { z } from 'zod';
import { CONTROL_HOST } from '../wire/spec.js';
import { ENV_SCHEMAS } from './env.js';
import { unknownModule } from './modules.js';
import { parseDuration } from './values.js';

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
export const lifecycleSchema = block(
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
export const KIND_SCHEMAS: Record<string, z.ZodType> = {
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
export const LIFECYCLE_IN_SCHEMA = new Set(['process.host', 'terminal.host', 'process.service']);

