// Loads an app from disk into a Registry.
//
// Layout (see docs start__structure.md):
//
//   <root>/wippy.lock        optional; `directories.src` (default ./src) says where definitions are
//   <root>/.wippy.yaml       optional runtime configuration, exposed as `registry.config`
//   <root>/src/**.yaml|.yml  definition files, found recursively
//
// A definition file is any YAML map with `namespace` plus either an `entries` list or a top-level
// `name` + `kind` (a single-entry file). Other YAML files are skipped, but every YAML file under
// src must still parse: a syntax error anywhere fails the load rather than silently dropping a file.
//
// The loader's job is only to turn files into `RawEntry` values that remember where each entry and
// each field was written (line numbers come from the parser's node ranges through a LineCounter).
// Validation and the cross-entry checks are shared with `createRegistry` in registry.ts, so the
// loader reports its own problems (syntax, layout, malformed files) into the same ProblemList and
// everything is thrown together as one RegistryError.

import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { LineCounter, isMap, isScalar, isSeq, parseDocument, type Document } from 'yaml';
import type { AppConfig } from './types.js';
import { isPlainObject, type RawEntry } from './schema.js';
import { ProblemList, Registry, buildRegistry } from './registry.js';
import { builtinEntries } from './builtin-entries.js';
import { parseAddress } from '../ops/address.js';

// Re-exported so callers can load and `catch (e) { if (e instanceof RegistryError) ... }` from one module.
export { Registry, RegistryError, createRegistry, formatProblem } from './registry.js';
export type { AppConfig, RegistryProblem } from './types.js';

export interface LoadOptions {
  /** Extra config files merged over `.wippy.yaml`, in order (later wins). Relative to the cwd. */
  configFiles?: string[];
}

const DEFAULT_SRC = './src';
/** Syntax errors reported per file; the rest are counted in one problem. */
const MAX_SYNTAX_ERRORS = 10;
const NAMESPACE_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;
/** Directories never scanned: dependency trees and hidden directories (.git, editor state). */
const SKIP_DIR = (name: string) => name === 'node_modules' || name.startsWith('.');

const LAYOUT_HELP = `A wippy app looks like this:

    myapp/
      wippy.lock          optional; "directories: { src: ./src }" (the default)
      .wippy.yaml         optional runtime configuration
      src/
        _index.yaml       a definition file: namespace + entries
        hello.lua

  Example src/_index.yaml:

    version: "1.0"
    namespace: app
    entries:
      - name: hello
        kind: process.lua
        source: file://hello.lua
        method: main`;

/** Loads the app rooted at `rootDir`. Throws a RegistryError listing every problem found. */
export async function loadApp(rootDir: string, opts: LoadOptions = {}): Promise<Registry> {
  const root = path.resolve(rootDir);
  const problems = new ProblemList(root);

  const lock = await readYamlFile(path.join(root, 'wippy.lock'), problems, { optional: true });
  let srcRel: string = DEFAULT_SRC;
  if (isPlainObject(lock?.value) && isPlainObject(lock.value.directories) && lock.value.directories.src !== undefined) {
    const src = lock.value.directories.src;
    if (typeof src === 'string' && src !== '') srcRel = src;
    else problems.add(lock.file, lock.lineOf('directories.src'), 'directories.src must be a path string');
  }
  const srcDir = path.resolve(root, srcRel);
  if (!(await isDirectory(srcDir))) {
    const why = lock ? `wippy.lock sets directories.src to "${srcRel}", which` : `no wippy.lock, and the default "${DEFAULT_SRC}"`;
    problems.add(srcDir, undefined, `${why} is not a directory under ${root}.\n  ${LAYOUT_HELP}`);
    problems.throwIfAny(`cannot load app at ${root}`);
  }

  const config = await loadConfig(root, opts.configFiles ?? [], problems);

  // Entries are appended one by one, never with push(...list): a spread passes one argument per
  // entry and overflows the stack past ~120k entries in one file (a 49 MB definition file crashed
  // the loader with an uncaught RangeError that way).
  const raws: RawEntry[] = [];
  const files: string[] = [];
  await findYamlFiles(srcDir, files);
  const texts = await Promise.all(files.map((f) => readFile(f, 'utf8')));
  files.forEach((file, i) => {
    for (const raw of entriesOfFile(file, texts[i]!, problems)) raws.push(raw);
  });

  for (const raw of builtinEntries(raws)) raws.push(raw); // e.g. wippy.test:test, when imported
  return buildRegistry(raws, { root, config, problems });
}

// ---------------------------------------------------------------------------------------------
// Files
// ---------------------------------------------------------------------------------------------

async function isDirectory(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isDirectory();
  } catch {
    return false;
  }
}

/** Appends every .yaml/.yml file under `dir` to `out`, depth-first in name order (deterministic). */
async function findYamlFiles(dir: string, out: string[]): Promise<void> {
  const dirents = await readdir(dir, { withFileTypes: true });
  dirents.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const d of dirents) {
    const full = path.join(dir, d.name);
    // Symlinked directories are not followed (they could loop); symlinked files are.
    const isFile = d.isFile() || (d.isSymbolicLink() && (await stat(full).then((s) => s.isFile(), () => false)));
    if (d.isDirectory()) {
      if (!SKIP_DIR(d.name)) await findYamlFiles(full, out);
    } else if (isFile && /\.ya?ml$/i.test(d.name)) {
      out.push(full);
    }
  }
}

interface ParsedYaml {
  file: string;
  doc: Document.Parsed;
  lines: LineCounter;
  value: unknown;
  /** Line of a top-level dotted key path (`directories.src`), if present. */
  lineOf(field: string): number | undefined;
}

/** Parses one YAML text, reporting syntax errors with their line. Undefined if it did not parse. */
function parseYaml(file: string, text: string, problems: ProblemList): ParsedYaml | undefined {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    // A binary or badly broken file yields hundreds of errors quoting whole tokens: the first few,
    // each cut short, say enough.
    for (const err of doc.errors.slice(0, MAX_SYNTAX_ERRORS)) {
      const pos = lines.linePos(err.pos[0]);
      // The parser turns its own stack overflow on very deep nesting into a parse error.
      const what = err.message.startsWith('Maximum call stack size exceeded') ? 'nested too deeply' : cut(err.message.split('\n')[0]!, 160);
      problems.add(file, pos.line, `invalid YAML: ${what} (column ${pos.col})`);
    }
    const more = doc.errors.length - MAX_SYNTAX_ERRORS;
    if (more > 0) problems.add(file, lines.linePos(doc.errors[MAX_SYNTAX_ERRORS]!.pos[0]).line, `invalid YAML: ${more} more syntax error${more === 1 ? '' : 's'}`);
    return undefined;
  }
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 1000 });
  } catch (err) {
    problems.add(file, undefined, `invalid YAML: ${(err as Error).message}`);
    return undefined;
  }
  const fieldLines = new Map<string, number>();
  recordLines(doc.contents, '', fieldLines, lines);
  const bad = badValue(value);
  if (bad) {
    problems.add(file, lineNear(fieldLines, bad.field), `invalid YAML: ${bad.message}`, bad.field === '' ? {} : { field: bad.field });
    return undefined;
  }
  return { file, doc, lines, value, lineOf: (f) => fieldLines.get(f) };
}

/** The line of `field`, or of its nearest recorded parent. */
function lineNear(fieldLines: Map<string, number>, field: string): number | undefined {
  for (let f = field; f !== ''; f = f.slice(0, Math.max(0, Math.max(f.lastIndexOf('.'), f.lastIndexOf('['))))) {
    const line = fieldLines.get(f);
    if (line !== undefined) return line;
  }
  return undefined;
}

/**
 * What the rest of the loader cannot take, found in the parsed value: a cycle (a recursive alias,
 * `a: &x [*x]`, makes a value that contains itself: the file:// resolver, the schema checks and
 * error messages would recurse forever), and the Map/Set values the !!omap, !!pairs and !!set
 * tags produce (they would pass as maps with no keys, silently dropping their contents). The
 * parser has already bounded how far aliases may expand (maxAliasCount), so this walk is bounded
 * by the size of the expanded value; its depth by the parser's own nesting limit.
 */
function badValue(v: unknown, field = '', ancestors = new Set<object>()): { field: string; message: string } | undefined {
  if (typeof v !== 'object' || v === null || v instanceof Uint8Array) return undefined;
  if (ancestors.has(v)) return { field, message: 'recursive alias: a value may not contain itself' };
  if (v instanceof Map || v instanceof Set) {
    return { field, message: `${v instanceof Map ? '!!omap/!!pairs' : '!!set'} values are not supported; write a plain map or list` };
  }
  ancestors.add(v);
  try {
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        const bad = badValue(v[i], `${field}[${i}]`, ancestors);
        if (bad) return bad;
      }
    } else {
      for (const [k, x] of Object.entries(v)) {
        const bad = badValue(x, field === '' ? k : `${field}.${k}`, ancestors);
        if (bad) return bad;
      }
    }
    return undefined;
  } finally {
    ancestors.delete(v);
  }
}

async function readYamlFile(file: string, problems: ProblemList, opts: { optional: boolean }): Promise<ParsedYaml | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if (opts.optional && (err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    problems.add(file, undefined, `cannot read file: ${(err as Error).message}`);
    return undefined;
  }
  return parseYaml(file, text, problems);
}

/** Records the line of every key and list item under `node`, keyed by field path (`a.b[0].c`). */
function recordLines(node: unknown, prefix: string, out: Map<string, number>, lc: LineCounter): void {
  if (isMap(node)) {
    for (const pair of node.items) {
      if (!isScalar(pair.key)) continue;
      const key = String(pair.key.value);
      const p = prefix === '' ? key : `${prefix}.${key}`;
      if (pair.key.range) out.set(p, lc.linePos(pair.key.range[0]).line);
      recordLines(pair.value, p, out, lc);
    }
  } else if (isSeq(node)) {
    node.items.forEach((item, i) => {
      const p = `${prefix}[${i}]`;
      const range = (item as { range?: [number, number, number] } | null)?.range;
      if (range) out.set(p, lc.linePos(range[0]).line);
      recordLines(item, p, out, lc);
    });
  }
}

// ---------------------------------------------------------------------------------------------
// Config
// ---------------------------------------------------------------------------------------------

async function loadConfig(root: string, extra: string[], problems: ProblemList): Promise<AppConfig> {
  let config: Record<string, unknown> = {};
  const sources: Array<{ file: string; optional: boolean }> = [
    { file: path.join(root, '.wippy.yaml'), optional: true },
    ...extra.map((f) => ({ file: path.resolve(f), optional: false })),
  ];
  for (const src of sources) {
    const parsed = await readYamlFile(src.file, problems, { optional: src.optional });
    if (!parsed || parsed.value == null) continue;
    if (!isPlainObject(parsed.value)) {
      problems.add(src.file, 1, 'a config file must be a map of sections (security:, logger:, ...)');
      continue;
    }
    const sec = parsed.value.security;
    if (isPlainObject(sec) && sec.strict_mode !== undefined && typeof sec.strict_mode !== 'boolean') {
      problems.add(src.file, parsed.lineOf('security.strict_mode'), 'security.strict_mode must be true or false');
    }
    const prom = parsed.value.prometheus; // the /metrics endpoint of `wippy run` (src/ops/prometheus.ts)
    if (prom !== undefined && prom !== null && !isPlainObject(prom)) problems.add(src.file, parsed.lineOf('prometheus'), 'prometheus must be a map (enabled:, address:)');
    else if (isPlainObject(prom)) {
      if (prom.enabled !== undefined && typeof prom.enabled !== 'boolean') problems.add(src.file, parsed.lineOf('prometheus.enabled'), 'prometheus.enabled must be true or false');
      if (prom.address !== undefined && typeof prom.address !== 'string') problems.add(src.file, parsed.lineOf('prometheus.address'), 'prometheus.address must be a string like "localhost:9090"');
      else if (typeof prom.address === 'string') {
        try { parseAddress(prom.address); } catch (e) { problems.add(src.file, parsed.lineOf('prometheus.address'), (e as Error).message); }
      }
    }
    checkLogConfig(parsed.value, (field, message) => problems.add(src.file, parsed.lineOf(field), message));
    config = deepMerge(config, parsed.value);
  }
  return config as AppConfig;
}

/** `logger.encoding` and `logmanager.min_level`, which the CLI's logger reads (src/cli/log.ts). */
function checkLogConfig(cfg: Record<string, unknown>, report: (field: string, message: string) => void): void {
  const enc = isPlainObject(cfg.logger) ? cfg.logger.encoding : undefined;
  if (enc !== undefined && enc !== 'console' && enc !== 'json') {
    report('logger.encoding', `logger.encoding must be "console" or "json" (got ${show(enc)})`);
  }
  const min = isPlainObject(cfg.logmanager) ? cfg.logmanager.min_level : undefined;
  if (min !== undefined && ![-1, 0, 1, 2].includes(min as number)) {
    report('logmanager.min_level', `logmanager.min_level must be -1 (debug), 0 (info), 1 (warn) or 2 (error) (got ${show(min)})`);
  }
}

/** Maps merge key by key; anything else (lists included) is replaced by the later value. */
function deepMerge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    out[k] = isPlainObject(b) && isPlainObject(v) ? deepMerge(b, v) : v;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Definition files
// ---------------------------------------------------------------------------------------------

/** The raw entries of one YAML file; an empty list for files that are not definition files. */
function entriesOfFile(file: string, text: string, problems: ProblemList): RawEntry[] {
  const parsed = parseYaml(file, text, problems);
  if (!parsed || !isPlainObject(parsed.value)) return [];
  const top = parsed.value;
  const hasEntries = 'entries' in top;
  const single = 'name' in top && 'kind' in top;
  if (!hasEntries && !single) return [];

  if (!('namespace' in top)) {
    // A file with an entries list but no namespace is almost certainly a definition file with a
    // mistake; a lone name+kind map without namespace could be anything, so it is skipped.
    if (hasEntries) problems.add(file, parsed.lineOf('entries'), 'definition file has entries but no namespace');
    return [];
  }
  const ns = top.namespace;
  if (typeof ns !== 'string' || !NAMESPACE_RE.test(ns)) {
    problems.add(file, parsed.lineOf('namespace'), `namespace must be a dot-separated name like "app.workers", got ${show(ns)}`);
    return [];
  }

  const contents = parsed.doc.contents;
  if (!hasEntries) {
    const { namespace: _ns, version: _v, ...entry } = top;
    const raw = rawEntry(file, ns, entry, contents, '', parsed, problems);
    return raw ? [raw] : [];
  }
  if (!Array.isArray(top.entries)) {
    problems.add(file, parsed.lineOf('entries'), 'entries must be a list of entry maps');
    return [];
  }
  const out: RawEntry[] = [];
  const seq = isMap(contents) ? contents.get('entries', true) : undefined;
  top.entries.forEach((item, i) => {
    const node = isSeq(seq) ? seq.items[i] : undefined;
    const raw = rawEntry(file, ns, item, node, `entries[${i}]`, parsed, problems);
    if (raw) out.push(raw);
  });
  return out;
}

/**
 * One entry map -> RawEntry. `prefix` is where the entry sits in the file (`entries[3]`, or ''
 * for a single-entry file); field lines are re-keyed relative to the entry.
 */
function rawEntry(
  file: string, namespace: string, item: unknown, node: unknown, prefix: string, parsed: ParsedYaml, problems: ProblemList,
): RawEntry | undefined {
  const entryLine = lineOfNode(node, parsed.lines) ?? parsed.lineOf(prefix);
  if (!isPlainObject(item)) {
    problems.add(file, entryLine, `${prefix || 'entry'} must be a map with name and kind`);
    return undefined;
  }
  const lines = new Map<string, number>();
  recordLines(node, '', lines, parsed.lines);

  const { name, kind, meta, ...data } = item;
  if (typeof name !== 'string' || name === '' || name.includes(':')) {
    const got = name === undefined ? 'it is missing' : `got ${show(name)}`;
    problems.add(file, lines.get('name') ?? entryLine, `entry name must be a non-empty string without ":" (${got})`, { field: 'name' });
    return undefined;
  }
  const id = `${namespace}:${name}`;
  if (typeof kind !== 'string' || kind === '') {
    problems.add(file, lines.get('kind') ?? entryLine, kind === undefined ? 'kind is required' : 'kind must be a string', { entry: id, field: 'kind' });
    return undefined;
  }
  if (meta != null && !isPlainObject(meta)) {
    problems.add(file, lines.get('meta') ?? entryLine, 'meta must be a map', { entry: id, field: 'meta' });
    return undefined;
  }
  return {
    namespace,
    name,
    kind,
    meta: (meta ?? {}) as Record<string, unknown>,
    data,
    origin: { file, ...(entryLine !== undefined ? { line: entryLine } : {}) },
    lines,
  };
}

/** A value as problems quote it: JSON, cut to 60 characters (a name may be a 10 MB list). */
function show(v: unknown): string {
  return cut(v instanceof Uint8Array ? `<${v.length} bytes of binary>` : JSON.stringify(v) ?? String(v), 60);
}

function cut(s: string, max: number): string {
  return s.length > max ? `${s.slice(0, max - 3)}...` : s;
}

function lineOfNode(node: unknown, lc: LineCounter): number | undefined {
  const range = (node as { range?: [number, number, number] } | null | undefined)?.range;
  return range ? lc.linePos(range[0]).line : undefined;
}
