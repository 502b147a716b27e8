// `wippy test`, run as a child process against test/fixtures/test-app: discovery (meta.type: test
// function entries and a use_case: test command), one line per test in suite/order order, BDD
// cases under their entry, failures (false, error, failed cases, timeout), the summary line,
// --filter / positional patterns, --timeout, and the exit codes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { CHILD_NODE_FLAGS } from './helpers/node-child.js';

const BIN = resolve('bin/wippy.js');
const APP = resolve('test/fixtures/test-app');

function wippyTest(args: string[]) {
  const r = spawnSync(process.execPath, [...CHILD_NODE_FLAGS, BIN, '-C', APP, 'test', ...args], { encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The per-test lines ("ok    suite › name (id) 12ms" / "FAIL  ..."), durations dropped. */
function testLines(stdout: string): string[] {
  return stdout.split('\n').filter((l) => /^(ok  |FAIL)  /.test(l)).map((l) => l.replace(/ \d+ms$/, ''));
}

test('the whole app: every test once, in suite and meta.order order, failures explained, exit 1', () => {
  const r = wippyTest(['--timeout', '1s']);
  assert.equal(r.code, 1, r.stderr);
  assert.deepEqual(testLines(r.stdout), [
    'FAIL  basics › raises an error (app.test:errors)',
    'ok    basics › returns nothing (app.test:plain)',
    'FAIL  basics › returns false (app.test:returns_false)',
    'FAIL  bdd › failing cases (app.test:bdd_failing)',
    'ok    bdd › mocks and hooks (app.test:mocks)',
    'ok    math › simple assertions (app.test:simple)',
    'ok    math › Math operations (app.test:math)',
    'FAIL  slow › never returns (app.test:hangs)',
    'ok    entrypoint › smoke (app.test:smoke)',
  ]);
  const lines = r.stdout.split('\n');
  assert.equal(lines[0], 'running 9 tests');
  assert.equal(lines.at(-2), '5 passed, 4 failed');
  assert.equal(lines.at(-1), '');
  // why each one failed, on the lines under it
  assert.match(r.stdout, /raises an error.*\n\s+app\.test:errors:1: boom: the test raised\n/);
  assert.match(r.stdout, /returns false.*\n\s+returned false\n/);
  assert.match(r.stdout, /never returns.*\n\s+timed out after 1000ms\n/);
  // BDD cases under their entry: passed, failed with the assertion's message and line, skipped
  assert.match(r.stdout, /failing cases.*\n {6}\+ arith good\n {6}- arith bad\n {8}app\.test:bdd_failing:5: eq: expected 3, got 2: one plus one\n {6}~ arith later \(skipped\)\n/);
  assert.match(r.stdout, /Math operations.*\n {6}\+ calculator adds numbers\n {6}\+ calculator divides\n {6}\+ calculator reports division by zero\n/);
  assert.match(r.stdout, /mocks and hooks.*\n {6}\+ outer inner mocks process\.send\n {6}\+ outer inner mocks a field of a module table\n {6}\+ outer inner sees them restored\n {6}\+ order hooks ran parent first, child last\n/);
});

test('--filter keeps tests whose id, suite or name matches; all passing -> exit 0', () => {
  const r = wippyTest(['--filter', 'math', '--filter', 'plain', '--filter', 'smoke']);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.deepEqual(testLines(r.stdout), [
    'ok    basics › returns nothing (app.test:plain)',
    'ok    math › simple assertions (app.test:simple)',
    'ok    math › Math operations (app.test:math)',
    'ok    entrypoint › smoke (app.test:smoke)',
  ]);
  assert.match(r.stdout, /\n4 passed, 0 failed\n$/);
});

test('a positional pattern with * is a glob over the id; one failure -> exit 1', () => {
  const r = wippyTest(['app.test:ret*']);
  assert.equal(r.code, 1);
  assert.deepEqual(testLines(r.stdout), ['FAIL  basics › returns false (app.test:returns_false)']);
  assert.match(r.stdout, /\n0 passed, 1 failed\n$/);
});

test('the use_case: test entrypoint alone', () => {
  const r = wippyTest(['--filter', 'entrypoint']);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.deepEqual(testLines(r.stdout), ['ok    entrypoint › smoke (app.test:smoke)']);
});

test('a filter that matches nothing fails, and says so', () => {
  const r = wippyTest(['--filter', 'no-such-test']);
  assert.equal(r.code, 1);
  assert.equal(r.stdout, 'no tests match "no-such-test"\n');
});

test('a malformed --timeout is a usage error (exit 2) naming the value', () => {
  const r = wippyTest(['--timeout', 'soon']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--timeout must be a duration like 30s, 500ms or 2m \(got "soon"\)/);
});

test('--timeout values: units and bare milliseconds', async () => {
  const { parseDurationMs } = await import('../src/cli/test-runner.js');
  assert.equal(parseDurationMs('30s'), 30_000);
  assert.equal(parseDurationMs('500ms'), 500);
  assert.equal(parseDurationMs('1.5s'), 1500);
  assert.equal(parseDurationMs('2m'), 120_000);
  assert.equal(parseDurationMs('1h'), 3_600_000);
  assert.equal(parseDurationMs('250'), 250);
  for (const bad of ['', 'soon', '0', '-1s', '1d', 's']) assert.equal(parseDurationMs(bad), undefined, bad);
});
