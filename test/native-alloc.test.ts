// The Lua state's allocator on our module (native/lua/lalloc.c: small blocks from pages of one
// size class, the rest dlmalloc's), driven through its exported test hooks (`wippy_alloc`, the
// allocator itself, and `wippy_alloc_stat`) on the module instance of a real engine, against a
// model: seeded sequences of allocations, reallocations and frees of sizes on both sides of the
// page limit, with blocks dlmalloc made (as the state's first blocks are) among them. Every block
// holds a pattern of its own; the model checks that no two live blocks overlap (a block handed out
// twice), that a reallocation keeps the first min(old, new) bytes, that every live block keeps its
// pattern, that the page count comes back when a burst is freed, and that a failing allocation
// returns NULL and leaves the block it would have replaced as it was. Then, through Lua on both
// modules: out of memory raises "not enough memory" and the heap count falls after a collection.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { LuaEngine } from 'wasmoon';
import { luaFactory } from '../src/lua/module.js';
import { mulberry32 } from './helpers/prng.js';
import { bareLua } from './helpers/lua-module.js';

interface Native {
  factory: ReturnType<typeof luaFactory>;
  m: any;
  engine: LuaEngine;
  alloc(ptr: number, osize: number, nsize: number): number;
  stat(what: number, arg?: number): number;
}

const OPTS = { openStandardLibs: true, injectObjects: false, enableProxy: false };

/** An engine on our module, and its instance's test hooks (captured as the glue instantiates it). */
async function nativeEngine(): Promise<Native> {
  let inst: WebAssembly.Instance | undefined;
  const original = WebAssembly.instantiate;
  (WebAssembly as any).instantiate = function (this: unknown, ...args: unknown[]) {
    return (original as any).apply(WebAssembly, args).then((r: any) => {
      const i = r instanceof WebAssembly.Instance ? r : r.instance;
      if (i instanceof WebAssembly.Instance && typeof i.exports.wippy_alloc === 'function') inst = i;
      return r;
    });
  };
  let engine: LuaEngine;
  const factory = luaFactory('native');
  try {
    engine = await factory.createEngine(OPTS);
  } finally {
    (WebAssembly as any).instantiate = original;
  }
  assert.ok(inst, 'the module exports wippy_alloc');
  const ex = inst.exports as any;
  return {
    factory, m: (engine.global as any).lua.module, engine,
    alloc: (ptr, osize, nsize) => ex.wippy_alloc(0, ptr, osize, nsize) >>> 0,
    stat: (what, arg = 0) => ex.wippy_alloc_stat(what, arg) >>> 0,
  };
}

interface Block { size: number; seed: number; foreign: boolean }

function fill(m: any, p: number, size: number, seed: number): void {
  const h: Uint8Array = m.HEAPU8;
  for (let i = 0; i < size; i++) h[p + i] = (seed + i * 31) & 255;
}

function intact(m: any, p: number, size: number, seed: number): boolean {
  const h: Uint8Array = m.HEAPU8;
  for (let i = 0; i < size; i++) if (h[p + i] !== ((seed + i * 31) & 255)) return false;
  return true;
}

/** The first live block [q, q + size) that [p, p + n) overlaps (other than `self`), or undefined. */
function overlap(live: Map<number, Block>, p: number, n: number, self = -1): number | undefined {
  for (const [q, b] of live) if (q !== self && p < q + b.size && q < p + n) return q;
  return undefined;
}

test('lalloc: seeded alloc/realloc/free sequences against a model', async () => {
  const N = await nativeEngine();
  const { m, alloc, stat } = N;
  const MAXSMALL = stat(2);
  assert.equal(MAXSMALL, 512);
  assert.equal(stat(4, N.engine.global.address), 1, 'the engine\'s state runs the allocator');
  for (const seed of [1, 2, 3]) {
    const rnd = mulberry32(seed);
    const int = (lo: number, hi: number) => lo + Math.floor(rnd() * (hi - lo + 1));
    const pick = (): number => { const r = rnd(); return r < 0.6 ? int(1, MAXSMALL) : r < 0.8 ? int(1, 64) : int(MAXSMALL + 1, 3000); };
    const live = new Map<number, Block>();
    const inPagesBefore = stat(5);
    let reallocs = 0, moved = 0, foreign = 0, ownSmall = 0;
    for (let op = 0; op < 20_000; op++) {
      const r = rnd();
      const keys = [...live.keys()];
      if (live.size === 0 || r < 0.35) {  // malloc; osize is the object's type tag, not a size
        const n: number = pick();
        const p = alloc(0, int(0, 8), n);
        assert.ok(p !== 0 && p % 8 === 0, `malloc(${n}) -> ${p}`);
        assert.equal(overlap(live, p, n), undefined, `malloc(${n}) -> ${p} overlaps a live block`);
        const b = { size: n, seed: int(0, 255), foreign: false };
        fill(m, p, n, b.seed);
        live.set(p, b);
        if (stat(1, p) === 1) { assert.ok(n <= MAXSMALL); ownSmall++; }
      } else if (r < 0.40) {  // a block dlmalloc made (as the state's first ones are)
        const n: number = pick();
        const p: number = m._malloc(n);
        assert.equal(stat(1, p), 0);
        const b = { size: n, seed: int(0, 255), foreign: true };
        fill(m, p, n, b.seed);
        live.set(p, b);
        foreign++;
      } else if (r < 0.70) {  // realloc
        const p = keys[int(0, keys.length - 1)]!;
        const b = live.get(p)!;
        const n: number = pick();
        const q = alloc(p, b.size, n);
        assert.ok(q !== 0 && q % 8 === 0, `realloc(${b.size} -> ${n}) -> ${q}`);
        assert.ok(intact(m, q, Math.min(b.size, n), b.seed), `realloc(${b.size} -> ${n}) lost bytes`);
        live.delete(p);
        assert.equal(overlap(live, q, n), undefined, `realloc(${b.size} -> ${n}) -> ${q} overlaps a live block`);
        const nb = { size: n, seed: int(0, 255), foreign: false };
        fill(m, q, n, nb.seed);
        live.set(q, nb);
        reallocs++;
        if (q !== p) moved++;
      } else {  // free
        const p = keys[int(0, keys.length - 1)]!;
        assert.equal(alloc(p, live.get(p)!.size, 0), 0);
        live.delete(p);
      }
      if (op % 2000 === 1999) {
        for (const [p, b] of live) assert.ok(intact(m, p, b.size, b.seed), `block ${p} (${b.size} bytes) changed`);
        const ours: number = [...live.keys()].filter((p) => stat(1, p) === 1).length;
        assert.equal(stat(5) - inPagesBefore, ours, 'blocks in use in pages');
      }
    }
    assert.ok(reallocs > 4000 && moved > 1000 && foreign > 500 && ownSmall > 3000, `every kind of step occurred (${reallocs}, ${moved}, ${foreign}, ${ownSmall})`);
    for (const [p, b] of live) {
      assert.ok(intact(m, p, b.size, b.seed));
      assert.equal(alloc(p, b.size, 0), 0);
    }
    assert.equal(stat(5), inPagesBefore, 'every page block freed');
  }
});

test('lalloc: a burst\'s pages go back to dlmalloc as they empty', async () => {
  const { alloc, stat } = await nativeEngine();
  const rnd = mulberry32(7);
  const pagesBefore = stat(0);
  const blocks: number[] = [];
  for (let i = 0; i < 20_000; i++) blocks.push(alloc(0, 5, 40));
  const perPage = Math.floor(stat(3) / 40);
  assert.ok(stat(0) - pagesBefore >= Math.floor(20_000 / perPage), `pages grew: ${pagesBefore} -> ${stat(0)}`);
  for (let i = blocks.length - 1; i > 0; i--) {  // freed in a seeded random order
    const j = Math.floor(rnd() * (i + 1));
    [blocks[i], blocks[j]] = [blocks[j]!, blocks[i]!];
  }
  for (const p of blocks) alloc(p, 40, 0);
  assert.ok(stat(0) <= pagesBefore + 1, `pages held after the burst: ${stat(0)} (before: ${pagesBefore})`);
});

test('lalloc: a failing allocation returns NULL and leaves the old block as it was', async () => {
  const { m, alloc, stat } = await nativeEngine();
  const HUGE = 0xffffff00;
  assert.equal(alloc(0, 0, HUGE), 0);
  for (const n of [24, 300, 2000]) {
    const p = alloc(0, 0, n);
    fill(m, p, n, 99);
    assert.equal(alloc(p, n, HUGE), 0, `realloc(${n} -> huge)`);
    assert.ok(intact(m, p, n, 99), `the ${n}-byte block is unchanged`);
    const q = alloc(p, n, n + 8);  // still a live block: it can grow
    assert.ok(intact(m, q, n, 99));
    alloc(q, n + 8, 0);
  }
  assert.equal(stat(1, 0), 0);
});

test('lalloc: a state made with another allocator keeps it (wasmoon\'s traceAllocations)', async () => {
  const N = await nativeEngine();
  const traced = await N.factory.createEngine({ ...OPTS, traceAllocations: true });  // the same instance
  assert.equal((traced.global as any).lua.module, N.m);
  assert.equal(N.stat(4, traced.global.address), 0, 'the traced state keeps wasmoon\'s allocator');
  assert.ok(traced.global.getMemoryUsed() > 0, 'wasmoon\'s JS allocator counts');
  traced.global.setMemoryMax(traced.global.getMemoryUsed() + 64 * 1024);
  await assert.rejects(traced.doString('local t = {} for i = 1, 1e6 do t[i] = i end'), /not enough memory/);
  assert.equal(N.stat(4, N.engine.global.address), 1);
});

test('lalloc: out of memory and the heap count through Lua, on both modules', async () => {
  const results: Record<string, string> = {};
  for (const kind of ['native', 'wasmoon'] as const) {
    const lua = await bareLua(kind);
    try {
      results[kind] = lua.run(`
        local ok, e = pcall(string.rep, "x", 0x7fffff00)
        local t = {}
        for i = 1, 20000 do t[i] = { i, tostring(i), string.rep("z", i % 600) } end
        local full = collectgarbage("count")
        t = nil
        collectgarbage("collect")
        local after = collectgarbage("count")
        return tostring(ok) .. " " .. tostring(e) .. " " .. tostring(full - after > 5000)`);
    } finally { lua.close(); }
  }
  assert.equal(results.native, 'false not enough memory true');
  assert.equal(results.native, results.wasmoon);
});
