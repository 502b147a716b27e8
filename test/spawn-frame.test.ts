// The per-job spawn frames written by hand (src/runtime/spawn-frame.ts) against encodeValue on the
// same frames: byte for byte on seeded random frames (integers at every msgpack width boundary,
// strings of every header size, arguments and context records of any shape), undefined (the
// caller's fallback) for what it does not write, the same error for arguments that cannot be
// encoded, and deliberate mutants of the writer that the comparison must catch.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeValue, decodeValues } from '../src/codec/msgpack.js';
import { frame } from '../src/wire/frames.js';
import { SpawnFrameWriter } from '../src/runtime/spawn-frame.js';
import { mulberry32 } from './helpers/prng.js';

const INT_EDGES = [0, 1, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000, 0xffffff, 0x7fffffff, 0xffffffff];

function asciiString(rnd: () => number, len: number): string {
  let s = '';
  for (let i = 0; i < len; i++) s += String.fromCharCode(32 + Math.floor(rnd() * 95));
  return s;
}

function randomValue(rnd: () => number, depth: number): unknown {
  const r = rnd();
  if (depth > 3 || r < 0.3) {
    const k = Math.floor(rnd() * 8);
    switch (k) {
      case 0: return INT_EDGES[Math.floor(rnd() * INT_EDGES.length)]! * (rnd() < 0.3 ? -1 : 1);
      case 1: return rnd() * 1e6;
      case 2: return asciiString(rnd, Math.floor(rnd() * 40));
      case 3: return 'é' + asciiString(rnd, 3);
      case 4: return rnd() < 0.5;
      case 5: return null;
      case 6: return 2 ** 40 + Math.floor(rnd() * 1000); // widened to int64 by encodeValue
      default: return new Uint8Array([1, 2, 3]);
    }
  }
  if (r < 0.65) return Array.from({ length: Math.floor(rnd() * 4) }, () => randomValue(rnd, depth + 1));
  const o: Record<string, unknown> = {};
  for (let i = Math.floor(rnd() * 4); i > 0; i--) o[asciiString(rnd, 1 + Math.floor(rnd() * 6))] = randomValue(rnd, depth + 1);
  return o;
}

function randomFrame(rnd: () => number): unknown[] {
  const uniq = INT_EDGES[Math.floor(rnd() * INT_EDGES.length)]!;
  const watch = INT_EDGES[Math.floor(rnd() * INT_EDGES.length)]!;
  const idLen = [1, 12, 31, 32, 40, 255, 256, 300][Math.floor(rnd() * 8)]!;
  const id = asciiString(rnd, idLen);
  const host = rnd() < 0.5 ? 'app:processes' : asciiString(rnd, 1 + Math.floor(rnd() * 50));
  const pid = `{${id}#lua.1|0x${uniq.toString(16).padStart(5, '0')}}`;
  const ctx = rnd() < 0.8 ? false : { values: { user: asciiString(rnd, 5) } };
  // a job's usual arguments (small integers, booleans, nulls, ASCII strings: written by the writer
  // itself) or anything (through encodeValue)
  const simple = (): unknown => [INT_EDGES[Math.floor(rnd() * INT_EDGES.length)]!, rnd() < 0.5, null, asciiString(rnd, Math.floor(rnd() * 300))][Math.floor(rnd() * 4)];
  const args = rnd() < 0.5
    ? Array.from({ length: Math.floor(rnd() * 17) }, simple)
    : Array.from({ length: Math.floor(rnd() * 4) }, () => randomValue(rnd, 0));
  return rnd() < 0.5
    ? frame.spj(pid, uniq, id, host, watch, false, ctx as false, args)
    : frame.sp(pid, uniq, id, host, watch, false, ctx as false, args);
}

test('the written spawn frames are encodeValue\'s bytes, on 5,000 seeded frames', () => {
  const rnd = mulberry32(0x5eed15);
  const w = new SpawnFrameWriter();
  for (let i = 0; i < 5000; i++) {
    const f = randomFrame(rnd);
    const mine = w.encode(f);
    assert.ok(mine, `frame ${i} was not written`);
    assert.deepEqual(Buffer.from(mine), Buffer.from(encodeValue(f)), `frame ${i}: ${JSON.stringify(f.slice(0, 6))}`);
    assert.deepEqual(decodeValues(Buffer.from(mine))[0], decodeValues(Buffer.from(encodeValue(f)))[0]);
  }
});

test('the (id, host) cache: the same pair reuses its bytes, another pair gets its own', () => {
  const w = new SpawnFrameWriter();
  const a = frame.spj('{a#lua.1|0x00001}', 1, 'app:a', 'app:h', 1, false, false, [1]);
  const b = frame.spj('{b#lua.1|0x00002}', 2, 'app:b', 'app:h', 2, false, false, [2]);
  const a2 = frame.spj('{a#lua.2|0x00003}', 3, 'app:a', 'app:h2', 3, false, false, [3]);
  for (const f of [a, b, a, a2, b, a2, a]) assert.deepEqual(Buffer.from(w.encode(f)!), Buffer.from(encodeValue(f)));
});

test('what it does not write is left to encodeValue (undefined)', () => {
  const w = new SpawnFrameWriter();
  const ok = (): unknown[] => frame.spj('{x|0x00001}', 1, 'app:x', 'app:h', 7, false, false, [1]);
  assert.ok(w.encode(ok()));
  const cases: Array<[string, unknown[]]> = [
    ['another kind', ['m', '{x|0x00001}', '{|}', 't', 1, [1], 0, 0, 0]],
    ['a non-ASCII PID', frame.spj('{é|0x00001}', 1, 'app:x', 'app:h', 7, false, false, [1])],
    ['a non-ASCII id', frame.spj('{x|0x00001}', 1, 'app:é', 'app:h', 7, false, false, [1])],
    ['a non-ASCII host', frame.spj('{x|0x00001}', 1, 'app:x', 'app:hé', 7, false, false, [1])],
    ['a control PID as watcher', frame.sp('{x|0x00001}', 1, 'app:x', 'app:h', '{node:control|0x00002}', false, false, [1])],
    ['a watcher past 2^32', frame.sp('{x|0x00001}', 1, 'app:x', 'app:h', 2 ** 32, false, false, [1])],
    ['a negative uniq', frame.sp('{x|0x00001}', -1, 'app:x', 'app:h', 1, false, false, [1])],
    ['a link', frame.sp('{x|0x00001}', 1, 'app:x', 'app:h', 1, '{y|0x00003}', false, [1])],
    ['a short frame', ['spj', '{x|0x00001}', 1]],
  ];
  for (const [what, f] of cases) assert.equal(w.encode(f), undefined, what);
  assert.deepEqual(Buffer.from(w.encode(ok())!), Buffer.from(encodeValue(ok())), 'usable after the refusals');
});

test('arguments that cannot be encoded throw as encodeValue does, and the writer stays usable', () => {
  const w = new SpawnFrameWriter();
  let deep: unknown = 1;
  for (let i = 0; i < 600; i++) deep = [deep];
  const bad = frame.spj('{x|0x00001}', 1, 'app:x', 'app:h', 1, false, false, [deep]);
  assert.throws(() => encodeValue(bad), /nested deeper/);
  assert.throws(() => w.encode(bad), /nested deeper/);
  const good = frame.spj('{x|0x00001}', 1, 'app:x', 'app:h', 1, false, false, ['after']);
  assert.deepEqual(Buffer.from(w.encode(good)!), Buffer.from(encodeValue(good)));
});

test('mutants of the writer are caught by the byte comparison', () => {
  // Each mutant changes one choice of the writer; the seeded comparison must fail for every one.
  const mutants: Array<[string, (w: any) => void]> = [
    ['uint16 from 0x80', (w) => { const u = w.uint.bind(w); w.uint = (n: number) => (n >= 0x80 && n < 0x100 ? (w.buf[w.pos++] = 0xcd, w.buf[w.pos++] = 0, w.buf[w.pos++] = n) : u(n)); }],
    ['fixstr up to 32', (w) => { const a = w.ascii.bind(w); w.ascii = (s: string) => { if (s.length !== 32) return a(s); w.reserve(40); w.buf[w.pos++] = 0xa0 | 31; for (let i = 0; i < 32; i++) w.buf[w.pos++] = s.charCodeAt(i); return true; }; }],
    ['link true', (w) => { const e = w.encode.bind(w); w.encode = (f: unknown[]) => { const r = e(f); if (r) r[r.length - 1 - encodeValue(f[8]).length - 1 - (f[7] === false ? 0 : encodeValue(f[7]).length)] = 0xc3; return r; }; }],
    ['booleans swapped', (w) => { const sa = w.simpleArgs.bind(w); w.simpleArgs = (a: unknown) => (Array.isArray(a) && a.some((x) => typeof x === 'boolean') ? sa(a.map((x) => (typeof x === 'boolean' ? !x : x))) : sa(a)); }],
    ['16 arguments as a fixarray', (w) => { const sa = w.simpleArgs.bind(w); w.simpleArgs = (a: unknown) => (Array.isArray(a) && a.length === 16 ? sa(a.slice(0, 15)) : sa(a)); }],
    ['uint32 little-endian', (w) => { const u = w.uint.bind(w); w.uint = (n: number) => (n >= 0x10000 ? (w.buf[w.pos++] = 0xce, w.buf[w.pos++] = n & 0xff, w.buf[w.pos++] = (n >>> 8) & 0xff, w.buf[w.pos++] = (n >>> 16) & 0xff, w.buf[w.pos++] = n >>> 24) : u(n)); }],
  ];
  for (const [name, mutate] of mutants) {
    const rnd = mulberry32(0x5eed15);
    const w = new SpawnFrameWriter();
    mutate(w);
    let caught = false;
    for (let i = 0; i < 2000 && !caught; i++) {
      const f = randomFrame(rnd);
      const mine = w.encode(f);
      if (!mine || Buffer.compare(Buffer.from(mine), Buffer.from(encodeValue(f))) !== 0) caught = true;
    }
    assert.ok(caught, `mutant "${name}" was not caught`);
  }
});
