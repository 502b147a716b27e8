// Generators for MessagePack frames (test/fuzz-codec.test.ts): JS values and the mapping they
// must survive a JS -> Lua -> JS round trip with, and malformed frames (truncated, corrupted,
// oversized length headers, wrong ext payloads, deep nesting, random bytes).
import fc from 'fast-check';
import { encodeValue } from '../../src/codec/msgpack.js';

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** Keys msgpackr rewrites on decode ("__proto__" arrives as "__proto_"): kept out of round trips. */
const safeKey = fc.string({ maxLength: 12 }).filter((k) => k !== '__proto__');

/** Scalars JS can send to Lua. */
export const jsScalar: fc.Arbitrary<unknown> = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer(),
  fc.maxSafeInteger(),
  fc.double(), // NaN, ±Infinity, -0 and subnormals included
  fc.bigInt({ min: INT64_MIN, max: INT64_MAX }),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }), // lone surrogates included
  fc.constantFrom(Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER, 2 ** 32, -(2 ** 31) - 1, 2 ** 53, 0xffffffff),
);

/** JS values of every sendable shape, up to ~5 levels deep. */
export const jsValue: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: 'small', withCrossShrink: true }, jsScalar, tie('array'), tie('object')),
  array: fc.array(tie('value'), { maxLength: 6 }),
  object: fc.dictionary(safeKey, tie('value'), { maxKeys: 6 }),
})).value;

/**
 * What `v` becomes after JS -> Lua -> JS, by the documented mapping (src/codec/msgpack.ts and
 * codec.lua headers): nil values leave maps and arrays (a Lua table cannot hold nil), trailing
 * nils shorten an array, an array with holes or no elements is a map keyed by 1-based index, integral numbers are integers (-0 is
 * 0), BigInt within ±2^53 is a number, strings are UTF-8 (lone surrogates become U+FFFD).
 */
export function afterRoundTrip(v: unknown): unknown {
  if (v === null || v === undefined) return null;
  if (typeof v === 'number') return Object.is(v, -0) ? 0 : v;
  if (typeof v === 'bigint') return v >= -(2n ** 53n) && v <= 2n ** 53n ? Number(v) : v;
  if (typeof v === 'string') return wellFormed(v);
  if (typeof v === 'boolean') return v;
  if (Array.isArray(v)) {
    // The Lua table holds the non-nil elements at their 1-based index; it is sent back as an array
    // when those indexes are exactly 1..n (n >= 1: only trailing nils were dropped), else as a map.
    const kept = v.map((x, i) => [i + 1, x] as const).filter(([, x]) => x !== null && x !== undefined);
    if (kept.length > 0 && kept[kept.length - 1]![0] === kept.length) return kept.map(([, x]) => afterRoundTrip(x));
    const out: Record<string, unknown> = {};
    for (const [i, x] of kept) out[String(i)] = afterRoundTrip(x);
    return out;
  }
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    if (x !== null && x !== undefined) out[wellFormed(k)] = afterRoundTrip(x);
  }
  return out;
}

/** What `v` becomes after JS -> JS (encodeValue then decodeValue): like the Lua trip, but nil stays. */
export function afterJsRoundTrip(v: unknown): unknown {
  if (v === null || v === undefined) return null;
  if (typeof v === 'number') return Object.is(v, -0) ? 0 : v;
  if (typeof v === 'bigint') return v >= -(2n ** 53n) && v <= 2n ** 53n ? Number(v) : v;
  if (typeof v === 'string') return wellFormed(v);
  if (typeof v === 'boolean') return v;
  if (Array.isArray(v)) return v.map(afterJsRoundTrip);
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) out[wellFormed(k)] = afterJsRoundTrip(x);
  return out;
}

/** `s` with lone surrogates replaced by U+FFFD, as UTF-8 encoding does. */
export function wellFormed(s: string): string {
  return s.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD');
}

/** A valid encoding of a generated value (what a well-behaved peer sends). */
export const validFrame: fc.Arbitrary<Uint8Array> = jsValue.map((v) => encodeValue(v).slice());

/** A valid frame cut short. */
export const truncatedFrame: fc.Arbitrary<Uint8Array> = fc
  .tuple(validFrame, fc.nat())
  .filter(([b]) => b.length > 1)
  .map(([b, cut]) => b.slice(0, cut % b.length));

/** A valid frame with a few bytes overwritten. */
export const corruptedFrame: fc.Arbitrary<Uint8Array> = fc
  .tuple(validFrame, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }))
  .map(([b, edits]) => {
    const out = b.slice();
    for (const [at, byte] of edits) out[at % out.length] = byte;
    return out;
  });

const be = (n: number, bytes: number): number[] => {
  const out: number[] = [];
  for (let i = bytes - 1; i >= 0; i--) out.push(Math.floor(n / 2 ** (8 * i)) & 0xff);
  return out;
};

/** Length-prefixed headers (str, bin, array, map, ext) announcing far more than follows. */
export const oversizedFrame: fc.Arbitrary<Uint8Array> = fc
  .tuple(
    fc.constantFrom(
      [0xd9, 1], [0xda, 2], [0xdb, 4], [0xc4, 1], [0xc5, 2], [0xc6, 4], [0xdc, 2], [0xdd, 4], [0xde, 2], [0xdf, 4],
      [0xc7, 1], [0xc8, 2], [0xc9, 4],
    ),
    fc.oneof(fc.constantFrom(0xff, 0xffff, 0xffffffff, 0x7fffffff, 0x80000000), fc.nat()),
    fc.uint8Array({ maxLength: 16 }),
    fc.integer({ min: -1, max: 3 }),
  )
  .map(([[tag, size], len, tail, ext]) => {
    const l = size === 1 ? len & 0xff : size === 2 ? len & 0xffff : len >>> 0;
    const head = [tag, ...be(l, size)];
    if (tag >= 0xc7 && tag <= 0xc9) head.push(ext & 0xff);
    return new Uint8Array([...head, ...tail]);
  });

/** Ext frames with wrong payloads: back-references out of range, error objects that are not maps. */
export const wrongExtFrame: fc.Arbitrary<Uint8Array> = fc.oneof(
  // ext 1 (table back-reference) of every size, pointing anywhere
  fc.tuple(fc.constantFrom(0xd4, 0xd5, 0xd6, 0xd7), fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.boolean())
    .map(([tag, data, wrapped]) => {
      const size = { 0xd4: 1, 0xd5: 2, 0xd6: 4, 0xd7: 8 }[tag]!;
      const ref = [tag, 0x01, ...data.slice(0, size)];
      return new Uint8Array(wrapped ? [0x92, 0x90, ...ref] : ref); // inside an array: a table exists
    }),
  // ext 2 (error object) carrying any value, including non-maps and maps with wrong field types
  fc.tuple(jsValue, fc.record({ kind: jsScalar, message: jsScalar, retryable: jsScalar, details: jsValue }, { requiredKeys: [] }), fc.boolean())
    .map(([v, fields, asMap]) => {
      const data = encodeValue(asMap ? fields : v);
      return new Uint8Array([0xc9, ...be(data.length, 4), 0x02, ...data]);
    }),
  // timestamp ext -1 of wrong sizes, unknown ext types
  fc.tuple(fc.integer({ min: 0, max: 20 }), fc.integer({ min: -128, max: 127 }), fc.uint8Array({ maxLength: 20 }))
    .map(([size, type, data]) => new Uint8Array([0xc7, size, type & 0xff, ...data.slice(0, size)])),
  // maps whose keys are nil, NaN, tables or errors
  fc.tuple(fc.constantFrom([0xc0], [0xcb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 0], [0x90], [0x80], [0x91, 0x01], [0xca, 0x7f, 0xc0, 0, 0]), jsValue)
    .map(([key, v]) => new Uint8Array([0x81, ...key, ...encodeValue(v)])),
  // the never-used tag 0xc1 anywhere
  fc.tuple(validFrame, fc.nat()).map(([b, at]) => { const o = b.slice(); o[at % o.length] = 0xc1; return o; }),
);

/** `depth` nested containers of one shape around nil. */
export function nested(depth: number, shape: 'array' | 'map' | 'error'): Uint8Array {
  if (shape === 'array') return new Uint8Array([...new Array<number>(depth).fill(0x91), 0xc0]);
  if (shape === 'map') {
    const out = new Uint8Array(depth * 3 + 1);
    for (let i = 0; i < depth; i++) out.set([0x81, 0xa1, 0x64], i * 3);
    out[depth * 3] = 0xc0;
    return out;
  }
  // error objects whose details hold the next level: ext 2 { details = ... }, written outside-in
  const LEVEL = 6 + 9; // ext32 header + { "details" = ... } map header and key
  const out = new Uint8Array(depth * LEVEL + 1);
  for (let i = 0; i < depth; i++) {
    const dataLen = (depth - i - 1) * LEVEL + 1 + 9;
    out.set([0xc9, ...be(dataLen, 4), 0x02, 0x81, 0xa7, ...Buffer.from('details')], i * LEVEL);
  }
  out[depth * LEVEL] = 0xc0;
  return out;
}

/** A nesting depth and shape; build the bytes with `nested` (a 200k-deep frame is too big to print). */
export const deepFrame: fc.Arbitrary<{ depth: number; shape: 'array' | 'map' | 'error' }> = fc.record({
  depth: fc.oneof(fc.integer({ min: 1, max: 2000 }), fc.integer({ min: 2000, max: 60_000 }), fc.constantFrom(9_999, 10_000, 10_001, 200_000)),
  shape: fc.constantFrom('array', 'map', 'error') as fc.Arbitrary<'array' | 'map' | 'error'>,
});

/** Anything at all. */
export const randomBytes: fc.Arbitrary<Uint8Array> = fc.uint8Array({ maxLength: 256 });

/** Every malformed shape (not the deep ones), for the "never a crash" properties. */
export const hostileFrame: fc.Arbitrary<Uint8Array> = fc.oneof(
  truncatedFrame, corruptedFrame, oversizedFrame, wrongExtFrame, randomBytes, validFrame,
);
