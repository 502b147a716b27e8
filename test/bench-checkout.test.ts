// bench/checkout.ts: the check the A/B tools make that each side runs its own checkout's kernel
// (its dist built from its src, and not rebuilt during the run), on a made-up checkout in a
// temporary directory, and on this checkout's own build.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkBuilt, checkUnchanged, distKernel, kernelDigest } from '../bench/checkout.js';

function checkout(files: Record<string, string>, built: Record<string, string> = files): string {
  const root = mkdtempSync(join(tmpdir(), 'checkout-test-'));
  for (const [dir, set] of [['src/lua/kernel', files], ['dist/src/lua/kernel', built]] as const) {
    for (const [name, text] of Object.entries(set)) {
      const p = join(root, dir, name);
      mkdirSync(join(p, '..'), { recursive: true });
      writeFileSync(p, text);
    }
  }
  return root;
}

test('a checkout built from its sources passes, with the digest of its kernel', () => {
  const root = checkout({ 'init.lua': 'return 1\n', 'sub/x.lua': 'return 2\n' });
  try {
    const d = checkBuilt(root);
    assert.equal(d, kernelDigest(distKernel(root)));
    assert.match(d, /^[0-9a-f]{64}$/);
    assert.doesNotThrow(() => checkUnchanged(root, d, 'now'));
  } finally { rmSync(root, { recursive: true, force: true }); }
});

test('a stale build, a missing file and an extra file are each named', () => {
  const cases: Array<[Record<string, string>, Record<string, string>, string]> = [
    [{ 'init.lua': 'return 1\n' }, { 'init.lua': 'return 0\n' }, 'init.lua'],
    [{ 'init.lua': 'a', 'pids.lua': 'b' }, { 'init.lua': 'a' }, 'pids.lua'],
    [{ 'init.lua': 'a' }, { 'init.lua': 'a', 'old.lua': 'c' }, 'old.lua'],
  ];
  for (const [src, built, named] of cases) {
    const root = checkout(src, built);
    try {
      assert.throws(() => checkBuilt(root), (e: Error) => e.message.includes(`differs: ${named}`) && e.message.includes('npm run build'));
    } finally { rmSync(root, { recursive: true, force: true }); }
  }
});

test('a kernel changed after the start (a rebuild during a run) fails checkUnchanged, naming when', () => {
  const root = checkout({ 'init.lua': 'return 1\n' });
  try {
    const d = checkBuilt(root);
    writeFileSync(join(distKernel(root), 'init.lua'), 'return 1 -- rebuilt\n');
    assert.throws(() => checkUnchanged(root, d, 'during spawn-exit (round 2)'), /changed during spawn-exit \(round 2\)/);
  } finally { rmSync(root, { recursive: true, force: true }); }
});

test('the digest depends on contents and paths only, and this checkout is built from its sources', () => {
  const a = checkout({ 'x.lua': 'same' });
  const b = checkout({ 'x.lua': 'same' });
  const c = checkout({ 'y.lua': 'same' });
  try {
    assert.equal(kernelDigest(distKernel(a)), kernelDigest(distKernel(b)));
    assert.notEqual(kernelDigest(distKernel(a)), kernelDigest(distKernel(c)));
  } finally { for (const r of [a, b, c]) rmSync(r, { recursive: true, force: true }); }
  // (dist/test/ runs beside dist/src: the checkout is two levels up)
  assert.doesNotThrow(() => checkBuilt(resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')));
});
