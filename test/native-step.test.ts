// native/lua/lstep.c, the step's input and output through a block of the module's memory, against
// the Lua stack path it replaces (src/lua/engine.ts step reads __step's results there on
// wasmoon's module and with WIPPY_CSTEP=0): for seeded groups of frames of every shape pids.lua's
// take_out returns (one to four destinations, up to 60 values, frames of 0-300 arbitrary bytes),
// what the host reads from the block — the next deadline, more, and each frame's thread id and
// bytes, in order — equals what it reads from the stack; input() returns what the host wrote;
// the frame strings stay anchored until the next output() and no longer; malformed groups and
// more than 64 frames are errors. Deliberate mutants of the block's reader (a wrong stride, a
// length one short, the count ignored, thread ids shifted by one frame) must each be caught on
// the same cases. Our module only: wasmoon's has no wippy.native.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { luaFactory, loadChunk } from '../src/lua/module.js';
import { mulberry32 } from './helpers/prng.js';

interface Frame { tid: number; bytes: Uint8Array }
interface Case { nxt: number; more: boolean; groups: Array<{ tid: number; frames: Uint8Array[] }> }

const engine = await luaFactory('native').createEngine({ openStandardLibs: true, injectObjects: false, enableProxy: false });
const m: any = (engine.global as any).lua.module;
const L: number = engine.global.address;
const lenPtr: number = m._malloc(8);
after(() => { m._free(lenPtr); });

/** Run `src` protected; its one result as a string (or the error message, with ok false). */
function run(src: string): { ok: boolean; out: string } {
  const st = loadChunk(m, L, src, '=native-step');
  const ok = st === 0 && m._lua_pcallk(L, 0, 1, 0, 0, 0) === 0;
  const p = m._lua_tolstring(L, -1, lenPtr);
  const out = p === 0 ? '' : Buffer.from(m.HEAPU8.subarray(p, p + m.HEAPU32[lenPtr >> 2])).toString('latin1');
  m._lua_settop(L, 0);
  return { ok, out };
}

const setup = run(`S = package.loaded["wippy.native"].step; return tostring(S.block)`);
assert.ok(setup.ok, setup.out);
const BLOCK = Number(setup.out) / 8;

/** A Lua string literal of arbitrary bytes. */
const lit = (b: Uint8Array): string => `"${Array.from(b, (c) => `\\${c}`).join('')}"`;

function gen(rand: () => number): Case {
  const groups: Case['groups'] = [];
  let values = 0;
  const dests = 1 + Math.floor(rand() * 4);
  for (let d = 0; d < dests && values + 3 <= 60; d++) {
    const room = 60 - values - 2;
    const n = 1 + Math.floor(rand() * Math.min(room, rand() < 0.7 ? 2 : 40));
    const frames: Uint8Array[] = [];
    for (let i = 0; i < n; i++) {
      const len = rand() < 0.1 ? 0 : Math.floor(rand() * 300);
      frames.push(Uint8Array.from({ length: len }, () => Math.floor(rand() * 256)));
    }
    groups.push({ tid: Math.floor(rand() * 40), frames });
    values += 2 + n;
  }
  return { nxt: rand() < 0.5 ? -1 : rand() * 1e6, more: rand() < 0.5, groups };
}

const valuesOf = (c: Case): string =>
  c.groups.map((g) => `${g.tid}, ${g.frames.length}, ${g.frames.map(lit).join(', ')}`).join(', ');

/** What the stack path hands the host: each frame with its destination, in order. */
const expected = (c: Case): Frame[] => c.groups.flatMap((g) => g.frames.map((bytes) => ({ tid: g.tid, bytes })));

type Reader = (f64: Float64Array) => { nxt: number; more: boolean; frames: Frame[] };
/** The host's reader (src/lua/engine.ts step). */
const reader: Reader = (f64) => {
  const frames: Frame[] = [];
  const n = f64[BLOCK + 6]!;
  for (let i = 0, at = BLOCK + 7; i < n; i++, at += 3) {
    const p = f64[at + 1]!;
    frames.push({ tid: f64[at]!, bytes: m.HEAPU8.slice(p, p + f64[at + 2]!) });
  }
  return { nxt: f64[BLOCK + 4]!, more: f64[BLOCK + 5] !== 0, frames };
};
const MUTANTS: Array<[string, Reader]> = [
  ['a stride of 2', (f64) => { const r = reader(f64); const n = f64[BLOCK + 6]!; r.frames = []; for (let i = 0, at = BLOCK + 7; i < n; i++, at += 2) { const p = f64[at + 1]!; r.frames.push({ tid: f64[at]!, bytes: m.HEAPU8.slice(p, p + f64[at + 2]!) }); } return r; }],
  ['a length one short', (f64) => { const r = reader(f64); r.frames = r.frames.map((f) => ({ tid: f.tid, bytes: f.bytes.subarray(0, Math.max(0, f.bytes.length - 1)) })); return r; }],
  ['the count ignored (one frame)', (f64) => { const r = reader(f64); r.frames = r.frames.slice(0, 1); return r; }],
  ['thread ids shifted by a frame', (f64) => { const r = reader(f64); const t = r.frames.map((f) => f.tid); r.frames.forEach((f, i) => { f.tid = t[(i + 1) % t.length]!; }); return r; }],
];

/** Differences between what the block gave and the stack path (none: ''). */
function differs(c: Case, got: ReturnType<Reader>): string {
  if (got.nxt !== c.nxt) return `nxt ${got.nxt} for ${c.nxt}`;
  if (got.more !== c.more) return `more ${got.more} for ${c.more}`;
  const want = expected(c);
  if (got.frames.length !== want.length) return `${got.frames.length} frames for ${want.length}`;
  for (let i = 0; i < want.length; i++) {
    if (got.frames[i]!.tid !== want[i]!.tid) return `frame ${i}: tid ${got.frames[i]!.tid} for ${want[i]!.tid}`;
    if (Buffer.compare(got.frames[i]!.bytes, want[i]!.bytes) !== 0) return `frame ${i}: other bytes`;
  }
  return '';
}

test('output(): the block holds what the stack path returns, for 300 seeded groups of frames; mutants of the reader are caught', () => {
  const rand = mulberry32(0x57e9);
  const caught = MUTANTS.map(() => 0);
  for (let k = 0; k < 300; k++) {
    const c = gen(rand);
    const r = run(`S.output(${c.nxt}, ${c.more}, ${valuesOf(c)}) return "ok"`);
    assert.ok(r.ok, `case ${k}: ${r.out}`);
    assert.equal(differs(c, reader(m.HEAPF64)), '', `case ${k}`);
    MUTANTS.forEach(([, mut], i) => { if (differs(c, mut(m.HEAPF64)) !== '') caught[i]!++; });
  }
  MUTANTS.forEach(([name], i) => assert.ok(caught[i]! > 0, `mutant "${name}" was never caught`));
});

test('output(): the frames stay anchored until the next output, and no longer', () => {
  const r = run(String.raw`
    local _, anchors = debug.getupvalue(S.output, 1)
    S.output(-1, false, 2, 3, "a", "b", "c", 4, 2, "d", "e")
    local got = {}
    for i = 1, 6 do got[#got + 1] = tostring(anchors[i]) end
    S.output(5, true, 7, 2, "x", "y")
    for i = 1, 6 do got[#got + 1] = tostring(anchors[i]) end
    S.output(-1, false)
    for i = 1, 2 do got[#got + 1] = tostring(anchors[i]) end
    return table.concat(got, " ")`);
  assert.ok(r.ok, r.out);
  assert.equal(r.out, 'a b c d e nil x y nil nil nil nil nil nil');
  const f64: Float64Array = m.HEAPF64;
  assert.equal(f64[BLOCK + 6], 0, 'no frames');
  assert.equal(f64[BLOCK + 4], -1);
  assert.equal(f64[BLOCK + 5], 0);
});

test('input(): what the host wrote into the block; no input is nil, nil', () => {
  const f64: Float64Array = m.HEAPF64;
  f64[BLOCK] = 1; f64[BLOCK + 1] = 123456; f64[BLOCK + 2] = 789; f64[BLOCK + 3] = 4242.5;
  assert.deepEqual(run(`local a, l, n = S.input() return a .. " " .. l .. " " .. n`), { ok: true, out: '123456.0 789.0 4242.5' });
  f64[BLOCK] = 0;
  assert.deepEqual(run(`local a, l, n = S.input() return tostring(a) .. " " .. tostring(l) .. " " .. n`), { ok: true, out: 'nil nil 4242.5' });
});

test('output(): more than 64 frames, a count past the arguments and a frame that is not a string are errors', () => {
  const many = Array.from({ length: 65 }, (_, i) => `"f${i}"`).join(', ');
  const r1 = run(`S.output(-1, false, 2, 65, ${many})`);
  assert.equal(r1.ok, false);
  assert.match(r1.out, /more than 64 frames/);
  const r2 = run(`S.output(-1, false, 2, 3, "a", "b")`);
  assert.equal(r2.ok, false);
  assert.match(r2.out, /frame count past the arguments/);
  const r3 = run(`S.output(-1, false, 2, 1, {})`);
  assert.equal(r3.ok, false);
  assert.match(r3.out, /string expected/);
  // 64 frames in two groups are fine
  const r4 = run(`S.output(-1, false, 2, 32, ${many.split(', ').slice(0, 32).join(', ')}, 3, 32, ${many.split(', ').slice(32, 64).join(', ')}) return "ok"`);
  assert.deepEqual(r4, { ok: true, out: 'ok' });
  assert.equal(m.HEAPF64[BLOCK + 6], 64);
});
