// The `wippy` CLI, run as a child process against fixture apps.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, mkdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { CHILD_NODE_FLAGS } from './helpers/node-child.js';

const BIN = resolve('bin/wippy.js');
const APP = resolve('test/fixtures/cli-app');
const DEMO = resolve('config/default');

function wippy(args: string[], opts: { cwd?: string; input?: string } = {}) {
  const r = spawnSync(process.execPath, [...CHILD_NODE_FLAGS, BIN, ...args], { cwd: opts.cwd ?? APP, input: opts.input ?? '', encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('wippy version', () => {
  const r = wippy(['version']);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /^wippy-ts \d+\.\d+\.\d+ \(node v\d+/);
});

test('wippy run list shows meta.command entries', () => {
  const r = wippy(['run', 'list']);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /hello\s+Print the arguments/);
  assert.match(r.stdout, /code\s+Exit with the code given/);
  assert.match(r.stdout, /echo-stdin/);
});

test('wippy run NAME passes args to io.args() and writes stdout/stderr in order', () => {
  const r = wippy(['run', 'hello', 'a', 'b c']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'hello\ta,b c\nno newline\n');
  assert.match(r.stderr, /to stderr/);
});

test('a command result sets the exit code', () => {
  assert.equal(wippy(['run', 'code', '3']).code, 3);
  assert.equal(wippy(['run', 'code', '0']).code, 0);
  const f = wippy(['run', 'fail']);
  assert.equal(f.code, 1);
  assert.match(f.stderr, /it broke/);
  const s = wippy(['run', 'say']);
  assert.equal(s.code, 0);
  assert.equal(s.stdout, 'said\n');
});

test('io.readline reads the command\'s stdin', () => {
  const r = wippy(['run', 'echo-stdin'], { input: 'one\ntwo\n' });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'got: one\ngot: two\n');
});

test('io.read(n) returns at most n bytes, and readline the rest of that line', () => {
  // "é" is two bytes: a 3-byte read that would split it stops before it
  const r = wippy(['run', 'read-stdin'], { input: 'abcdefg\nxyz123\nabé\n' });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, '[ab]<cdefg>[xyz][123][\n][ab][é\n]');
});

test('an unknown command lists the commands that exist', () => {
  const r = wippy(['run', 'nope']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /unknown command "nope"/);
  assert.match(r.stderr, /hello/);
});

test('wippy run --exec runs one entry: exit code from its result', () => {
  const ok = wippy(['run', '--exec', 'cli:add', '2', '40']);
  assert.equal(ok.code, 42, ok.stderr);
  assert.equal(ok.stdout, '', 'a number is the exit code, not printed');
  assert.equal(wippy(['run', '--exec', 'cli:falsy']).code, 1);
  const bad = wippy(['run', '--exec', 'cli:fail']);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /it broke/);
  const noio = wippy(['run', '--exec', 'cli:noio', '--host', 'cli:processes']);
  assert.equal(noio.code, 0, `io must be absent off the terminal host: ${noio.stderr}`);
  const unknown = wippy(['run', '--exec', 'cli:missing']);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /unknown entry "cli:missing"/);
  assert.match(unknown.stderr, /cli:add/);
});

test('a directory without an app explains the expected layout', () => {
  const dir = mkdtempSync(join(tmpdir(), 'wippy-empty-'));
  const r = wippy(['run', 'list'], { cwd: dir });
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /wippy\.lock|_index\.yaml/);
});

test('broken YAML fails before anything starts, naming file and line', () => {
  const dir = mkdtempSync(join(tmpdir(), 'wippy-bad-'));
  mkdirSync(join(dir, 'src'));
  writeFileSync(join(dir, 'src', '_index.yaml'), 'namespace: app\nentries:\n  - name: x\n    kind: [unclosed\n');
  const r = wippy(['run', 'list'], { cwd: dir });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /_index\.yaml:\d+/);
});

test('wippy registry list / show', () => {
  const l = wippy(['registry', 'list', '--kind', 'process.*']);
  assert.equal(l.code, 0, l.stderr);
  assert.match(l.stdout, /cli:hello/);
  assert.match(l.stdout, /cli:processes/);
  assert.doesNotMatch(l.stdout, /cli:add/);
  const j = JSON.parse(wippy(['registry', 'list', '--json']).stdout) as Array<{ id: string }>;
  assert.ok(j.some((e) => e.id === 'cli:add'));
  const s = wippy(['registry', 'show', 'cli:add']);
  assert.equal(s.code, 0);
  assert.match(s.stdout, /function\.lua/);
  const u = wippy(['registry', 'show', 'cli:ad']);
  assert.notEqual(u.code, 0);
  assert.match(u.stderr, /cli:add/);
});

test('the default app runs the demo and exits 0, as npm start runs it (-C config/default)', () => {
  const start = JSON.parse(readFileSync('package.json', 'utf8')).scripts.start as string;
  assert.equal(start, 'node bin/wippy.js -C config/default run demo');
  const r = wippy(['-C', DEMO, 'run', 'demo'], { cwd: resolve('.') });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /100 jobs, sum of squares 338350 \(expected 338350\)/);
});

test('wippy run boots services and shuts down cleanly on SIGINT (exit code 130)', async () => {
  const child = spawn(process.execPath, [...CHILD_NODE_FLAGS, BIN, 'run'], { cwd: APP, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { err += d; });
  await new Promise<void>((r) => { const t = setInterval(() => { if (/Ctrl-C to stop/.test(err)) { clearInterval(t); r(); } }, 20); });
  child.kill('SIGINT');
  const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
  assert.equal(code, 130, err);
  assert.match(out, /service got pid\.cancel service stopping/, "the supervisor stops services first");
});
