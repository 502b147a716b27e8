// The package as users get it: `npm pack` ships only what they need (package.json `files`), and
// the tarball, installed into a scratch project, loads and runs a job. Offline: the tarball is
// unpacked into the scratch project's node_modules and its dependencies are linked from this
// repository's node_modules (what `npm install` would put there). Needs a build (dist/).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CHILD_NODE_FLAGS } from './helpers/node-child.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), 'wippy-pack-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

const npm = (args: string[], cwd: string) => {
  const r = spawnSync('npm', args, { cwd, encoding: 'utf8', timeout: 300_000 });
  assert.equal(r.status, 0, `npm ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
};

test('npm pack ships the compiled package, not the sources, tests or benchmarks', async (t) => {
  // --ignore-scripts: no `prepare` build here (the test runs from the build it checks)
  const [info] = JSON.parse(npm(['pack', '--ignore-scripts', '--json', '--pack-destination', scratch], ROOT)) as
    Array<{ filename: string; files: Array<{ path: string }> }>;
  const files = info!.files.map((f) => f.path);
  for (const need of ['package.json', 'README.md', 'bin/wippy.js', 'dist/src/index.js', 'dist/src/index.d.ts',
    'dist/src/host/worker.js', 'dist/src/wasm/pool-worker.js', 'dist/src/lua/kernel/init.lua', 'dist/src/lua/lib/json.lua',
    'docs/job-runner.md', 'vendor/lua-wasm/lua54.wasm']) {
    assert.ok(files.includes(need), `${need} is in the package`);
  }
  // vendor/: only our Lua module (WIPPY_LUA=native), not the build inputs or the stand-in packages
  const stray = files.filter((f) => (/^(src|test|bench|stress|native-bench|scripts|vendor|node_modules|dist\/(test|bench|stress|native-bench))\//.test(f) && f !== 'vendor/lua-wasm/lua54.wasm') || f.endsWith('.map'));
  assert.deepEqual(stray, []);

  await t.test('installed from the tarball in a scratch project, it runs a job and the CLI', () => {
    const app = join(scratch, 'app');
    const nm = join(app, 'node_modules');
    mkdirSync(nm, { recursive: true });
    const r = spawnSync('tar', ['-xzf', join(scratch, info!.filename), '-C', scratch], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    renameSync(join(scratch, 'package'), join(nm, 'wippy-ts'));
    const pkg = JSON.parse(readFileSync(join(nm, 'wippy-ts', 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    for (const dep of Object.keys(pkg.dependencies)) {
      mkdirSync(dirname(join(nm, dep)), { recursive: true });
      symlinkSync(join(ROOT, 'node_modules', dep), join(nm, dep), 'dir');
    }
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'scratch', type: 'module', private: true }));
    writeFileSync(join(app, 'main.js'), `
      import { createRuntime } from 'wippy-ts';
      const rt = await createRuntime({ entries: [
        { id: 'app:processes', kind: 'process.host', host: { workers: 2 } },
        { id: 'app:square', kind: 'function.lua', method: 'main', source: 'return { main = function(x) return x * x end }' },
      ] });
      console.log(await rt.exec('app:square', [12]));
      await rt.close();
    `);
    const run = spawnSync(process.execPath, [...CHILD_NODE_FLAGS, 'main.js'], { cwd: app, encoding: 'utf8', timeout: 120_000 });
    assert.equal(run.status, 0, run.stderr);
    assert.equal(run.stdout, '144\n');
    const cli = spawnSync(process.execPath, [...CHILD_NODE_FLAGS, join(nm, 'wippy-ts', 'bin', 'wippy.js'), '--help'], { cwd: app, encoding: 'utf8', timeout: 120_000 });
    assert.equal(cli.status, 0, cli.stderr);
    assert.match(cli.stdout, /Usage: wippy/);
  });
});
