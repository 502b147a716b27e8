// Which kernel a checkout's side of an A/B tool runs. The tools that measure two checkouts
// (bench/ab.ts, bench/spawn-count.ts, bench/msg-path.ts --base) run each side's `dist/`, whose
// kernel (`dist/src/lua/kernel/*.lua`, read by src/lua/engine.ts from beside its own file) is a
// copy of `src/lua/kernel/` made by the build. A side whose dist was built from other sources
// (a build not rerun after a change, one still running, a checkout switched under its dist)
// measures another kernel than the checkout it names, and its figures look plausible: a helper
// once read the baseline's counts, the baseline's line numbers in the rows, on the `--b .` side.
// So each side's kernel is checked, loudly:
//   - kernelDigest(dir): sha256 over the sorted relative paths and contents of the .lua files
//     under dir (the kernel is ~30 files: hashing costs about a millisecond);
//   - checkBuilt(root): root's dist kernel has the same digest as its src kernel, else an Error
//     naming the files that differ (or are only on one side) and the build to run;
//   - the tools keep the digest they started with and check it again around each run, so a
//     rebuild during a run (of either side) fails it instead of mixing two kernels' figures.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** The .lua files under dir, by path relative to it, with their contents. */
function luaFiles(dir: string, rel = '', into = new Map<string, string>()): Map<string, string> {
  for (const name of readdirSync(join(dir, rel)).sort()) {
    const p = rel ? `${rel}/${name}` : name;
    if (statSync(join(dir, p)).isDirectory()) luaFiles(dir, p, into);
    else if (name.endsWith('.lua')) into.set(p, readFileSync(join(dir, p), 'utf8'));
  }
  return into;
}

/** sha256 (hex) of the .lua files under dir: their relative paths and contents, in path order. */
export function kernelDigest(dir: string): string {
  const h = createHash('sha256');
  for (const [p, text] of luaFiles(dir)) h.update(`${p}\0${text.length}\0${text}\0`);
  return h.digest('hex');
}

/** The kernel directory of root's build. */
export const distKernel = (root: string): string => resolve(root, 'dist', 'src', 'lua', 'kernel');

/**
 * Throw unless root's built kernel (dist/src/lua/kernel) is its sources' (src/lua/kernel), naming
 * what differs; -> the digest of the built kernel. A checkout without src/ (a copied dist) is
 * taken as it is.
 */
export function checkBuilt(root: string): string {
  const built = distKernel(root);
  if (!existsSync(built)) throw new Error(`${root}: no ${built} (build the checkout: npm run build)`);
  const srcDir = resolve(root, 'src', 'lua', 'kernel');
  if (!existsSync(srcDir)) return kernelDigest(built);
  const a = luaFiles(srcDir), b = luaFiles(built);
  const differ = [...new Set([...a.keys(), ...b.keys()])].filter((p) => a.get(p) !== b.get(p));
  if (differ.length > 0) {
    throw new Error(`${root}: its dist kernel is not built from its src/lua/kernel (differs: ${differ.slice(0, 8).join(', ')}`
      + `${differ.length > 8 ? ', ...' : ''}); run npm run build there, and do not rebuild it during a run`);
  }
  return kernelDigest(built);
}

/** Throw unless root's built kernel still has digest `want` (taken by checkBuilt at the start). */
export function checkUnchanged(root: string, want: string, when: string): void {
  const now = kernelDigest(distKernel(root));
  if (now !== want) {
    throw new Error(`${root}: its dist kernel changed ${when} (digest ${want.slice(0, 12)} at the start, ${now.slice(0, 12)} now): `
      + 'the figures would mix two kernels; do not rebuild a checkout while a tool measures it');
  }
}
