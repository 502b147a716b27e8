// `modules:` names and env entries in the registry pipeline: an unknown module is a load problem
// naming the entry, field, file, line and the closest built-in module; env entries are checked
// for their references; and every name the registry accepts is one a process can require.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { loadApp, RegistryError } from '../src/registry/loader.js';
import { createRegistry } from '../src/registry/registry.js';
import { BUILTIN_MODULES, unknownModule } from '../src/registry/modules.js';
import { createRuntime } from '../src/index.js';

async function app(files: Record<string, string>): Promise<string> {
  const root = await mkdtemp(path.join(os.tmpdir(), 'wippy-modules-'));
  for (const [rel, content] of Object.entries(files)) {
    const full = path.join(root, rel);
    await mkdir(path.dirname(full), { recursive: true });
    await writeFile(full, content);
  }
  return root;
}

function problems(fn: () => unknown): RegistryError {
  try { fn(); } catch (err) { assert.ok(err instanceof RegistryError, String(err)); return err; }
  assert.fail('expected a RegistryError');
}

test('a typo in modules: is a load error naming file, line, entry, field and the closest module', async () => {
  const root = await app({
    'src/_index.yaml': [
      'version: "1.0"',
      'namespace: app',
      'entries:',
      '  - name: worker',
      '    kind: process.lua',
      '    source: "return { main = function() end }"',
      '    method: main',
      '    modules:',
      '      - json',
      '      - tme',
      '      - loger',
      '',
    ].join('\n'),
  });
  const err = await loadApp(root).then(() => assert.fail('loaded'), (e: unknown) => e as RegistryError);
  assert.ok(err instanceof RegistryError, String(err));
  assert.deepEqual(err.problems.map((p) => [p.file, p.line, p.entry, p.field]), [
    ['src/_index.yaml', 10, 'app:worker', 'modules[1]'],
    ['src/_index.yaml', 11, 'app:worker', 'modules[2]'],
  ]);
  assert.equal(err.problems[0]!.message, "unknown module 'tme' (did you mean 'time'?)");
  assert.equal(err.problems[1]!.message, "unknown module 'loger' (did you mean 'logger'?)");
  assert.match(err.message, /src\/_index\.yaml:10: entry app:worker: field modules\[1\]: unknown module 'tme' \(did you mean 'time'\?\)\n/);
});

test('an unknown module with no close name lists the built-in modules', () => {
  const err = problems(() => createRegistry([
    { id: 'app:f', kind: 'function.lua', source: 'return { f = function() end }', method: 'f', modules: ['sql'] },
  ], { root: os.tmpdir() }));
  assert.equal(err.problems.length, 1);
  assert.equal(err.problems[0]!.message, `unknown module 'sql'; built-in modules are ${BUILTIN_MODULES.join(', ')}`);
  assert.equal(unknownModule('json'), undefined);
  assert.match(unknownModule('JSON')!, /did you mean 'json'/);
});

test('env entries: storages must exist and be storages, routers may not contain themselves, names are unique', () => {
  const err = problems(() => createRegistry([
    { id: 'app:mem', kind: 'env.storage.memory' },
    { id: 'app:static', kind: 'env.storage.static', values: { A: 'x', B: { nested: true } } },
    { id: 'app:loop', kind: 'env.storage.router', storages: ['mem', 'loop'] },
    { id: 'app:A', kind: 'env.variable', storage: 'mme' },
    { id: 'app:B', kind: 'env.variable', storage: 'app:A' },
    { id: 'app:C', kind: 'env.variable', variable: 'A', storage: 'mem' },
    { id: 'app:file', kind: 'env.storage.file' },
  ], { root: os.tmpdir() }));
  const got = err.problems.map((p) => `${p.entry} ${p.field}: ${p.message}`).sort();
  assert.deepEqual(got, [
    'app:A storage: storage app:mme does not exist (did you mean app:mem?)',
    'app:B storage: storage app:A is a env.variable; expected an env.storage.* entry',
    'app:C variable: env variable A is already defined by app:A',
    'app:file file_path: is required',
    'app:loop storages[1]: a router cannot contain itself',
    'app:static values.B: must be a string (or a number or boolean, kept as text)',
  ].sort());
});

test('every module the registry accepts can be required by a process that lists it', async () => {
  const names = [...BUILTIN_MODULES];
  const rt = await createRuntime({ entries: [
    { id: 'app:host', kind: 'process.host', host: { workers: 1 } },
    { id: 'app:all', kind: 'process.lua', method: 'main', modules: [...BUILTIN_MODULES], source: `
return { main = function()
  local got = {}
  for _, name in ipairs(${JSON.stringify(names).replace('[', '{').replace(/]$/, '}')}) do
    got[#got + 1] = name .. "=" .. type(require(name))
  end
  return table.concat(got, ",")
end }` },
  ] });
  try {
    const r = await rt.exec('app:all', [], { host: 'app:host' }) as string;
    const kinds = Object.fromEntries(r.split(',').map((kv) => kv.split('=') as [string, string]));
    for (const n of names) assert.ok(kinds[n] === 'table' || kinds[n] === 'userdata', `require("${n}") gave ${kinds[n]}`);
  } finally { await rt.stop(1000); }
});
