// The loaded registry and the checks that need all entries at once.
//
// `buildRegistry` is the single door every source of entries goes through (the YAML loader and
// `createRegistry` for entries given in code), so both get identical validation:
//
//   1. validate each raw entry on its own (schema.ts: file://, bare names, per-kind schema);
//   2. reject duplicate ids, naming both declarations;
//   3. check references between entries: Lua imports must name `library.lua` entries, a service's
//      process must be a process kind and its host a `process.host`, `requires` must name existing
//      entries without cycles, a wasm `fs` must be an fs entry, command names must be unique;
//   4. if anything was reported, throw one `RegistryError` listing every problem, sorted by file
//      and line; otherwise return an immutable-by-convention `Registry`.
//
// References are checked on the raw data (already namespace-qualified) of every declared entry,
// including entries that failed their own validation: a service with a bad `host` still gets its
// `process` checked. And they are checked against every *declared* id, so one broken entry does not
// also produce "missing entry" noise at each of its users.

import path from 'node:path';
import { compileEntry } from '../dialect/entry.js';
import type { AppConfig, Entry, EntryId, HostEntry, LuaEntry, RegistryProblem, ServiceEntry } from './types.js';
import {
  CONTROL_HOST, HOST_KINDS, LUA_KINDS, POLICY_KINDS, PROCESS_KINDS, cut, isPlainObject, lineOf, validateEntry,
  type RawEntry,
} from './schema.js';
import { checkEnvNames, checkEnvReferences } from './env.js';
import { editDistance } from './near.js';

/** Origin file of entries created with `createRegistry`. */
export const CODE_ORIGIN = '<code>';

/** One line per problem: `file:line: entry <id>: field <f>: message` (missing parts omitted). */
export function formatProblem(p: RegistryProblem): string {
  let out = p.line !== undefined ? `${p.file}:${p.line}` : p.file;
  if (p.entry !== undefined) out += `: entry ${p.entry}`;
  if (p.field !== undefined) out += `: field ${p.field}`;
  return `${out}: ${p.message}`;
}

/** Everything wrong with an app, found in one pass. */
export class RegistryError extends Error {
  readonly problems: RegistryProblem[];

  constructor(problems: RegistryProblem[], header = 'registry') {
    const n = problems.length;
    super(`${header}: ${n} problem${n === 1 ? '' : 's'}:\n${problems.map((p) => `  ${formatProblem(p)}`).join('\n')}`);
    this.name = 'RegistryError';
    this.problems = problems;
  }
}

export interface CommandInfo {
  name: string;
  short?: string;
  entry: Entry;
}

export class Registry {
  readonly entries: Map<EntryId, Entry>;
  /** Absolute app root: `file:///` and `fs.directory` paths are relative to it. */
  readonly root: string;
  readonly config: AppConfig;

  constructor(entries: Iterable<Entry>, opts: { root: string; config?: AppConfig }) {
    this.entries = new Map();
    for (const e of entries) this.entries.set(e.id, e);
    this.root = opts.root;
    this.config = opts.config ?? {};
  }

  get(id: EntryId): Entry | undefined {
    return this.entries.get(id);
  }

  has(id: EntryId): boolean {
    return this.entries.has(id);
  }

  /** Like `get`, but throws an error that lists the closest existing ids. */
  require(id: EntryId): Entry {
    const e = this.entries.get(id);
    if (e) return e;
    const near = similarIds(id, this.entries.keys());
    throw new Error(`unknown entry "${id}"${near.length > 0 ? `; did you mean: ${near.join(', ')}?` : ''}`);
  }

  byKind<T extends Entry = Entry>(kind: string): T[] {
    const out: T[] = [];
    for (const e of this.entries.values()) if (e.kind === kind) out.push(e as T);
    return out;
  }

  /** The Lua entry `id` (process, function or library), or undefined if it is not Lua. */
  lua(id: EntryId): LuaEntry | undefined {
    const e = this.entries.get(id);
    return e && (LUA_KINDS as readonly string[]).includes(e.kind) ? (e as LuaEntry) : undefined;
  }

  hosts(): HostEntry[] {
    return [...this.entries.values()].filter((e): e is HostEntry => (HOST_KINDS as readonly string[]).includes(e.kind));
  }

  services(): ServiceEntry[] {
    return this.byKind<ServiceEntry>('process.service');
  }

  /** CLI commands: entries with `meta.command.name`, sorted by name. */
  commands(): CommandInfo[] {
    const out: CommandInfo[] = [];
    for (const entry of this.entries.values()) {
      const cmd = commandOf(entry);
      if (cmd) out.push({ ...cmd, entry });
    }
    return out.sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Up to `limit` existing ids that look like `id` (typos, same name in another namespace). */
  similar(id: string, limit = 5): EntryId[] {
    return similarIds(id, this.entries.keys(), limit);
  }
}

function commandOf(e: { meta: Record<string, unknown> }): { name: string; short?: string } | undefined {
  const cmd = e.meta.command;
  if (!isPlainObject(cmd) || typeof cmd.name !== 'string') return undefined;
  return typeof cmd.short === 'string' ? { name: cmd.name, short: cmd.short } : { name: cmd.name };
}

// ---------------------------------------------------------------------------------------------
// Near-match suggestions
// ---------------------------------------------------------------------------------------------

/** Ranks ids by how plausibly `wanted` was meant to be them; unrelated ids are dropped. */
export function similarIds(wanted: string, ids: Iterable<string>, limit = 5): string[] {
  const wantedName = wanted.slice(wanted.indexOf(':') + 1).toLowerCase();
  const w = wanted.toLowerCase();
  const scored: Array<[number, string]> = [];
  for (const id of ids) {
    const lid = id.toLowerCase();
    const name = lid.slice(lid.indexOf(':') + 1);
    let score = Math.min(editDistance(w, lid), editDistance(wantedName, name) + 1);
    if (name === wantedName) score = Math.min(score, 1);
    else if ((wantedName.length >= 3 && lid.includes(wantedName)) || (name.length >= 3 && w.includes(name))) score = Math.min(score, 2);
    if (score <= Math.max(2, Math.floor(wantedName.length / 3))) scored.push([score, id]);
  }
  scored.sort((a, b) => a[0] - b[0] || a[1].localeCompare(b[1]));
  return scored.slice(0, limit).map(([, id]) => id);
}

// ---------------------------------------------------------------------------------------------
// Building
// ---------------------------------------------------------------------------------------------

/** Collects problems with the path shown relative to the app root. */
export class ProblemList {
  readonly items: RegistryProblem[] = [];
  readonly root: string;

  constructor(root: string) {
    this.root = root;
  }

  displayPath(file: string): string {
    if (file.startsWith('<')) return file;
    return path.relative(this.root, file) || file;
  }

  add(file: string, line: number | undefined, message: string, extra: { entry?: EntryId; field?: string } = {}): void {
    this.items.push({
      file: this.displayPath(file),
      ...(line !== undefined ? { line } : {}),
      ...(extra.entry !== undefined ? { entry: extra.entry } : {}),
      ...(extra.field !== undefined ? { field: extra.field } : {}),
      message,
    });
  }

  /** A problem about `raw`, located at the line of `field` when the parser recorded it. */
  entry(raw: RawEntry, field: string | undefined, message: string): void {
    this.add(raw.origin.file, lineOf(raw, field), message, {
      entry: `${raw.namespace}:${raw.name}`,
      ...(field !== undefined ? { field } : {}),
    });
  }

  /** Throws a RegistryError if anything was reported. */
  throwIfAny(header: string): void {
    if (this.items.length === 0) return;
    const sorted = [...this.items].sort(
      (a, b) => a.file.localeCompare(b.file) || (a.line ?? 0) - (b.line ?? 0),
    );
    throw new RegistryError(sorted, header);
  }
}

export interface BuildOptions {
  root: string;
  config?: AppConfig;
  /** Problems already found by the caller (YAML syntax, bad layout); they are reported together. */
  problems?: ProblemList;
}

/** Validates raw entries, runs the cross-entry checks and returns the registry (or throws). */
export function buildRegistry(raws: RawEntry[], opts: BuildOptions): Registry {
  const problems = opts.problems ?? new ProblemList(opts.root);
  const declared = new Map<EntryId, RawEntry>();
  const valid: Array<[RawEntry, Entry]> = [];

  for (const raw of raws) {
    const id = `${raw.namespace}:${raw.name}`;
    const first = declared.get(id);
    if (first) {
      const where = first.origin.line !== undefined
        ? `${problems.displayPath(first.origin.file)}:${first.origin.line}`
        : problems.displayPath(first.origin.file);
      problems.entry(raw, 'name', `duplicate id ${id}: already declared at ${where}`);
      continue;
    }
    declared.set(id, raw);
    const entry = validateEntry(raw, opts.root, (field, message) => problems.entry(raw, field, message));
    // Typed Lua -> plain Lua (entry.lua), here on the main thread, once per source (src/dialect/).
    const bad = entry && isLuaEntry(entry) ? compileEntry(entry, lineOf(raw, 'source')) : undefined;
    if (bad) problems.add(bad.file, bad.line, bad.message, { entry: id, field: 'source' });
    else if (entry) valid.push([raw, entry]);
  }

  for (const raw of declared.values()) checkReferences(raw, declared, problems);
  checkRequireCycles([...declared.values()], problems);
  checkCommands([...declared.values()], problems);
  checkEnvNames(declared.values(), (raw, field, message) => problems.entry(raw, field, message));

  problems.throwIfAny(`failed to load registry at ${opts.root}`);
  return new Registry(valid.map(([, e]) => e), { root: opts.root, ...(opts.config ? { config: opts.config } : {}) });
}

function isLuaEntry(e: Entry): e is LuaEntry {
  return (LUA_KINDS as readonly string[]).includes(e.kind);
}

function describeMissing(id: EntryId, declared: Map<EntryId, RawEntry>): string {
  const near = similarIds(id, declared.keys(), 3);
  return `${cut(id)} does not exist${near.length > 0 ? ` (did you mean ${near.join(', ')}?)` : ''}`;
}

function checkReferences(raw: RawEntry, declared: Map<EntryId, RawEntry>, problems: ProblemList): void {
  const id = `${raw.namespace}:${raw.name}`;
  const data = raw.data;
  const expect = (field: string, ref: unknown, what: string, kinds: (kind: string) => boolean, wanted: string) => {
    if (typeof ref !== 'string') return;
    const target = declared.get(ref);
    if (!target) problems.entry(raw, field, `${what} ${describeMissing(ref, declared)}`);
    else if (!kinds(target.kind)) problems.entry(raw, field, `${what} ${cut(ref)} is a ${cut(target.kind)}; expected ${wanted}`);
  };
  const anyKind = () => true;
  const inList = (list: readonly string[]) => (k: string) => list.includes(k);

  // `requires` / `depends_on` of any kind, as written (already namespace-qualified).
  const lifecycle = data.lifecycle;
  if (isPlainObject(lifecycle)) {
    for (const key of ['requires', 'depends_on'] as const) {
      const refs = lifecycle[key];
      if (!Array.isArray(refs)) continue;
      refs.forEach((ref, i) => {
        if (ref === id) problems.entry(raw, `lifecycle.${key}[${i}]`, 'an entry cannot require itself');
        else expect(`lifecycle.${key}[${i}]`, ref, 'required entry', anyKind, 'any entry');
      });
    }
    const sec = lifecycle.security;
    if (raw.kind === 'process.service' && isPlainObject(sec) && Array.isArray(sec.policies)) {
      sec.policies.forEach((ref, i) =>
        expect(`lifecycle.security.policies[${i}]`, ref, 'policy', inList(POLICY_KINDS), POLICY_KINDS.join(' or ')),
      );
    }
  }

  switch (raw.kind) {
    case 'process.lua':
    case 'function.lua':
    case 'library.lua':
      if (!isPlainObject(data.imports)) break;
      for (const [alias, ref] of Object.entries(data.imports)) {
        if (ref === id) problems.entry(raw, `imports.${alias}`, 'a library cannot import itself');
        else expect(`imports.${alias}`, ref, 'import', (k) => k === 'library.lua', 'a library.lua (only libraries can be imported)');
      }
      break;
    case 'process.service':
      expect('process', data.process, 'process', inList(PROCESS_KINDS), `one of ${PROCESS_KINDS.join(', ')}`);
      if (data.host !== CONTROL_HOST) expect('host', data.host, 'host', (k) => k === 'process.host', 'a process.host');
      break;
    case 'env.variable':
    case 'env.storage.router':
      checkEnvReferences(raw, expect, (field, message) => problems.entry(raw, field, message));
      break;
    case 'process.wasm':
    case 'function.wasm':
    case 'function.wat': {
      const isFs = (k: string) => k.startsWith('fs.');
      expect('fs', data.fs, 'fs', isFs, 'an fs.directory');
      const wasi = data.wasi;
      if (isPlainObject(wasi) && Array.isArray(wasi.mounts)) {
        wasi.mounts.forEach((m, i) => {
          if (isPlainObject(m)) expect(`wasi.mounts[${i}].fs`, m.fs, 'mount fs', isFs, 'an fs.directory');
        });
      }
      break;
    }
  }
}

/** A `requires` cycle would make the supervisor wait forever; report each cycle once. */
function checkRequireCycles(declared: RawEntry[], problems: ProblemList): void {
  const edges = new Map<EntryId, EntryId[]>();
  const raws = new Map<EntryId, RawEntry>();
  for (const raw of declared) {
    const id = `${raw.namespace}:${raw.name}`;
    raws.set(id, raw);
    const lc = raw.data.lifecycle;
    if (!isPlainObject(lc)) continue;
    const refs = [lc.requires, lc.depends_on].flatMap((v) => (Array.isArray(v) ? v : []));
    edges.set(id, refs.filter((r): r is string => typeof r === 'string'));
  }
  const state = new Map<EntryId, 'open' | 'done'>();
  const stack: EntryId[] = [];
  const visit = (id: EntryId): void => {
    state.set(id, 'open');
    stack.push(id);
    for (const next of edges.get(id) ?? []) {
      if (next === id) continue; // reported as self-requirement
      const s = state.get(next);
      if (s === 'open') {
        const cycle = [...stack.slice(stack.indexOf(next)), next];
        problems.entry(raws.get(id)!, 'lifecycle.requires', `dependency cycle: ${cycle.join(' -> ')}`);
      } else if (s === undefined && edges.has(next)) {
        visit(next);
      }
    }
    stack.pop();
    state.set(id, 'done');
  };
  for (const id of edges.keys()) if (!state.has(id)) visit(id);
}

function checkCommands(declared: RawEntry[], problems: ProblemList): void {
  const seen = new Map<string, EntryId>();
  for (const raw of declared) {
    const cmd = commandOf(raw);
    if (!cmd) continue;
    const other = seen.get(cmd.name);
    if (other) problems.entry(raw, 'meta.command.name', `command "${cut(cmd.name)}" is already defined by ${cut(other)}`);
    else seen.set(cmd.name, `${raw.namespace}:${raw.name}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Entries given in code
// ---------------------------------------------------------------------------------------------

/** An entry given in code: `id: "ns:name"`, or `namespace` + `name`; other fields as in YAML. */
export type CodeEntry = Record<string, unknown> & { namespace?: string };

/**
 * Builds a registry from entries given in code, with the same validation as YAML. `source` may be
 * inline Lua text or a `file://` path (relative to `root`, default the working directory).
 */
export function createRegistry(entries: CodeEntry[], opts: { root?: string; config?: AppConfig | object } = {}): Registry {
  const root = path.resolve(opts.root ?? process.cwd());
  const problems = new ProblemList(root);
  const raws: RawEntry[] = [];
  entries.forEach((item, i) => {
    const raw = rawFromCode(item, i, problems);
    if (raw) raws.push(raw);
  });
  return buildRegistry(raws, { root, ...(opts.config ? { config: opts.config as AppConfig } : {}), problems });
}

function rawFromCode(item: unknown, index: number, problems: ProblemList): RawEntry | undefined {
  const bad = (message: string, field?: string, entry?: EntryId) =>
    problems.add(CODE_ORIGIN, undefined, `entries[${index}]: ${message}`, { ...(field ? { field } : {}), ...(entry ? { entry } : {}) });
  if (!isPlainObject(item)) return bad('must be an object'), undefined;

  const { id, namespace, name, kind, meta, ...data } = item;
  let ns: unknown = namespace;
  let nm: unknown = name;
  if (id !== undefined) {
    if (typeof id !== 'string' || !/^[^:]+:[^:]+$/.test(id)) return bad('id must be "namespace:name"', 'id'), undefined;
    [ns, nm] = id.split(':');
  }
  if (typeof ns !== 'string' || ns === '') return bad('needs id "ns:name" or a namespace', 'namespace'), undefined;
  if (typeof nm !== 'string' || nm === '' || nm.includes(':')) return bad('needs a name without ":"', 'name'), undefined;
  const entryId = `${ns}:${nm}`;
  if (typeof kind !== 'string' || kind === '') return bad('kind is required', 'kind', entryId), undefined;
  if (meta !== undefined && !isPlainObject(meta)) return bad('meta must be an object', 'meta', entryId), undefined;
  let copy: { meta: Record<string, unknown>; data: Record<string, unknown> };
  try {
    // Validation rewrites data in place; copy so the caller's objects are never modified.
    copy = structuredClone({ meta: meta ?? {}, data });
  } catch (err) {
    return bad(`fields must be plain data: ${(err as Error).message}`, undefined, entryId), undefined;
  }
  return { namespace: ns, name: nm, kind, ...copy, origin: { file: CODE_ORIGIN }, lines: new Map() };
}
