// Fuzzing the value codec on both sides: the JS decoder (src/codec/msgpack.ts, what the main thread
// runs on every frame from a worker) and the Lua decoder (src/lua/lib/codec.lua, what every kernel
// runs on every frame from another thread), fed the same frames.
//
// Property for hostile input: a value or a clean error — for JS an Error thrown by the decoder (not
// a stack overflow), for Lua an error raised by codec.decode, after which the state still works;
// never a hang (the Lua side runs under an instruction budget). Property for good input: a JS value
// sent through JS -> Lua -> JS arrives as the documented mapping says (helpers/gen-msgpack.ts).
//
// Sizes: WIPPY_FUZZ_RUNS multiplies the case counts (test/helpers/fuzz.ts).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decodeValue, decodeValues, decodeArgs, encodeValue, encodeArgs } from '../src/codec/msgpack.js';
import { fuzzParams } from './helpers/fuzz.js';
import { luaCodec, type LuaCodec } from './helpers/lua-codec.js';
import { afterJsRoundTrip, afterRoundTrip, deepFrame, hostileFrame, jsValue, nested } from './helpers/gen-msgpack.js';

let lua: LuaCodec;
before(async () => { lua = await luaCodec(); });
after(() => { lua.close(); });

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

const PROBE = encodeValue({ probe: [1, 2.5, 'x', { n: -1 }] }).slice();

/**
 * JS decoders: a value or a thrown Error, after which the decoder (msgpackr keeps module-level
 * state) still decodes a good frame. With `noStackOverflow`, running out of stack does not count
 * as a clean error: it is what escaped the main thread's frame loop in issue 9.
 */
function jsClean(b: Uint8Array, noStackOverflow = false): void {
  for (const decode of [decodeValue, decodeValues, decodeArgs]) {
    try {
      decode(b);
    } catch (e) {
      assert.ok(e instanceof Error, `${decode.name} threw a non-Error: ${String(e)}`);
      if (noStackOverflow) assert.doesNotMatch(e.message, /call stack/, `${decode.name}(${hex(b).slice(0, 60)}...) ran out of stack`);
    }
    assert.deepStrictEqual(decodeValue(PROBE), { probe: [1, 2.5, 'x', { n: -1 }] }, `decoder state after ${decode.name}(${hex(b).slice(0, 60)})`);
  }
}

/** Lua decoders: ok, or an error raised by the codec; never a hang; the state still works. */
function luaClean(b: Uint8Array): void {
  for (const which of ['value', 'args'] as const) {
    const r = lua.decode(b, which);
    if (r.ok) {
      if (which === 'value') assert.ok(r.next >= 2 && r.next <= b.length + 1, `next_pos ${r.next} for ${b.length} bytes`);
    } else {
      assert.notEqual(r.error, 'HANG', `codec.decode${which === 'args' ? '_args' : ''} looped on ${hex(b).slice(0, 80)}`);
      assert.match(r.error, /^codec\.decode(_args)?: /, `decode${which === 'args' ? '_args' : ''}(${hex(b).slice(0, 80)}) raised a non-codec error: ${r.error}`);
    }
  }
  assert.equal(lua.alive(), true, 'the Lua state still decodes and encodes');
}

test('fuzz codec: hostile frames decode to a value or a clean error in JS', () => {
  fc.assert(fc.property(hostileFrame, (b) => { jsClean(b); }), fuzzParams('codec-js-hostile', 1000));
});

test('fuzz codec: hostile frames decode to a value or a clean error in Lua', () => {
  fc.assert(fc.property(hostileFrame, (b) => { luaClean(b); }), fuzzParams('codec-lua-hostile', 600));
});

const deepLua = (shapes: Array<'array' | 'map' | 'error'>) => fc.property(
  // error levels are 15 bytes each: keep those frames under 300 KB
  deepFrame.filter(({ shape }) => shapes.includes(shape))
    .map(({ depth, shape }) => ({ depth: shape === 'error' ? Math.min(depth, 20_000) : depth, shape })),
  ({ depth, shape }) => {
    const r = lua.decode(nested(depth, shape));
    if (depth > 512) assert.ok(!r.ok && /nested deeper than/.test(r.error), `depth ${depth} ${shape}: ${JSON.stringify(r)}`);
    else if (!r.ok) assert.match(r.error, /^codec\.decode: /);
    assert.equal(lua.alive(), true);
  });

test('fuzz codec: deep nesting is a clean error in Lua, at any depth', () => {
  fc.assert(deepLua(['array', 'map']), fuzzParams('codec-lua-deep', 20));
});

// Counterexample (seed 1244993675): an error object whose details hold an error object, 200000
// levels: "codec.lua:529: stack overflow" instead of the depth error; 10001-50000 levels decode (past
// MAX_DEPTH 10000) and would then overflow msgpackr on the main thread.
test('fuzz codec: error objects nested through details count against the depth limit in Lua', () => {
    fc.assert(deepLua(['error']), fuzzParams('codec-lua-deep-errors', 4, { endOnFailure: true }));
  });

// The main thread decodes every frame a worker sends with this decoder; a frame nested deeper than
// the JS stack allows must be an error for the frame, not a RangeError that escapes (issue 9: a
// 5,000-deep value sent to the control PID killed the Node process).
test('fuzz codec: deep nesting is a clean error in JS, at any depth', () => {
  fc.assert(fc.property(deepFrame, ({ depth, shape }) => { jsClean(nested(depth, shape), true); }), fuzzParams('codec-js-deep', 25));
});

test('fuzz codec: JS -> Lua -> JS round trip keeps every value by the documented mapping', () => {
  fc.assert(fc.property(jsValue, (v) => {
    const sent = encodeValue(v).slice();
    const r = lua.reencode(sent);
    assert.ok(r.ok, `Lua could not decode+encode ${hex(sent).slice(0, 80)}: ${r.ok ? '' : r.error}`);
    assert.deepStrictEqual(decodeValue(r.bytes), afterRoundTrip(v));
  }), fuzzParams('codec-roundtrip', 400));
});

test('fuzz codec: argument lists and batches of frames', () => {
  fc.assert(fc.property(fc.array(jsValue, { maxLength: 5 }), (vs) => {
    // decodeArgs(encodeArgs(list)) is the list by the mapping, and a batch decodes frame by frame
    assert.deepStrictEqual(decodeArgs(encodeArgs(vs)), afterJsRoundTrip(vs));
    if (vs.length === 0) return;
    const batch = Buffer.concat(vs.map((x) => encodeValue(x).slice()));
    assert.deepStrictEqual(decodeValues(batch), vs.map(afterJsRoundTrip));
  }), fuzzParams('codec-args-batches', 200));
});

test('fuzz codec: the decoders agree on where a frame ends', () => {
  fc.assert(fc.property(jsValue, fc.uint8Array({ maxLength: 8 }), (v, tail) => {
    const frame = encodeValue(v).slice();
    const r = lua.decode(new Uint8Array([...frame, ...tail]));
    assert.ok(r.ok, `a valid frame followed by ${tail.length} bytes`);
    assert.equal(r.next, frame.length + 1, 'Lua stops right after the frame');
  }), fuzzParams('codec-frame-end', 200));
});

test('fuzz codec: JS and Lua refuse the same oversized headers without allocating', () => {
  // a 4 GiB array/map/string announced by 6 bytes: both sides see the input is too short
  for (const b of [[0xdd, 0xff, 0xff, 0xff, 0xff, 0xc0], [0xdf, 0xff, 0xff, 0xff, 0xff, 0xa1, 0x61], [0xdb, 0xff, 0xff, 0xff, 0xff, 0x61], [0xc6, 0xff, 0xff, 0xff, 0xff]]) {
    const bytes = new Uint8Array(b);
    assert.throws(() => decodeValue(bytes), /end of MessagePack data|malformed frame: (container of \d+ items in \d+ bytes|truncated input)/);
    const r = lua.decode(bytes);
    assert.ok(!r.ok && /truncated input/.test(r.error), JSON.stringify(r));
  }
  assert.equal(lua.alive(), true);
});
