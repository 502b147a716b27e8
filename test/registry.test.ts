// Registry loader: the good fixture app (nested namespaces, libraries, imports, defaults, bare-name
// references), one test per kind of bad input asserting the error names file, line, entry and
// field, entries given in code, and the list/show formatters.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { loadApp, RegistryError } from '../src/registry/loader.js';
import { createRegistry, type Registry } from '../src/registry/registry.js';
import { parseDuration } from '../src/registry/schema.js';
import { formatList, formatShow, globToRegExp } from '../src/registry/format.js';
import type {
  FsDirectoryEntry, HostEntry, LuaEntry, PolicyEntry, RegistryProblem, ServiceEntry, WasmProcessEntry,
} from '../src/registry/types.js';

const GOOD = path.resolve('test/fixtures/registry/good-app');
const HASH = `sha256:${'ab'.repeat(32)}`;

/** Writes `files` (path -> content) into a fresh temp dir and returns it. */
async function app(files: Record<string, string>): Promise<string> {
  const root = await mkdtemp(path.join(os.tmpdir(), 'wippy-registry-'));
  for (const [rel, content] of Object.entries(files)) {
    const full = path.join(root, rel);
    await mkdir(path.dirname(full), { recursive: true });
    await writeFile(full, content);
  }
  return root;
}

/** Loads `root`, expecting a RegistryError, and returns it. */
async function loadFails(root: string): Promise<RegistryError> {
  try {
    await loadApp(root);
  } catch (err) {
    assert.ok(err instanceof RegistryError, `expected RegistryError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected the load to fail');
}

/** Asserts exactly one problem matches `want` (message as substring) and that the text shows it. */
function hasProblem(err: RegistryError, want: Partial<RegistryProblem>): RegistryProblem {
  const found = err.problems.filter(
    (p) =>
      (want.file === undefined || p.file === want.file) &&
      (want.line === undefined || p.line === want.line) &&
      (want.entry === undefined || p.entry === want.entry) &&
      (want.field === undefined || p.field === want.field) &&
      (want.message === undefined || p.message.includes(want.message)),
  );
  assert.equal(found.length, 1, `no single problem like ${JSON.stringify(want)} in:\n${err.message}`);
  const p = found[0]!;
  let line = `${p.file}${p.line !== undefined ? `:${p.line}` : ''}`;
  if (p.entry) line += `: entry ${p.entry}`;
  if (p.field) line += `: field ${p.field}`;
  assert.ok(err.message.includes(`${line}: ${p.message}`), `message should contain "${line}: ..."`);
  return p;
}

const index = (ns: string, entries: string) => `namespace: ${ns}\nentries:\n${entries}`;

// ---------------------------------------------------------------------------------------------
// The good app
// ---------------------------------------------------------------------------------------------

let good: Registry | undefined;
async function goodApp(): Promise<Registry> {
  good ??= await loadApp(GOOD);
  return good;
}

test('loads every definition file under src, across nested namespaces', async () => {
  const reg = await goodApp();
  assert.deepEqual([...reg.entries.keys()].sort(), [
    'app.lib:inline_lib', 'app.lib:strings', 'app.lib:util',
    'app.workers:echo', 'app.workers:ping',
    'app:allow_workers', 'app:compute', 'app:config', 'app:gateway', 'app:main', 'app:main.service',
    'app:processes', 'app:small', 'app:terminal', 'app:wasm_dir',
  ]);
  assert.equal(reg.root, GOOD);
  const echo = reg.require('app.workers:echo');
  assert.equal(echo.origin.file, path.join(GOOD, 'src/workers/_index.yaml'));
  assert.equal(echo.origin.line, 4);
  assert.equal(echo.namespace, 'app.workers');
  assert.equal(echo.name, 'echo');
});

test('Lua entries: file:// sources inlined, libraries, imports and bare-name resolution', async () => {
  const reg = await goodApp();
  const main = reg.lua('app:main')!;
  assert.equal(main.kind, 'process.lua');
  assert.match(main.source, /require\("util"\)/);
  assert.equal(main.sourcePath, path.join(GOOD, 'src/main.lua'));
  assert.equal(main.method, 'main');
  assert.deepEqual(main.modules, ['time']);
  assert.deepEqual(main.imports, { util: 'app.lib:util' });

  const util = reg.lua('app.lib:util')!;
  assert.equal(util.kind, 'library.lua');
  assert.equal(util.method, undefined);
  assert.deepEqual(util.imports, { strings: 'app.lib:strings' }, 'bare import resolves in the own namespace');
  assert.deepEqual(util.data.imports, { strings: 'app.lib:strings' }, 'data is rewritten too');

  // file:///src/... is anchored at the app root.
  assert.equal(reg.lua('app.lib:strings')!.sourcePath, path.join(GOOD, 'src/lib/strings.lua'));
  // Inline source, no file.
  const inline = reg.lua('app.lib:inline_lib')!;
  assert.match(inline.source, /answer = 42/);
  assert.equal(inline.sourcePath, undefined);
  assert.deepEqual(inline.modules, []);
  assert.deepEqual(inline.imports, {});

  // Single-entry file (ping.yml).
  const ping = reg.lua('app.workers:ping')!;
  assert.equal(ping.kind, 'function.lua');
  assert.equal(ping.method, 'run');
  assert.equal(ping.origin.file, path.join(GOOD, 'src/workers/ping.yml'));
  assert.equal(ping.data.namespace, undefined, 'the file namespace is not entry data');

  assert.equal(reg.lua('app:processes'), undefined, 'lua() is only for Lua kinds');
});

test('hosts: defaults, explicit sizes, terminal host', async () => {
  const reg = await goodApp();
  const byId = new Map(reg.hosts().map((h) => [h.id, h]));
  assert.deepEqual([...byId.keys()].sort(), ['app:processes', 'app:small', 'app:terminal']);
  const processes = byId.get('app:processes')!;
  assert.deepEqual(processes.host, { workers: os.availableParallelism(), queueSize: 1024, localQueueSize: 1024, maxReductions: 100_000_000, maxMemoryMb: 1024, stallTimeoutMs: 30_000, maxMailbox: 100_000, crashReports: true });
  assert.equal(processes.autoStart, true);
  const small = byId.get('app:small')!;
  assert.deepEqual(small.host, { workers: 2, queueSize: 64, localQueueSize: 8, maxReductions: 100_000_000, maxMemoryMb: 1024, stallTimeoutMs: 30_000, maxMailbox: 100_000, crashReports: true });
  assert.equal(small.autoStart, false);
  const term = byId.get('app:terminal') as HostEntry;
  assert.equal(term.kind, 'terminal.host');
  assert.equal(term.host.workers, 1);
  assert.equal(term.hideLogs, true);
  assert.equal(term.autoStart, true);
});

test('services: bare process/host, depends_on alias, durations and restart defaults', async () => {
  const reg = await goodApp();
  const [svc] = reg.services();
  assert.ok(svc);
  const s: ServiceEntry = svc;
  assert.equal(s.id, 'app:main.service');
  assert.equal(s.process, 'app:main');
  assert.equal(s.host, 'app:processes');
  assert.deepEqual(s.input, ['hello', 2]);
  assert.deepEqual(s.lifecycle, {
    autoStart: true,
    startup: 'required',
    startTimeoutMs: 10_000,
    stopTimeoutMs: 10_000,
    stableThresholdMs: 5_000,
    requires: ['app:config'],
    restart: { initialDelayMs: 500, maxDelayMs: 60_000, backoffFactor: 2, jitter: 0.1, maxAttempts: 5 },
  });
});

test('fs.directory, process.wasm, security.policy, unknown kinds', async () => {
  const reg = await goodApp();
  const dir = reg.require('app:wasm_dir') as FsDirectoryEntry;
  assert.equal(dir.directory, path.join(GOOD, 'data'), 'relative to the app root, not the YAML file');
  const wasm = reg.require('app:compute') as WasmProcessEntry;
  assert.equal(wasm.fs, 'app:wasm_dir');
  assert.equal(wasm.transport, 'payload');
  assert.deepEqual(wasm.imports, ['wasi:clocks']);
  assert.deepEqual(wasm.limits, { maxExecutionMs: 500 });
  const pol = reg.require('app:allow_workers') as PolicyEntry;
  assert.deepEqual(pol.policy.resources, ['app.workers:*'], 'a single pattern becomes a list');
  assert.deepEqual(pol.policy.conditions, [{ field: 'actor.meta.role', operator: 'eq', value: 'worker' }]);
  assert.deepEqual(pol.groups, ['app:workers', 'app.security:shared']);
  const gw = reg.require('app:gateway');
  assert.deepEqual(gw.data, { addr: ':8080' }, 'unknown kinds keep their data as written');
  const cfg = reg.require('app:config');
  assert.deepEqual(cfg.data, { environment: 'production', features: { dark_mode: true } });
  assert.deepEqual(reg.byKind('registry.entry').map((e) => e.id), ['app:config']);
});

test('commands come from meta.command', async () => {
  const reg = await goodApp();
  const cmds = reg.commands();
  assert.deepEqual(cmds.map((c) => [c.name, c.short, c.entry.id]), [['echo', 'Print the arguments back', 'app.workers:echo']]);
});

test('config: .wippy.yaml merged with extra config files, later wins', async () => {
  const reg = await goodApp();
  assert.equal(reg.config.security?.strict_mode, true);
  const merged = await loadApp(GOOD, { configFiles: [path.join(GOOD, 'extra-config.yaml')] });
  assert.deepEqual(merged.config.logger, { encoding: 'console', level: 'info' });
  assert.equal(merged.config.security?.strict_mode, true);
});

test('wippy.lock may move src; a missing wippy.lock is fine', async () => {
  const moved = await app({
    'wippy.lock': 'directories:\n  src: ./defs\n',
    'defs/_index.yaml': index('x', '  - name: a\n    kind: registry.entry\n'),
  });
  assert.ok((await loadApp(moved)).has('x:a'));
  const noLock = await app({ 'src/_index.yaml': index('y', '  - name: b\n    kind: registry.entry\n') });
  assert.ok((await loadApp(noLock)).has('y:b'));
});

test('require() and unknown ids list near matches', async () => {
  const reg = await goodApp();
  assert.throws(() => reg.require('app:mian'), /unknown entry "app:mian"; did you mean: app:main/);
  assert.throws(() => reg.require('app:echo'), /app\.workers:echo/, 'same name in another namespace');
  assert.equal(reg.get('nope:nothing'), undefined);
});

test('durations', () => {
  assert.equal(parseDuration('10s'), 10_000);
  assert.equal(parseDuration('500ms'), 500);
  assert.equal(parseDuration('1m'), 60_000);
  assert.equal(parseDuration('1h30m45s'), 5_445_000);
  assert.equal(parseDuration('2.5s'), 2_500);
  assert.equal(parseDuration(0), 0);
  assert.throws(() => parseDuration('10 sec'), /invalid duration/);
  assert.throws(() => parseDuration(10), /needs a unit/);
  assert.throws(() => parseDuration('-1s'), /invalid duration/);
});

// ---------------------------------------------------------------------------------------------
// Bad input
// ---------------------------------------------------------------------------------------------

test('missing src directory explains the expected layout', async () => {
  const root = await app({ 'README.md': 'nothing here\n' });
  const err = await loadFails(root);
  assert.equal(err.problems.length, 1);
  assert.match(err.message, /src/);
  assert.match(err.message, /wippy\.lock/);
  assert.match(err.message, /_index\.yaml/);
  assert.match(err.message, /namespace: app/);
  assert.match(err.message, /entries:/);
});

test('malformed YAML names the file and the parser line', async () => {
  const root = await app({
    'src/_index.yaml': 'namespace: app\nentries:\n  - name: a\n    kind: registry.entry\n  - name: [unclosed\n    kind: x\n',
  });
  const err = await loadFails(root);
  const p = err.problems[0]!;
  assert.equal(p.file, 'src/_index.yaml');
  assert.ok(p.line !== undefined && p.line >= 5, `line ${p.line}`);
  assert.match(p.message, /invalid YAML/);
});

test('duplicate ids name both files and lines', async () => {
  const root = await app({
    'src/a/_index.yaml': index('app', '  - name: x\n    kind: registry.entry\n'),
    'src/b/_index.yaml': index('app', '  - name: y\n    kind: registry.entry\n  - name: x\n    kind: registry.entry\n'),
  });
  const err = await loadFails(root);
  hasProblem(err, {
    file: 'src/b/_index.yaml', line: 5, entry: 'app:x', field: 'name',
    message: 'duplicate id app:x: already declared at src/a/_index.yaml:3',
  });
});

test('missing file:// target names file, line, entry and field', async () => {
  const root = await app({
    'src/_index.yaml': index('app', '  - name: f\n    kind: function.lua\n    method: main\n    source: file://nope.lua\n'),
  });
  const err = await loadFails(root);
  hasProblem(err, { file: 'src/_index.yaml', line: 6, entry: 'app:f', field: 'source', message: 'file not found: src/nope.lua' });
});

test('file:// may not escape the app root', async () => {
  const root = await app({
    'src/_index.yaml': index('app', '  - name: f\n    kind: library.lua\n    source: file://../../../etc/passwd\n'),
  });
  const err = await loadFails(root);
  hasProblem(err, { line: 5, entry: 'app:f', field: 'source', message: 'points outside the app root' });
});

test('service with unknown host, wrong-kind process, node:control, unknown requires', async () => {
  const root = await app({
    'src/_index.yaml': index('app', [
      '  - name: proc',
      '    kind: function.lua',
      '    source: "return {}"',
      '    method: main',
      '  - name: svc',
      '    kind: process.service',
      '    process: proc',
      '    host: hosts',
      '    lifecycle:',
      '      requires: [app.db:database]',
      '  - name: svc2',
      '    kind: process.service',
      '    process: app:nothing',
      '    host: node:control',
      '',
    ].join('\n')),
    'src/db/_index.yaml': index('app.db', '  - name: datebase\n    kind: registry.entry\n'),
  });
  const err = await loadFails(root);
  hasProblem(err, { file: 'src/_index.yaml', line: 9, entry: 'app:svc', field: 'process', message: 'process app:proc is a function.lua; expected one of process.lua' });
  hasProblem(err, { line: 10, entry: 'app:svc', field: 'host', message: 'host app:hosts does not exist' });
  hasProblem(err, { line: 12, entry: 'app:svc', field: 'lifecycle.requires[0]', message: 'app.db:database does not exist (did you mean app.db:datebase?)' });
  hasProblem(err, { line: 15, entry: 'app:svc2', field: 'process', message: 'app:nothing does not exist' });
  hasProblem(err, { line: 16, entry: 'app:svc2', field: 'host', message: 'node:control is the supervisor\'s internal host' });
  assert.equal(err.problems.length, 5, err.message);
});

test('service host must be a process.host', async () => {
  const root = await app({
    'src/_index.yaml': index('app', [
      '  - name: p',
      '    kind: process.lua',
      '    source: "return {}"',
      '    method: main',
      '  - name: svc',
      '    kind: process.service',
      '    process: p',
      '    host: p',
      '',
    ].join('\n')),
  });
  const err = await loadFails(root);
  hasProblem(err, { line: 10, entry: 'app:svc', field: 'host', message: 'host app:p is a process.lua; expected a process.host' });
});

test('imports must name existing library.lua entries', async () => {
  const root = await app({
    'src/_index.yaml': index('app', [
      '  - name: main',
      '    kind: process.lua',
      '    source: "return {}"',
      '    method: main',
      '    imports:',
      '      a: missing_lib',
      '      b: other',
      '  - name: other',
      '    kind: function.lua',
      '    source: "return {}"',
      '    method: main',
      '',
    ].join('\n')),
  });
  const err = await loadFails(root);
  hasProblem(err, { line: 8, entry: 'app:main', field: 'imports.a', message: 'import app:missing_lib does not exist' });
  hasProblem(err, { line: 9, entry: 'app:main', field: 'imports.b', message: 'import app:other is a function.lua; expected a library.lua' });
});

test('host sizes must be positive, with the reference messages; wrong types are named', async () => {
  const root = await app({
    'src/_index.yaml': index('app', [
      '  - name: h',
      '    kind: process.host',
      '    host:',
      '      workers: 0',
      '      queue_size: 0',
      '      local_queue_size: -1',
      '  - name: h2',
      '    kind: process.host',
      '    host:',
      '      workers: eight',
      '    lifecycle:',
      '      auto_start: "yes"',
      '  - name: h3',
      '    kind: process.host',
      '    host:',
      '      queue_size: 2000000',
      '',
    ].join('\n')),
  });
  const err = await loadFails(root);
  hasProblem(err, { line: 18, entry: 'app:h3', field: 'host.queue_size', message: 'queue size must be at most 1048576' });
  hasProblem(err, { line: 6, entry: 'app:h', field: 'host.workers', message: 'workers must be greater than 0' });
  hasProblem(err, { line: 7, entry: 'app:h', field: 'host.queue_size', message: 'queue size must be greater than 0' });
  hasProblem(err, { line: 8, entry: 'app:h', field: 'host.local_queue_size', message: 'local queue size must be greater than 0' });
  hasProblem(err, { line: 12, entry: 'app:h2', field: 'host.workers', message: 'expected a number, got a string' });
  hasProblem(err, { line: 14, entry: 'app:h2', field: 'lifecycle.auto_start', message: 'expected a boolean, got a string' });
});

test('Lua entries need source and method; modules and imports have shapes', async () => {
  const root = await app({
    'src/_index.yaml': index('app', [
      '  - name: f',
      '    kind: function.lua',
      '    source: "return {}"',
      '  - name: p',
      '    kind: process.lua',
      '    method: main',
      '    modules: [time, app:lib]',
      '    imports: [app:lib]',
      '',
    ].join('\n')),
  });
  const err = await loadFails(root);
  hasProblem(err, { line: 3, entry: 'app:f', field: 'method', message: 'is required' });
  hasProblem(err, { line: 6, entry: 'app:p', field: 'source', message: 'is required' });
  hasProblem(err, { line: 9, entry: 'app:p', field: 'modules[1]', message: 'registry entries belong in imports' });
  hasProblem(err, { line: 10, entry: 'app:p', field: 'imports', message: 'expected a map, got a list' });
});

test('lifecycle durations and restart policy are validated', async () => {
  const root = await app({
    'src/_index.yaml': index('app', [
      '  - name: h',
      '    kind: process.host',
      '  - name: p',
      '    kind: process.lua',
      '    source: "return {}"',
      '    method: main',
      '  - name: s',
      '    kind: process.service',
      '    process: p',
      '    host: h',
      '    lifecycle:',
      '      start_timeout: 10 seconds',
      '      startup: sometimes',
      '      restart:',
      '        max_delay: 5',
      '        jitter: 3',
      '',
    ].join('\n')),
  });
  const err = await loadFails(root);
  hasProblem(err, { line: 14, entry: 'app:s', field: 'lifecycle.start_timeout', message: 'invalid duration "10 seconds"' });
  hasProblem(err, { line: 15, entry: 'app:s', field: 'lifecycle.startup', message: 'must be one of "required", "optional"' });
  hasProblem(err, { line: 17, entry: 'app:s', field: 'lifecycle.restart.max_delay', message: 'needs a unit' });
  hasProblem(err, { line: 18, entry: 'app:s', field: 'lifecycle.restart.jitter', message: 'jitter must be between 0 and 1' });
});

test('requires cycles and self-requirements are rejected', async () => {
  const root = await app({
    'src/_index.yaml': index('app', [
      '  - name: a',
      '    kind: registry.entry',
      '    lifecycle: { requires: [b] }',
      '  - name: b',
      '    kind: registry.entry',
      '    lifecycle: { depends_on: [a] }',
      '  - name: c',
      '    kind: registry.entry',
      '    lifecycle: { requires: [c] }',
      '',
    ].join('\n')),
  });
  const err = await loadFails(root);
  hasProblem(err, { entry: 'app:b', message: 'dependency cycle: app:a -> app:b -> app:a' });
  hasProblem(err, { line: 11, entry: 'app:c', field: 'lifecycle.requires[0]', message: 'cannot require itself' });
});

test('process.wasm: fs must be an fs entry, hash and method are checked', async () => {
  const root = await app({
    'src/_index.yaml': index('app', [
      '  - name: notfs',
      '    kind: registry.entry',
      '  - name: w',
      '    kind: process.wasm',
      '    fs: notfs',
      '    path: /w.wasm',
      '    hash: sha256:1234',
      '  - name: w2',
      '    kind: process.wasm',
      '    fs: dir',
      '    path: /w.wasm',
      `    hash: ${HASH}`,
      '    method: run',
      '    imports: { clock: wasi:clocks }',
      '  - name: w3',
      '    kind: process.wasm',
      '    fs: notfs',
      '    path: /w.wasm',
      `    hash: ${HASH}`,
      '    method: run',
      '',
    ].join('\n')),
  });
  const err = await loadFails(root);
  hasProblem(err, { line: 9, entry: 'app:w', field: 'hash', message: 'must be "sha256:" followed by 64 hex digits' });
  hasProblem(err, { line: 5, entry: 'app:w', field: 'method', message: 'is required' });
  hasProblem(err, { line: 16, entry: 'app:w2', field: 'imports', message: 'expected a list, got a map' });
  hasProblem(err, { line: 19, entry: 'app:w3', field: 'fs', message: 'fs app:notfs is a registry.entry; expected an fs.directory' });
});

test('security.policy fields are validated', async () => {
  const root = await app({
    'src/_index.yaml': index('app', [
      '  - name: pol',
      '    kind: security.policy',
      '    policy:',
      '      actions: 3',
      '      resources: "*"',
      '      effect: maybe',
      '      conditions:',
      '        - field: actor.id',
      '          operator: like',
      '          value: x',
      '        - field: actor.id',
      '          operator: eq',
      '',
    ].join('\n')),
  });
  const err = await loadFails(root);
  hasProblem(err, { line: 6, entry: 'app:pol', field: 'policy.actions', message: 'must be a string or a list of strings' });
  hasProblem(err, { line: 8, entry: 'app:pol', field: 'policy.effect', message: 'must be one of "allow", "deny"' });
  hasProblem(err, { line: 11, entry: 'app:pol', field: 'policy.conditions[0].operator', message: 'must be one of "eq"' });
  hasProblem(err, { line: 13, entry: 'app:pol', field: 'policy.conditions[1].value', message: 'operator eq needs value or value_from' });
});

test('malformed definition files: missing name/kind, bad namespace, entries not a list', async () => {
  const root = await app({
    'src/a.yaml': index('app', '  - kind: registry.entry\n  - name: k\n  - just a string\n'),
    'src/b.yaml': 'namespace: "bad ns!"\nentries: []\n',
    'src/c.yaml': 'namespace: app.c\nentries: {}\n',
    'src/d.yaml': 'entries:\n  - name: x\n    kind: registry.entry\n',
  });
  const err = await loadFails(root);
  hasProblem(err, { file: 'src/a.yaml', line: 3, field: 'name', message: 'entry name must be a non-empty string' });
  hasProblem(err, { file: 'src/a.yaml', line: 4, entry: 'app:k', field: 'kind', message: 'kind is required' });
  hasProblem(err, { file: 'src/a.yaml', line: 5, message: 'entries[2] must be a map' });
  hasProblem(err, { file: 'src/b.yaml', line: 1, message: 'namespace must be a dot-separated name' });
  hasProblem(err, { file: 'src/c.yaml', line: 2, message: 'entries must be a list' });
  hasProblem(err, { file: 'src/d.yaml', line: 1, message: 'has entries but no namespace' });
});

test('every problem is collected, sorted by file and line', async () => {
  const root = await app({
    'src/z.yaml': index('app', '  - name: f\n    kind: function.lua\n    source: file://gone.lua\n'),
    'src/a.yaml': index('app', '  - name: h\n    kind: process.host\n    host: { workers: 0 }\n'),
  });
  const err = await loadFails(root);
  assert.deepEqual(err.problems.map((p) => [p.file, p.line, p.field]), [
    ['src/a.yaml', 5, 'host.workers'],
    ['src/z.yaml', 5, 'source'],
    ['src/z.yaml', 3, 'method'],
  ].sort((a, b) => String(a[0]).localeCompare(String(b[0])) || Number(a[1]) - Number(b[1])));
  assert.match(err.message, /^failed to load registry at .*: 3 problems:\n/);
  assert.ok(err.message.includes('src/z.yaml:5: entry app:f: field source: file not found: src/gone.lua'));
});

test('bad config files are reported with their line', async () => {
  const root = await app({
    'src/_index.yaml': index('app', '  - name: a\n    kind: registry.entry\n'),
    '.wippy.yaml': 'logger:\n  level: info\nsecurity:\n  strict_mode: sometimes\n',
  });
  const err = await loadFails(root);
  hasProblem(err, { file: '.wippy.yaml', line: 4, message: 'security.strict_mode must be true or false' });
  await assert.rejects(loadApp(root, { configFiles: [path.join(root, 'missing.yaml')] }), /cannot read file/);
});

// ---------------------------------------------------------------------------------------------
// Entries given in code
// ---------------------------------------------------------------------------------------------

test('createRegistry: same validation, inline sources, <code> origin', () => {
  const reg = createRegistry([
    { id: 'app:processes', kind: 'process.host', host: { workers: 3 } },
    { namespace: 'app.lib', name: 'util', kind: 'library.lua', source: 'return { x = 1 }' },
    { id: 'app:main', kind: 'process.lua', source: 'return { main = function() end }', method: 'main', imports: { util: 'app.lib:util' } },
    { id: 'app:svc', kind: 'process.service', process: 'main', host: 'processes', lifecycle: { auto_start: true } },
  ], { root: GOOD, config: { security: { strict_mode: false } } });
  assert.equal(reg.root, GOOD);
  assert.equal(reg.config.security?.strict_mode, false);
  const main = reg.lua('app:main') as LuaEntry;
  assert.equal(main.origin.file, '<code>');
  assert.equal(main.sourcePath, undefined);
  assert.deepEqual(main.imports, { util: 'app.lib:util' });
  assert.equal(reg.hosts()[0]!.host.workers, 3);
  assert.equal(reg.services()[0]!.host, 'app:processes');
  assert.equal(reg.services()[0]!.lifecycle.autoStart, true);
});

test('createRegistry: file:// relative to root, caller objects untouched', () => {
  const item = { id: 'app:s', kind: 'library.lua', source: 'file://src/lib/strings.lua', imports: { x: 'strings' } };
  const reg = createRegistry([{ id: 'app:strings', kind: 'library.lua', source: 'return {}' }, item], { root: GOOD });
  assert.equal(reg.lua('app:s')!.sourcePath, path.join(GOOD, 'src/lib/strings.lua'));
  assert.equal(item.source, 'file://src/lib/strings.lua');
  assert.deepEqual(item.imports, { x: 'strings' });
});

test('createRegistry: problems name <code>, entry and field', () => {
  let err: unknown;
  try {
    createRegistry([
      { id: 'app:h', kind: 'process.host', host: { local_queue_size: 0 } },
      { id: 'app:f', kind: 'function.lua', source: 'return {}' },
      { id: 'app:f', kind: 'registry.entry' },
      { name: 'no_ns', kind: 'registry.entry' },
      { id: 'app:svc', kind: 'process.service', process: 'f', host: 'nowhere' },
    ]);
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof RegistryError);
  hasProblem(err, { file: '<code>', entry: 'app:h', field: 'host.local_queue_size', message: 'local queue size must be greater than 0' });
  hasProblem(err, { file: '<code>', entry: 'app:f', field: 'method', message: 'is required' });
  hasProblem(err, { file: '<code>', entry: 'app:f', field: 'name', message: 'duplicate id app:f' });
  hasProblem(err, { file: '<code>', field: 'namespace', message: 'entries[3]' });
  hasProblem(err, { file: '<code>', entry: 'app:svc', field: 'host', message: 'host app:nowhere does not exist' });
  assert.ok(err.message.includes('<code>: entry app:h: field host.local_queue_size: local queue size must be greater than 0'));
});

// ---------------------------------------------------------------------------------------------
// Formatting
// ---------------------------------------------------------------------------------------------

test('globs', () => {
  assert.ok(globToRegExp('process.*').test('process.lua'));
  assert.ok(!globToRegExp('process.*').test('processXlua'));
  assert.ok(globToRegExp('*.lua').test('library.lua'));
  assert.ok(globToRegExp('app').test('app') && !globToRegExp('app').test('app.lib'));
});

test('formatList filters by kind and namespace globs', async () => {
  const reg = await goodApp();
  const all = formatList(reg);
  assert.match(all, /^ID +KIND +COMMENT\n/);
  assert.equal(all.trimEnd().split('\n').length, reg.entries.size + 1);
  assert.match(all, /app:main +process\.lua +The main loop\n/);

  const lua = formatList(reg, { kind: '*.lua' });
  assert.deepEqual(lua.trimEnd().split('\n').slice(1).map((l) => l.split(/ +/)[0]), [
    'app.lib:inline_lib', 'app.lib:strings', 'app.lib:util', 'app.workers:echo', 'app.workers:ping', 'app:main',
  ]);
  const rows = JSON.parse(formatList(reg, { ns: 'app.*', kind: 'process.*', json: true })) as Array<{ id: string; kind: string; comment: string }>;
  assert.deepEqual(rows, [{ id: 'app.workers:echo', kind: 'process.lua', comment: 'Echoes its arguments' }]);
  assert.match(formatList(reg, { kind: 'nothing.*' }), /^no entries match kind=nothing\.\*/);
});

test('formatShow dumps the entry with origin and defaults; unknown ids list near matches', async () => {
  const reg = await goodApp();
  const text = formatShow(reg, 'app:main');
  assert.match(text, /^id: app:main\n/);
  assert.match(text, /origin: src\/_index\.yaml:27/);
  assert.match(text, /source: file:\/\/src\/main\.lua \(\d+ lines\)/);
  const host = JSON.parse(formatShow(reg, 'app:processes', { json: true })) as { resolved: { host: { queueSize: number } } };
  assert.equal(host.resolved.host.queueSize, 1024);
  assert.throws(() => formatShow(reg, 'app:proceses'), /did you mean: app:processes/);
});
