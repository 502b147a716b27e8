// The registry's data model: what a loaded app is, independent of where it came from (YAML files
// or entries given in code). Everything downstream (hosts, workers, the CLI) reads only these types.

/** A fully-qualified entry id, `namespace:name`. */
export type EntryId = string;

/** Where an entry was declared, for error messages. */
export interface EntryOrigin {
  /** Absolute path of the YAML file, or `<code>` for entries given programmatically. */
  file: string;
  /** 1-based line of the entry in that file, when the YAML parser gives it. */
  line?: number;
}

/** One registry entry. Kind-specific fields stay at the top level, exactly as written in YAML. */
export interface Entry {
  id: EntryId;
  namespace: string;
  name: string;
  kind: string;
  meta: Record<string, unknown>;
  origin: EntryOrigin;
  /** All other fields, with `file://` strings already resolved (see `source`). */
  data: Record<string, unknown>;
  /**
   * Data fields whose value was inlined from a `file://` reference: field path (`source`,
   * `wasi.args[0]`) -> absolute path of the file. Absent when nothing was inlined.
   */
  files?: Record<string, string>;
}

/** A Lua entry (`process.lua`, `function.lua`, `library.lua`) after validation. */
export interface LuaEntry extends Entry {
  kind: 'process.lua' | 'function.lua' | 'library.lua';
  /** The Lua source text (inlined from `file://`). */
  source: string;
  /** `source` compiled to plain Lua 5.4 (typed-Lua annotations erased), every line where it was. */
  lua: string;
  /** Absolute path of the source file, when it came from `file://` (used by upgrade to re-read). */
  sourcePath?: string;
  /** Exported function to run; undefined for libraries. */
  method?: string;
  /** Built-in modules `require` may load (names only). */
  modules: string[];
  /** alias -> fully-qualified entry id of a `library.lua` (already resolved against the namespace). */
  imports: Record<string, EntryId>;
}

export interface ProcessHostConfig {
  workers: number;
  queueSize: number;
  localQueueSize: number;
  /** Lua instructions a process may run without yielding before it is killed; 0 = unlimited. */
  maxReductions: number;
  /** Cap on each worker's Lua heap in MiB; 0 = none. */
  maxMemoryMb: number;
  /** A worker inside one step this long is terminated and replaced (`host.stall_timeout`). */
  stallTimeoutMs: number;
  /** Unread messages a process may hold before it is killed ("mailbox overflow"); 0 = unlimited. */
  maxMailbox: number;
  /** Log a crash report for an error exit nobody watches (default true). */
  crashReports: boolean;
}

export interface HostEntry extends Entry {
  kind: 'process.host' | 'terminal.host';
  host: ProcessHostConfig;
  autoStart: boolean;
  /** `terminal.host` only: suppress runtime log output while the command runs. */
  hideLogs?: boolean;
}

export interface RestartPolicy {
  initialDelayMs: number;
  maxDelayMs: number;
  backoffFactor: number;
  jitter: number;
  maxAttempts: number;
}

export interface ServiceEntry extends Entry {
  kind: 'process.service';
  process: EntryId;
  host: EntryId;
  input: unknown[];
  lifecycle: {
    autoStart: boolean;
    startup: 'required' | 'optional';
    startTimeoutMs: number;
    stopTimeoutMs: number;
    stableThresholdMs: number;
    requires: EntryId[];
    restart: RestartPolicy;
    security?: unknown;
  };
}

/** Errors found while loading; each names file, line, entry and field where known. */
export interface RegistryProblem {
  /** Path relative to the app root (as shown in messages), or `<code>`. */
  file: string;
  line?: number;
  entry?: EntryId;
  field?: string;
  message: string;
}

/** `fs.directory`: a directory on the host filesystem. */
export interface FsDirectoryEntry extends Entry {
  kind: 'fs.directory';
  /** Absolute path (the YAML value is relative to the app root). */
  directory: string;
  autoInit: boolean;
  mode?: string;
}

export interface WasiConfig {
  args: string[];
  cwd?: string;
  env: Array<{ id: EntryId; name: string; required: boolean }>;
  mounts: Array<{ fs: EntryId; guest: string; readOnly: boolean }>;
}

/** `pool` of a WebAssembly function (ignored for process.wasm); absent fields take defaults. */
export interface WasmPoolConfig {
  type?: 'inline' | 'lazy' | 'static' | 'adaptive';
  size?: number;
  workers?: number;
  buffer?: number;
  maxSize?: number;
  workerClass?: string;
}

/** Fields shared by `process.wasm`, `function.wasm` and `function.wat` (docs/wasm.md). */
export interface WasmEntryBase extends Entry {
  /** Exported function to call; `iface#func` names a function of an exported interface. */
  method: string;
  /** Signature for core (non-component) modules, e.g. `compute: func(a: s32, b: s32) -> s32;`. */
  wit?: string;
  transport: 'payload' | 'wasi-http';
  /** Host capability groups (`wasi:clocks`, ...), not registry entries. */
  imports: string[];
  wasi?: WasiConfig;
  limits: { maxExecutionMs?: number; memoryBytes?: number };
  pool: WasmPoolConfig;
}

/** `process.wasm` / `function.wasm`: a binary read from an fs.directory entry. */
export interface WasmBinaryEntry extends WasmEntryBase {
  kind: 'process.wasm' | 'function.wasm';
  /** Id of the fs entry holding the binary. */
  fs: EntryId;
  /** Path of the binary inside that fs. */
  path: string;
  /** `sha256:<64 hex>` (lower case), verified before the binary is compiled. */
  hash: string;
}

/** `function.wat`: WebAssembly text, inline or from `file://`. */
export interface WatEntry extends WasmEntryBase {
  kind: 'function.wat';
  source: string;
  sourcePath?: string;
}

export type WasmEntry = WasmBinaryEntry | WatEntry;
/** `process.wasm`: a WebAssembly function run as a process. */
export type WasmProcessEntry = WasmBinaryEntry & { kind: 'process.wasm' };

export interface PolicyCondition {
  field: string;
  operator: string;
  value?: unknown;
  valueFrom?: string;
}

/** `security.policy` / `security.policy.expr`, normalised: patterns are always lists. */
export interface PolicyEntry extends Entry {
  kind: 'security.policy' | 'security.policy.expr';
  policy: {
    actions: string[];
    resources: string[];
    effect: 'allow' | 'deny';
    conditions: PolicyCondition[];
    expression?: string;
  };
  /** Group ids this policy belongs to (bare names qualified with the entry's namespace). */
  groups: EntryId[];
}

/** The merged runtime configuration (`.wippy.yaml` plus extra config files, later wins). */
export interface AppConfig {
  security?: { strict_mode?: boolean; [key: string]: unknown };
  [section: string]: unknown;
}
