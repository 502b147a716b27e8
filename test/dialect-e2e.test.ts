// The typed-Lua dialect through the whole runtime: an app on disk whose library exports types,
// a typed process using them, typed functions inline and from a file (test/fixtures/dialect/app);
// errors on the user's lines; and an app with syntax errors failing to load with file, line and
// token (test/fixtures/dialect/broken).
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRuntime, loadApp, type Runtime, WippyError } from '../src/index.js';
import { RegistryError } from '../src/registry/loader.js';

describe('a typed app', () => {
  let rt: Runtime;
  before(async () => { rt = await createRuntime({ root: 'test/fixtures/dialect/app', workers: 2 }); });
  after(async () => { await rt.stop(2000); });

  test('a typed process uses the types its library exports, casts and validation', async () => {
    const r = await rt.exec('app:main');
    assert.equal(r, 'ann (42) admin; 5; Order: field "owner.name": length must be at least 1; 1.5');
  });

  test('a typed inline function runs, and its cast fails with the documented error', async () => {
    assert.equal(await rt.exec('app:square', [7]), 49);
    await assert.rejects(rt.exec('app:square', [2.5]), (e: WippyError) => {
      assert.equal(e.kind, 'Invalid');
      assert.equal(e.message, 'cannot cast 2.5 to integer');
      return true;
    });
  });

  test('an error raised under multi-line annotations names the line it was written on', async () => {
    assert.equal(await rt.exec('app:fails', [1]), true);
    await assert.rejects(rt.exec('app:fails', [-1]), (e: WippyError) => {
      assert.match(e.message, /fails\.lua:11: negative value on line 11/);
      return true;
    });
  });

  test('the registry keeps the source as written and the compiled Lua beside it', () => {
    const main = rt.registry.lua('app:main')!;
    assert.ok(main.source.includes('local function total(o: Order): integer'));
    assert.ok(main.lua.includes('local function total(o       )        '));
    assert.equal(main.lua.split('\n').length, main.source.split('\n').length);
  });
});

test('syntax errors in typed code are load problems naming file, line and token', async () => {
  await assert.rejects(loadApp('test/fixtures/dialect/broken'), (e: RegistryError) => {
    assert.ok(e instanceof RegistryError);
    const byEntry = new Map(e.problems.map((p) => [p.entry, p]));
    assert.equal(e.problems.length, 2, e.message);
    const file = byEntry.get('app:bad_file')!;
    assert.deepEqual({ file: file.file, line: file.line, field: file.field }, { file: 'src/bad.lua', line: 3, field: 'source' });
    assert.equal(file.message, "Lua syntax error: '>' expected near '='");
    const inline = byEntry.get('app:bad_inline')!;
    assert.deepEqual({ file: inline.file, line: inline.line }, { file: 'src/_index.yaml', line: 16 });
    assert.equal(inline.message, "Lua syntax error: unexpected symbol near 'return' (line 3 of the inline source)");
    assert.match(e.message, /src\/bad\.lua:3: entry app:bad_file: field source: Lua syntax error: '>' expected near '='/);
    return true;
  });
});

test('process.upgrade re-reads a typed file and compiles it; a syntax error fails the upgrade naming file, line and token', async () => {
  const { mkdtempSync, writeFileSync, mkdirSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const root = mkdtempSync(join(tmpdir(), 'wippy-dialect-up-'));
  mkdirSync(join(root, 'src'));
  const V1 = [
    'local function main(n: integer): never',
    '  assert(process.registry.register("typed_up_" .. n))',
    '  process.inbox():receive()',
    '  process.upgrade(nil, n + 1)',
    'end',
    'return { main = main }',
  ].join('\n');
  writeFileSync(join(root, 'src', 'up.lua'), V1);
  writeFileSync(join(root, 'src', 'up2.lua'), V1);
  writeFileSync(join(root, 'src', '_index.yaml'), [
    'namespace: up',
    'entries:',
    '  - { name: processes, kind: process.host, host: { workers: 1 } }',
    '  - { name: t, kind: process.lua, source: file://up.lua, method: main }',
    '  - { name: t2, kind: process.lua, source: file://up2.lua, method: main }',
  ].join('\n'));
  const rt = await createRuntime({ root });
  // the name, however late (no wall-clock bound), unless the process already ended
  const waitName = async (name: string, running: Promise<unknown>) => {
    let done = false;
    running.then(() => { done = true; }, () => { done = true; });
    while (rt.lookup(name) === undefined && !done) await new Promise((r) => setTimeout(r, 5));
    assert.ok(!done, `process ended before registering ${name}`);
  };
  try {
    const first = rt.exec('up:t', [1]);
    await waitName('typed_up_1', first);
    writeFileSync(join(root, 'src', 'up.lua'), 'type Out = {n: integer}\nlocal function main(n: integer): integer\n  return Out({ n = n }).n * 10\nend\nreturn { main = main }\n');
    rt.send('typed_up_1', 'go');
    assert.equal(await first, 20);

    const second = rt.exec('up:t2', [5]);
    await waitName('typed_up_5', second);
    writeFileSync(join(root, 'src', 'up2.lua'), 'local function main(n: integer\n  return n\nend\nreturn { main = main }\n');
    rt.send('typed_up_5', 'go');
    await assert.rejects(second, (e: WippyError) => {
      assert.match(e.message, /^upgrade: create failed: .*up2\.lua:2: syntax error: '\)' expected near 'return'/);
      return true;
    });
  } finally {
    await rt.stop(1000);
  }
});
