// Issue 11's acceptance app: test/fixtures/docs-app was written only from the Wippy documentation
// (the type system, funcs/future/context, functions, base, overview, json/yaml/base64, uuid/hash,
// logger/env/events, the CLI guide's `wippy test` and the testing framework pages), as a Wippy user
// would: typed Lua throughout, a library.lua exporting types, funcs.call/async into function.lua
// entries on two process hosts, every standard module, BDD test entries importing
// `wippy.test:test`, a simple test, and a `use_case: test` entrypoint. `wippy test` runs it as a
// child process; every test must pass, and the number of tests and of BDD cases is checked, so a
// test or case that is silently skipped or lost fails here. Where the app had to adapt to a
// deviation of wippy-ts from the docs, a comment in the app says so.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { CHILD_NODE_FLAGS } from './helpers/node-child.js';

const BIN = resolve('bin/wippy.js');
const APP = resolve('test/fixtures/docs-app');

/**
 * Per test entry, in the runner's order (suites by name, meta.order within a suite, the
 * entrypoint last): its line, and how many BDD cases it reports passed and skipped.
 */
const EXPECTED: Array<[line: string, passed: number, skipped: number]> = [
  ['ok    framework › The test framework (app.test:framework)', 10, 1],
  ['ok    functions › funcs, futures and executors (app.test:funcs)', 19, 0],
  ['ok    functions › Context propagation (app.test:context)', 3, 0],
  ['ok    functions › Two hosts (app.test:hosts)', 2, 0],
  ['ok    functions › integration (app.test:integration)', 0, 0],
  ['ok    lua › Standard libraries (app.test:base)', 12, 0],
  ['ok    modules › json, yaml, base64 (app.test:data)', 14, 0],
  ['ok    modules › uuid and hash (app.test:ids)', 9, 0],
  ['ok    modules › logger, env, events (app.test:system)', 8, 0],
  ['ok    types › Library types (app.test:library)', 8, 0],
  ['ok    types › Type system (app.test:types)', 21, 0],
  ['ok    entrypoint › smoke (app.test:smoke)', 0, 0],
];

test('the docs app passes under `wippy test`: every test and every case, none lost', () => {
  const r = spawnSync(process.execPath, [...CHILD_NODE_FLAGS, BIN, '-C', APP, 'test'], { encoding: 'utf8', timeout: 300_000 });
  const out = r.stdout ?? '';
  assert.equal(r.status, 0, out + r.stderr);
  const lines = out.split('\n');
  assert.equal(lines[0], `running ${EXPECTED.length} tests`);
  assert.equal(lines.at(-2), `${EXPECTED.length} passed, 0 failed`);
  assert.equal(lines.at(-1), '');

  // each test's line, in order, with its passed and skipped cases; no failed case anywhere
  const seen: Array<[string, number, number]> = [];
  for (const line of lines) {
    if (/^(ok  |FAIL)  /.test(line)) seen.push([line.replace(/ \d+ms$/, ''), 0, 0]);
    else if (/^ {6}\+ /.test(line)) seen[seen.length - 1][1]++;
    else if (/^ {6}~ /.test(line)) seen[seen.length - 1][2]++;
    else assert.doesNotMatch(line, /^ {6}- /, 'a failed case');
  }
  assert.deepEqual(seen, EXPECTED);
  // the entrypoint's own output, printed next to its line
  assert.match(out, /\nsmoke: found Bob\nok    entrypoint › smoke/);
});
