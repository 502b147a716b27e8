// native/lua/lstep.c, the step's input and output through a block of the module's memory, against
// the Lua stack path it replaces (src/lua/engine.ts step reads __step's results there on
// wasmoon's module and with WIPPY_CSTEP=0): for seeded groups of frames of every shape pids.lua's
// take_out returns (one to four destinations, up to 60 values, frames of 0-300 arbitrary bytes),
// what the host reads from the block — the next deadline, more, and each frame's thread id and
// bytes, in order — equals what it reads from the stack; input() returns what the host wrote;
// the frame strings stay anchored until the next output() and no longer; malformed groups and
// more than 256 ranges are errors. Deliberate mutants of the block's reader (a wrong stride, a
// length one short, the count ignored, thread ids shifted by one frame) must each be caught on
// the same cases. The outbox (session 9): frames put or encoded into it (encode_frame_out) come
// out of the next output() as one range per destination — its frames' bytes concatenated in the
// order they were added, and their count — in the order of each destination's first frame,
// before any frames given as arguments; then it is empty; encode_frame_out appends exactly
// encode_frame's bytes (seeded values: scalars, tables, nils, errors), and nothing on an error;
// the mark is reported once per passing and restarts the count. Our module only: wasmoon's has
// no wippy.native.
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
  for (let i = 0, at = BLOCK + 7; i < n; i++, at += 4) {
    const p = f64[at + 1]!;
    assert.equal(f64[at + 3], 1, 'a frame given to output() is a range of one frame');
    frames.push({ tid: f64[at]!, bytes: m.HEAPU8.slice(p, p + f64[at + 2]!) });
  }
  return { nxt: f64[BLOCK + 4]!, more: f64[BLOCK + 5] !== 0, frames };
};
const MUTANTS: Array<[string, Reader]> = [
  ['a stride of 3', (f64) => { const r = reader(f64); const n = f64[BLOCK + 6]!; r.frames = []; for (let i = 0, at = BLOCK + 7; i < n; i++, at += 3) { const p = f64[at + 1]!; r.frames.push({ tid: f64[at]!, bytes: m.HEAPU8.slice(p, p + f64[at + 2]!) }); } return r; }],
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

test('output(): more than 256 ranges, a count past the arguments and a frame that is not a string are errors', () => {
  const r1 = run(`local a = { 2, 257 } for i = 1, 257 do a[2 + i] = "f" .. i end S.output(-1, false, table.unpack(a))`);
  assert.equal(r1.ok, false);
  assert.match(r1.out, /more than 256 ranges/);
  const r2 = run(`S.output(-1, false, 2, 3, "a", "b")`);
  assert.equal(r2.ok, false);
  assert.match(r2.out, /frame count past the arguments/);
  const r3 = run(`S.output(-1, false, 2, 1, {})`);
  assert.equal(r3.ok, false);
  assert.match(r3.out, /string expected/);
  // 256 frames in two groups are fine
  const r4 = run(`local a = { 2, 128 } for i = 1, 128 do a[#a + 1] = "f" .. i end a[#a + 1] = 3; a[#a + 1] = 128
    for i = 1, 128 do a[#a + 1] = "g" .. i end S.output(-1, false, table.unpack(a)) return "ok"`);
  assert.deepEqual(r4, { ok: true, out: 'ok' });
  assert.equal(m.HEAPF64[BLOCK + 6], 256);
});

/** The ranges output() reported: thread id, bytes, frame count. */
function ranges(): Array<{ tid: number; bytes: Uint8Array; frames: number }> {
  const f64: Float64Array = m.HEAPF64;
  const out = [];
  for (let i = 0, at = BLOCK + 7; i < f64[BLOCK + 6]!; i++, at += 4) {
    const p = f64[at + 1]!;
    out.push({ tid: f64[at]!, bytes: m.HEAPU8.slice(p, p + f64[at + 2]!), frames: f64[at + 3]! });
  }
  return out;
}

test('the outbox: put frames come out as one range per destination, concatenated in order, counted, before the arguments; then it is empty', () => {
  const rand = mulberry32(0x0b0c);
  for (let k = 0; k < 200; k++) {
    // seeded frames to up to 5 destinations (thread ids 1..255), interleaved
    const want = new Map<number, { bytes: number[]; frames: number }>();
    const lines: string[] = [];
    const n = Math.floor(rand() * 30);
    for (let i = 0; i < n; i++) {
      const tid = 1 + Math.floor(rand() * 5) * 50;
      const len = rand() < 0.1 ? 0 : Math.floor(rand() * (rand() < 0.9 ? 40 : 2000));
      const b = Uint8Array.from({ length: len }, () => Math.floor(rand() * 256));
      lines.push(`S.put(${tid}, ${lit(b)})`);
      const w = want.get(tid) ?? { bytes: [], frames: 0 };
      w.bytes.push(...b); w.frames++;
      want.set(tid, w);
    }
    const r = run(`${lines.join('\n')}\nS.output(-1, false, 9, 1, "zz") return "ok"`);
    assert.ok(r.ok, `case ${k}: ${r.out}`);
    const got = ranges();
    const exp = [...want].map(([tid, w]) => ({ tid, bytes: Uint8Array.from(w.bytes), frames: w.frames }));
    exp.push({ tid: 9, bytes: Uint8Array.from(Buffer.from('zz')), frames: 1 });
    assert.equal(got.length, exp.length, `case ${k}: ranges`);
    exp.forEach((e, i) => {
      assert.equal(got[i]!.tid, e.tid, `case ${k}, range ${i}: tid`);
      assert.equal(got[i]!.frames, e.frames, `case ${k}, range ${i}: frames`);
      assert.equal(Buffer.compare(got[i]!.bytes, e.bytes), 0, `case ${k}, range ${i}: bytes`);
    });
    // emptied: the next output reports nothing
    assert.ok(run(`S.output(-1, false) return "ok"`).ok);
    assert.equal(m.HEAPF64[BLOCK + 6], 0, `case ${k}: the outbox was emptied`);
  }
});

test('the outbox: a thread id out of range is an error; the mark is reported once per passing and restarts the count', () => {
  for (const tid of [-1, 256, 1000]) {
    const r = run(`S.put(${tid}, "x")`);
    assert.equal(r.ok, false);
    assert.match(r.out, /out of range/);
  }
  const r = run(String.raw`
    S.outbox_mark(10)
    local got = {}
    for i = 1, 7 do got[i] = tostring(S.put(2, "abcd")) end -- 4, 8, 12 (past), 4, 8, 12 (past), 4
    S.output(-1, false)
    got[#got + 1] = tostring(S.put(3, "abcdefgh")) -- the count restarts at output: 8
    got[#got + 1] = tostring(S.put(3, "abc")) -- 11: past
    S.outbox_mark(0)
    for i = 1, 100 do S.put(3, "abcdefgh") end
    got[#got + 1] = tostring(S.put(3, "x")) -- no mark: never past
    S.output(-1, false)
    return table.concat(got, " ")`);
  assert.ok(r.ok, r.out);
  assert.equal(r.out, 'false false true false false true false false true false');
  assert.equal(m.HEAPF64[BLOCK + 6], 1);
  assert.equal(m.HEAPF64[BLOCK + 7 + 2], 8 + 3 + 800 + 1, 'one range of every byte put');
  assert.equal(m.HEAPF64[BLOCK + 7 + 3], 103);
  assert.ok(run(`S.output(-1, false) return "ok"`).ok);
});

test('the outbox: encode_frame_out appends exactly encode_frame\'s bytes, and nothing on an error', () => {
  const setupc = run(String.raw`
    local native = package.loaded["wippy.native"]
    local E = setmetatable({}, {})
    C = native.codec(function(v) return getmetatable(v) == getmetatable(E) and rawget(v, "kind") ~= nil end,
      function(v) return v.kind, v.message, v.retryable, v.details end,
      function(k, m, r, d) return setmetatable({ kind = k, message = m, retryable = r, details = d }, getmetatable(E)) end)
    OB = S.outbox
    return "ok"`);
  assert.ok(setupc.ok, setupc.out);
  const rand = mulberry32(0xf4a3);
  const vals = ['nil', 'false', 'true', '0', '-1', '2^53', '1.5', '"p"', '"{b|0x00065}"', '("x"):rep(300)', '{}', '{ 1, 2, { a = "b" } }',
    '{ a = { b = { c = {} } } }', 'setmetatable({ kind = "Invalid", message = "m" }, getmetatable(E or {}))', 'function() end', 'coroutine.create(print)'];
  for (let k = 0; k < 300; k++) {
    const nv = Math.floor(rand() * 4);
    const args = ['"m"', '"{a|0x00100}"', '"{b|0x00200}"', '"t"', String(nv)];
    for (let i = 0; i < nv; i++) args.push(vals[Math.floor(rand() * vals.length)]!);
    const r = run(String.raw`
      local b, e = C.encode_frame(5, ${args.join(', ')})
      local past, e2 = C.encode_frame_out(OB, 7, 5, ${args.join(', ')})
      S.output(-1, false)
      if b == nil then
        return "err " .. tostring(e == e2) .. " " .. tostring(past) .. " " .. tostring(e)
      end
      return "ok " .. b`);
    assert.ok(r.ok, `case ${k}: ${r.out}`);
    const got = ranges();
    if (r.out.startsWith('err')) {
      assert.match(r.out, /^err true nil /, `case ${k}: the same error`);
      assert.equal(got.length, 0, `case ${k}: nothing appended on an error`);
    } else {
      assert.equal(got.length, 1, `case ${k}`);
      assert.equal(got[0]!.tid, 7);
      assert.equal(got[0]!.frames, 1);
      assert.equal(Buffer.compare(got[0]!.bytes, Buffer.from(r.out.slice(3), 'latin1')), 0, `case ${k}: the bytes of encode_frame`);
    }
  }
  const bad = run(`return C.encode_frame_out({}, 2, 5, "m", "a", "b", "t", 0)`);
  assert.equal(bad.ok, false, 'not an outbox');
});
