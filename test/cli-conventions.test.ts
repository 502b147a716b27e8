// CLI conventions (issue 13): global flags anywhere, --version / -V, --exec on the terminal host
// with --host and the command exit-code rule, `registry show --json`, and every bad input's exact
// message: unknown command / entry / host with a did-you-mean, registry problems for a misspelled
// kind, a source missing its file://, an unknown module, a bad logger config; error values that
// are tables, and their traceback with -v.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { hoistGlobals } from '../src/cli/argv.js';
import { exitCodeOf, errorText } from '../src/cli/exit-codes.js';
import { unknownKind } from '../src/registry/kinds.js';
import { didYouMean } from '../src/registry/near.js';
import { WippyError } from '../src/codec/msgpack.js';
import { Command } from 'commander';
import { CHILD_NODE_FLAGS } from './helpers/node-child.js';

const BIN = resolve('bin/wippy.js');
const APP = resolve('test/fixtures/cli-app');

function wippy(args: string[], opts: { cwd?: string; input?: string } = {}) {
  const r = spawnSync(process.execPath, [...CHILD_NODE_FLAGS, BIN, ...args], { cwd: opts.cwd ?? APP, input: opts.input ?? '', encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A scratch app whose src/_index.yaml is `yaml` (plus `files`), and optionally a .wippy.yaml. */
function app(yaml: string, extra: { config?: string; files?: Record<string, string> } = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'wippy-conv-'));
  mkdirSync(join(dir, 'src'));
  writeFileSync(join(dir, 'src', '_index.yaml'), yaml);
  for (const [name, text] of Object.entries(extra.files ?? {})) writeFileSync(join(dir, 'src', name), text);
  if (extra.config !== undefined) writeFileSync(join(dir, '.wippy.yaml'), extra.config);
  return dir;
}

// ---- units -------------------------------------------------------------------------------------

test('hoistGlobals moves global flags (and their values) to the front, up to --', () => {
  const p = new Command('w').option('-v, --verbose').option('-c, --console').option('-s, --silent').option('--config <f>')
    .option('-C, --app <d>').enablePositionalOptions();
  p.command('run').argument('[a...]').option('-x, --exec <e>').option('--host <h>').passThroughOptions();
  p.command('test').option('--filter <p>');
  p.command('top').option('-s, --sort <key>');
  p.command('registry').command('show').argument('<id>').option('--json');
  const h = (args: string[]) => hoistGlobals(args, p);
  assert.deepEqual(h(['run', 'hello', 'a', '-v', 'b']), ['-v', 'run', 'hello', 'a', 'b']);
  assert.deepEqual(h(['run', '-C', 'dir', '--config=x.yaml', 'list']), ['-C', 'dir', '--config=x.yaml', 'run', 'list']);
  assert.deepEqual(h(['run', 'hello', '--', '-v']), ['run', 'hello', '--', '-v']);
  assert.deepEqual(h(['run', 'x', '-vc']), ['-vc', 'run', 'x']);
  assert.deepEqual(h(['test', '--filter', '-v']), ['test', '--filter', '-v'], 'a sub-option value stays');
  assert.deepEqual(h(['run', '--exec', 'a:b', '--host', 'h', '-v']), ['-v', 'run', '--exec', 'a:b', '--host', 'h']);
  assert.deepEqual(h(['top', '-s', 'mem', '-v']), ['-v', 'top', '-s', 'mem'], "a subcommand's own -s is its own");
  assert.deepEqual(h(['run', 'x', '-s']), ['-s', 'run', 'x']);
  assert.deepEqual(h(['registry', 'show', 'a:b', '--json', '-c']), ['-c', 'registry', 'show', 'a:b', '--json']);
});

test('exitCodeOf: one rule for commands and --exec', () => {
  const out: string[] = [];
  const o = { stdout: (s: string) => out.push(`1:${s}`), stderr: (s: string) => out.push(`2:${s}`) };
  assert.equal(exitCodeOf({ pid: 'p', value: 42 }, { exec: true, verbose: false }, o), 42);
  assert.equal(exitCodeOf({ pid: 'p', value: 300 }, { exec: false, verbose: false }, o), 44);
  assert.equal(exitCodeOf({ pid: 'p', value: false }, { exec: false, verbose: false }, o), 1);
  assert.equal(exitCodeOf({ pid: 'p', value: 'said' }, { exec: true, verbose: false }, o), 0);
  assert.equal(exitCodeOf({ pid: 'p', value: { a: 1 } }, { exec: true, verbose: false }, o), 0);
  assert.equal(exitCodeOf({ pid: 'p', value: { a: 1 } }, { exec: false, verbose: false }, o), 0);
  assert.equal(exitCodeOf({ pid: 'p', error: new WippyError('boom', 'Internal') }, { exec: false, verbose: false }, o), 1);
  assert.deepEqual(out, ['1:said\n', '1:{"a":1}\n', '2:error: boom\n']);
});

test('errorText with -v adds kind, details and the Lua traceback', () => {
  const e = new WippyError('{code = 42}', 'Internal', undefined, { code: 42 });
  e.traceback = 'stack traceback:\n\t[string "app:x"]:1: in function <x>';
  assert.equal(errorText(e, false), 'error: {code = 42}\n');
  assert.equal(errorText(e, true),
    'error: {code = 42}\n  kind: Internal\n  details: {"code":42}\n  stack traceback:\n      [string "app:x"]:1: in function <x>\n');
});

test('unknownKind: a typo of a known kind is a problem; a foreign kind is data', () => {
  const known = ['process.lua', 'function.lua', 'process.host'];
  assert.equal(unknownKind('proces.lua', known), "unknown kind 'proces.lua' (did you mean 'process.lua'?)");
  assert.equal(unknownKind('Process.Lua', known), "unknown kind 'Process.Lua' (did you mean 'process.lua'?)");
  assert.equal(unknownKind('http.servce', known), "unknown kind 'http.servce' (did you mean 'http.service'?)");
  assert.equal(unknownKind('process.lua', known), undefined);
  assert.equal(unknownKind('http.endpoint', known), undefined, 'a Wippy kind kept as data');
  assert.equal(unknownKind('k', known), undefined, 'far from everything: somebody\'s own kind');
  assert.equal(didYouMean([]), '');
  assert.equal(didYouMean(['a:b', 'a:c', 'a:d']), ' (did you mean a:b, a:c or a:d?)');
});

// ---- the command line ----------------------------------------------------------------------------

test('--version and -V print the version; global flags work after the subcommand', () => {
  for (const flag of ['--version', '-V']) {
    const r = wippy([flag]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^wippy-ts \d+\.\d+\.\d+ \(node v\d+/);
  }
  const list = wippy(['run', '-v', 'list']);
  assert.equal(list.code, 0, list.stderr);
  assert.match(list.stdout, /hello\s+Print the arguments/);
  const after = wippy(['run', 'hello', 'a', '-s', 'b']);
  assert.equal(after.code, 0, after.stderr);
  assert.equal(after.stdout, 'hello\ta,b\nno newline\n', '-s is global, not an argument');
  const passed = wippy(['run', 'hello', '--', '-v']);
  assert.equal(passed.stdout, 'hello\t-v\nno newline\n', 'after -- it is an argument');
});

test('unknown command, entry and host name what was not found and the closest ids', () => {
  const cmd = wippy(['run', 'helo']);
  assert.equal(cmd.code, 2);
  assert.match(cmd.stderr, /^wippy: unknown command "helo" \(did you mean hello\?\)\. Available commands:\n/);
  const entry = wippy(['run', '--exec', 'cli:ad']);
  assert.equal(entry.code, 2);
  assert.match(entry.stderr, /^wippy: unknown entry "cli:ad" \(did you mean cli:add\?\)\. Runnable entries:\n/);
  const host = wippy(['run', '--exec', 'cli:add', '--host', 'cli:termnal', '1', '2']);
  assert.equal(host.code, 2);
  assert.equal(host.stderr, 'wippy: unknown host "cli:termnal" (did you mean cli:terminal?); hosts: cli:processes, cli:terminal\n');
  const notHost = wippy(['run', '--exec', 'cli:add', '--host', 'cli:add']);
  assert.equal(notHost.stderr, 'wippy: cli:add is a function.lua, not a host (process.host or terminal.host)\n');
  const sub = wippy(['rnu']);
  assert.notEqual(sub.code, 0);
  assert.match(sub.stderr, /unknown command 'rnu'\n\(Did you mean run\?\)/);
});

test('--exec runs on the terminal host with the command exit-code rule; --host chooses', () => {
  const printed = wippy(['run', '--exec', 'cli:printer', 'x']);
  assert.equal(printed.code, 7, printed.stderr);
  assert.equal(printed.stdout, 'printed\tx\n', 'io.print reaches the terminal');
  const add = wippy(['run', '--exec', 'cli:add', '2', '40']);
  assert.equal(add.code, 42, 'a number is the exit code, as for wippy run NAME');
  const onProcessHost = wippy(['run', '--exec', 'cli:noio', '--host', 'cli:processes']);
  assert.equal(onProcessHost.code, 0, onProcessHost.stderr);
  const onTerminal = wippy(['run', '--exec', 'cli:noio']);
  assert.equal(onTerminal.code, 1);
  assert.equal(onTerminal.stderr, 'error: io should not be available here\n');
  const table = wippy(['run', '--exec', 'cli:table', '--host', 'cli:processes']);
  assert.equal(table.code, 0, table.stderr);
  assert.deepEqual(JSON.parse(table.stdout), { a: 1, list: [1, 2] });
});

test('a table raised as an error prints its fields; -v adds kind, details and traceback', () => {
  const r = wippy(['run', 'raise-table']);
  assert.equal(r.code, 1);
  assert.equal(r.stderr, 'error: {code = 42, why = "no disk"}\n');
  const v = wippy(['run', 'raise-table', '-v']);
  assert.equal(v.code, 1);
  const lines = v.stderr.split('\n').filter((l) => !l.startsWith('{')); // -v: debug records too
  assert.deepEqual(lines.slice(0, 2), ['error: {code = 42, why = "no disk"}', '  kind: Internal']);
  assert.match(lines[2]!, /^ {2}details: /);
  assert.deepEqual(JSON.parse(lines[2]!.slice('  details: '.length)), { code: 42, why: 'no disk' });
  assert.equal(lines[3], '  stack traceback:');
  assert.match(v.stderr, /in (upvalue|local|function) 'deeper'/);
});

test('registry show --json', () => {
  const r = wippy(['registry', 'show', 'cli:add', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout) as { id: string; kind: string; origin: string };
  assert.equal(j.id, 'cli:add');
  assert.equal(j.kind, 'function.lua');
  assert.match(j.origin, /^src\/_index\.yaml:\d+$/);
});

test('a misspelled kind, a source without file:// and an unknown module fail the load, each with its line', () => {
  const dir = app(`namespace: app
entries:
  - name: hello
    kind: proces.lua
    source: file://hello.lua
    method: main
  - name: bare
    kind: process.lua
    source: hello.lua
    method: main
  - name: mods
    kind: process.lua
    source: file://hello.lua
    method: main
    modules: [tme]
`, { files: { 'hello.lua': 'return { main = function() return 0 end }\n' } });
  const r = wippy(['run', 'list'], { cwd: dir });
  assert.equal(r.code, 2);
  assert.equal(r.stderr, `wippy: failed to load registry at ${dir}: 3 problems:
  src/_index.yaml:4: entry app:hello: field kind: unknown kind 'proces.lua' (did you mean 'process.lua'?)
  src/_index.yaml:9: entry app:bare: field source: "hello.lua" is a file name, not Lua source (did you mean "file://hello.lua"?)
  src/_index.yaml:15: entry app:mods: field modules[0]: unknown module 'tme' (did you mean 'time'?)
`);
});

test('logger.encoding and logmanager.min_level are checked at load', () => {
  const dir = app('namespace: app\nentries: []\n', { config: 'logger:\n  encoding: xml\nlogmanager:\n  min_level: debug\n' });
  const r = wippy(['run', 'list'], { cwd: dir });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /\.wippy\.yaml:2: logger\.encoding must be "console" or "json" \(got "xml"\)/);
  assert.match(r.stderr, /\.wippy\.yaml:4: logmanager\.min_level must be -1 \(debug\), 0 \(info\), 1 \(warn\) or 2 \(error\) \(got "debug"\)/);
});

test('a runtime that cannot start is one line on stderr and exit 1, not a Node stack trace', () => {
  const dir = app('namespace: app\nentries:\n  - { name: p, kind: process.host, host: { workers: 300 } }\n');
  const r = wippy(['run'], { cwd: dir });
  assert.equal(r.code, 1);
  assert.equal(r.stderr, 'wippy: too many workers: 300 (at most 254)\n');
});
