// The JS half of the value codec: reads and writes the MessagePack that src/lua/lib/codec.lua
// produces, so JS hosts can exchange values with Lua processes on any worker.
//
// Wire mapping, as seen from JS (codec.lua's header has the Lua side):
//   undefined, null       -> nil                    nil -> null
//   booleans, strings     -> bool, str (UTF-8)      str -> string (invalid UTF-8 becomes U+FFFD:
//                                                          Lua strings are bytes)
//   safe integers         -> msgpack ints           ints -> number, or BigInt beyond ±2^53
//   other numbers         -> float64                float64 -> number
//   BigInt                -> int64 (uint64 beyond)  (Lua reads uint64 > maxinteger as a float)
//   arrays, plain objects, Map -> array, map, map   map -> plain object (keys become strings)
//   Uint8Array / Buffer   -> bin                    (Lua reads bin as a byte string)
//   Error / WippyError    -> ext 2 {kind, message, retryable?, details?}   ext 2 -> WippyError
//                                                   ext 1 (a Lua table met twice) -> the string
//                                                   "[shared table]"
// JS does not rebuild Lua's sharing or cycles: a JS consumer wants trees, and a Lua table that is
// referenced twice arrives once in full and then as the "[shared table]" marker. JS numbers do not
// say int or float, so an integral number (including -0) is sent as an int and reaches Lua as an
// integer; send 1.5, not 1.0, when Lua must see a float. A JS Date is sent as a msgpack timestamp,
// which Lua reads as Unix seconds. Values JS cannot send to Lua (functions, symbols) are nil.
//
// Why a pre-pass. msgpackr writes integers beyond 32 bits as float64, which Lua would read as
// floats (Date.now() would arrive as 1.7e12 with math.type "float"). `widen` walks the value first
// and, only when it finds such a number, builds a copy with those numbers as BigInt (written as
// int64). The walk allocates nothing when there is nothing to widen, which is the common case.
//
// Limits. MAX_DEPTH levels of nesting per value, both ways (codec.lua's MAX_DEPTH). msgpackr recurses once per level on the JS stack and has no depth limit of its
// own; measured with a chain of 1-element arrays or maps and the default stacks, its unpack throws
// RangeError past ~4400 levels on the main thread of Node 20 (~4500 on Node 24; ~17000 in worker
// threads) and its pack past ~1300 (Node 20 main thread; ~2300 on Node 24). An uncaught RangeError
// in the main thread's receive loop kills the runtime, so every value is checked before msgpackr
// sees it: decoding scans the bytes first without recursing (scanFrame), encoding walks the value
// first (inspect). 512 leaves a 2.6x margin under the tightest measurement for the caller's stack.
// Sizes: the scan checks every string, extension and container header against the bytes present,
// so a header announcing 2^32 items allocates nothing. There is no byte cap here: values from
// processes are capped where they are encoded (codec.lua's MAX_BYTES, 64 MiB), and the frames JS
// writes itself carry terminal output of any size (a worker's `print`). A JS encode must never
// throw for size inside a worker: it runs inside host functions called from Lua, where an
// exception would unwind through the Lua VM.
//
// msgpackr's extensions are process-global (addExtension): registering types 1 and 2 and the Error
// class here affects every msgpackr user in this process. Types 1 and 2 are unused by msgpackr
// itself; packing a plain Error as ext 2 replaces msgpackr's [name, message, cause] array.
import { Packr, Unpackr, addExtension } from 'msgpackr';

/** Ext type of a back-reference to a table already sent in the same value (Lua side only). */
export const EXT_TABLE_REF = 1;
/** Ext type of an error object: data is a map {kind, message, retryable?, details?}. */
export const EXT_ERROR = 2;
/** What a Lua back-reference (ext 1) decodes to in JS. */
export const SHARED_TABLE = '[shared table]';
/** Most levels of arrays/maps (error objects count as one) in one value; codec.lua's MAX_DEPTH. */
export const MAX_DEPTH = 512;

// Set only around the decoder's `new WippyError`: see the class comment.
let decoding = false;

/**
 * An error object as Lua processes see it (`errors.new{...}`), on the JS side: `message`, `kind`
 * ("" when it has none), `retryable` (true, false or undefined) and `details`.
 *
 * Errors built by the decoder skip the stack capture, which is most of the cost of `new Error()`
 * (~2.7 µs on Node 20, measured here): they were raised in a Lua process, where this JS stack says
 * nothing. Errors built by JS code get the usual stack.
 */
export class WippyError extends Error {
  kind: string;
  retryable?: boolean;
  details?: unknown;
  /** The Lua traceback where a process raised it, when known (its EXIT to a JS watcher); never encoded. */
  traceback?: string;

  constructor(message: string, kind = '', retryable?: boolean, details?: unknown) {
    if (decoding) {
      const limit = Error.stackTraceLimit;
      Error.stackTraceLimit = 0;
      super(message);
      Error.stackTraceLimit = limit;
    } else {
      super(message);
    }
    this.kind = kind;
    this.retryable = retryable;
    this.details = details;
  }
}
Object.defineProperty(WippyError.prototype, 'name', {
  value: 'WippyError',
  writable: true,
  configurable: true,
});

interface ErrorFields {
  kind: string;
  message: string;
  retryable?: boolean;
  details?: unknown;
}

const options = {
  useRecords: false,
  mapsAsObjects: true,
  // 'auto' (not in msgpackr's typings): a number while exact, a BigInt beyond ±2^53, so
  // math.maxinteger arrives intact.
  int64AsType: 'auto',
  encodeUndefinedAsNil: true,
  structuredClone: false,
  moreTypes: false,
  bundleStrings: false,
} as const;
const packr = new Packr(options as unknown as ConstructorParameters<typeof Packr>[0]);
const unpackr = new Unpackr(options as unknown as ConstructorParameters<typeof Unpackr>[0]);

addExtension({
  type: EXT_TABLE_REF,
  unpack: () => SHARED_TABLE,
});

addExtension({
  Class: Error,
  type: EXT_ERROR,
  pack(e: Error): Uint8Array {
    const fields: ErrorFields = { kind: '', message: String(e.message) };
    if (e instanceof WippyError) {
      fields.kind = e.kind;
      if (e.retryable !== undefined) fields.retryable = e.retryable;
      const d = e.details;
      if (d !== undefined) fields.details = inspect(d, 1) ? widen(d) : d;
    }
    return packr.pack(fields); // re-entrant: msgpackr saves and restores its state
  },
  unpack(data: Uint8Array): WippyError {
    const f = unpackr.unpack(data) as Partial<ErrorFields> | null;
    const ok = f !== null && typeof f === 'object';
    decoding = true;
    try {
      return new WippyError(
        ok && typeof f.message === 'string' ? f.message : '',
        ok && typeof f.kind === 'string' ? f.kind : '',
        ok && typeof f.retryable === 'boolean' ? f.retryable : undefined,
        ok && f.details !== null ? f.details : undefined,
      );
    } finally {
      decoding = false;
    }
  },
});

/**
 * Encodes one value. The result may be a view into msgpackr's shared scratch buffer: read or copy
 * it, but do not transfer its `.buffer` to another thread. Throws a WippyError (kind Invalid) for
 * a value nested deeper than MAX_DEPTH (a cyclic one too).
 */
export function encodeValue(v: unknown): Uint8Array {
  return packr.pack(inspect(v, 0) ? widen(v) : v);
}

/** Decodes a batch of concatenated values (one per frame); throws on malformed input. */
export function decodeValues(b: Uint8Array): unknown[] {
  return decodeFrames(b, (e) => { throw e; });
}

/**
 * Decodes a batch of concatenated values, checking each before msgpackr reads it (scanFrame). A
 * frame that is too deep is passed to `bad` (with its byte offset) and skipped; one that is
 * truncated or malformed ends the batch (where the next one starts is unknown).
 */
export function decodeFrames(b: Uint8Array, bad: (e: Error, offset: number) => void): unknown[] {
  // The common case: every frame scans clean, and msgpackr reads the batch in one call.
  let clean = true;
  for (let p = 0; p < b.length && clean;) {
    let end: number;
    try { end = scanFrame(b, p, b.length, 0); } catch { clean = false; break; }
    if (end < 0) clean = false;
    p = end;
  }
  if (clean) {
    try { return unpackr.unpackMultiple(b) as unknown[]; } catch { /* found again below, frame by frame */ }
  }
  const out: unknown[] = [];
  let pos = 0;
  while (pos < b.length) {
    let end: number;
    try {
      end = scanFrame(b, pos, b.length, 0);
    } catch (e) {
      bad(e as Error, pos);
      break;
    }
    if (end < 0) {
      end = -end;
      bad(new WippyError(`value nested deeper than ${MAX_DEPTH} levels`, 'Invalid', false), pos);
    } else {
      try {
        out.push(unpackr.unpack(b.subarray(pos, end)));
      } catch (e) {
        bad(e as Error, pos);
      }
    }
    pos = end;
  }
  return out;
}

/** Decodes one value; throws on malformed, truncated or too deep input. */
export function decodeValue(b: Uint8Array): unknown {
  if (scanFrame(b, 0, b.length, 0) < 0) throw new WippyError(`value nested deeper than ${MAX_DEPTH} levels`, 'Invalid', false);
  return unpackr.unpack(b);
}

/** Encodes an argument list as one array, the shape codec.decode_args expects. */
export function encodeArgs(args: unknown[]): Uint8Array {
  return encodeValue(args);
}

/** Decodes what codec.encode_args produced; nils are null, and the length is the Lua `n`. */
export function decodeArgs(b: Uint8Array): unknown[] {
  const v = decodeValue(b);
  if (!Array.isArray(v)) throw new TypeError('decodeArgs: an argument list must be a msgpack array');
  return v;
}

// ---------------------------------------------------------------------------------------------
// The pre-decode scan. scanFrame(b, pos, end, depth) walks the one value at b[pos] without
// recursing (a stack of remaining item counts) and returns the offset after it, negated when the
// value nests deeper than MAX_DEPTH (the walk still finds its end, so the batch goes on). It
// throws on a truncated or malformed value, or a container announcing more items than bytes
// remain. An error object (ext 2) holds a value of its own: it is scanned too, one level deeper
// (msgpackr decodes it with a nested unpack); past MAX_DEPTH it is skipped by its length.

const MALFORMED = (what: string, at: number) => new WippyError(`malformed frame: ${what} at byte ${at}`, 'Invalid', false);

// The scan allocates nothing per frame: its stack of remaining counts is one module-level array
// (an ext 2 value's nested scan uses it above its caller's part, from `base`; a scan that threw
// leaves entries behind, dropped by the next top-level scan). A fresh array and two closures per
// call were ~190 bytes per frame on the main thread's receive path (sampling heap profiler).
const scanStack: number[] = [];
const u16 = (b: Uint8Array, p: number) => (b[p]! << 8) | b[p + 1]!;
const u32 = (b: Uint8Array, p: number) => ((b[p]! << 24) >>> 0) + ((b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!);

function scanFrame(b: Uint8Array, pos: number, end: number, depth: number): number {
  if (depth === 0 && scanStack.length !== 0) scanStack.length = 0;
  const stack = scanStack;
  const base = stack.length;
  let remaining = 1;
  let deep = false;
  for (;;) {
    if (pos >= end) throw MALFORMED('truncated input', pos);
    const t = b[pos]!;
    let items = -1; // >= 0: a container of that many items
    let head = 1; // bytes before the payload
    let len = 0; // payload bytes
    let ext = -1;
    if (t <= 0x7f || t >= 0xe0) { /* fixint */ }
    else if (t <= 0x8f) items = (t & 0x0f) * 2;
    else if (t <= 0x9f) items = t & 0x0f;
    else if (t <= 0xbf) len = t & 0x1f;
    else {
      switch (t) {
        case 0xc0: case 0xc2: case 0xc3: break;
        case 0xc4: case 0xd9: head = 2; len = b[pos + 1] ?? 0; break;
        case 0xc5: case 0xda: head = 3; len = u16(b, pos + 1); break;
        case 0xc6: case 0xdb: head = 5; len = u32(b, pos + 1); break;
        case 0xc7: head = 3; len = b[pos + 1] ?? 0; ext = b[pos + 2] ?? -1; break;
        case 0xc8: head = 4; len = u16(b, pos + 1); ext = b[pos + 3] ?? -1; break;
        case 0xc9: head = 6; len = u32(b, pos + 1); ext = b[pos + 5] ?? -1; break;
        case 0xca: len = 4; break;
        case 0xcb: len = 8; break;
        case 0xcc: case 0xd0: len = 1; break;
        case 0xcd: case 0xd1: len = 2; break;
        case 0xce: case 0xd2: len = 4; break;
        case 0xcf: case 0xd3: len = 8; break;
        case 0xd4: head = 2; len = 1; ext = b[pos + 1] ?? -1; break;
        case 0xd5: head = 2; len = 2; ext = b[pos + 1] ?? -1; break;
        case 0xd6: head = 2; len = 4; ext = b[pos + 1] ?? -1; break;
        case 0xd7: head = 2; len = 8; ext = b[pos + 1] ?? -1; break;
        case 0xd8: head = 2; len = 16; ext = b[pos + 1] ?? -1; break;
        case 0xdc: head = 3; items = u16(b, pos + 1); break;
        case 0xdd: head = 5; items = u32(b, pos + 1); break;
        case 0xde: head = 3; items = u16(b, pos + 1) * 2; break;
        case 0xdf: head = 5; items = u32(b, pos + 1) * 2; break;
        default: throw MALFORMED(`invalid tag 0x${t.toString(16)}`, pos);
      }
    }
    const start = pos + head;
    if (start > end || start + len > end) throw MALFORMED('truncated input', pos);
    if (ext === EXT_ERROR && len > 0) {
      if (depth + 1 > MAX_DEPTH) deep = true;
      else if (scanFrame(b, start, start + len, depth + 1) < 0) deep = true;
    }
    pos = start + len;
    remaining--;
    if (items >= 0) {
      if (items > end - pos) throw MALFORMED(`container of ${items} items in ${end - pos} bytes`, pos);
      if (depth + 1 > MAX_DEPTH) deep = true;
      if (items > 0) {
        stack.push(remaining);
        remaining = items;
        depth++;
      }
    }
    while (remaining === 0) {
      if (stack.length === base) return deep ? -pos : pos;
      remaining = stack.pop()!;
      depth--;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Integers beyond 32 bits. These two functions descend into what msgpackr writes structurally:
// arrays, Maps and plain objects (a class instance is written as its own fields, but is not
// widened).

function isWide(x: number): boolean {
  return (x > 0xffffffff || x < -0x80000000) && Number.isSafeInteger(x);
}

function isPlainObject(o: object): boolean {
  const p = Object.getPrototypeOf(o);
  return p === Object.prototype || p === null;
}

/**
 * Whether v holds a number to widen (see above), after checking its depth: throws a WippyError
 * (Invalid) past MAX_DEPTH levels, which a cyclic value reaches too. Visits the whole value; a
 * WippyError's details count one level deeper, as they do on the wire.
 */
function inspect(v: unknown, depth: number): boolean {
  if (typeof v === 'number') return isWide(v);
  if (typeof v !== 'object' || v === null) return false;
  if (depth >= MAX_DEPTH) {
    throw new WippyError(`value nested deeper than ${MAX_DEPTH} levels (or cyclic)`, 'Invalid', false);
  }
  const d = depth + 1;
  let wide = false;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) if (inspect(v[i], d)) wide = true;
    return wide;
  }
  if (v instanceof Map) {
    for (const [k, x] of v) {
      const wk = inspect(k, d);
      if (inspect(x, d) || wk) wide = true;
    }
    return wide;
  }
  if (v instanceof WippyError) {
    inspect(v.details, d); // widened by the Error extension's own pack
    return false;
  }
  if (!isPlainObject(v)) return false;
  const o = v as Record<string, unknown>;
  for (const k in o) if (inspect(o[k], d)) wide = true;
  return wide;
}

function widen(v: unknown): unknown {
  if (typeof v === 'number') return isWide(v) ? BigInt(v) : v;
  if (typeof v !== 'object' || v === null) return v;
  if (Array.isArray(v)) return v.map(widen);
  if (v instanceof Map) {
    const m = new Map<unknown, unknown>();
    for (const [k, x] of v) m.set(widen(k), widen(x));
    return m;
  }
  if (!isPlainObject(v)) return v;
  const o = v as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const k in o) {
    // A plain assignment to "__proto__" would set the prototype instead of a key.
    if (k === '__proto__') {
      Object.defineProperty(out, k, { value: widen(o[k]), enumerable: true, writable: true, configurable: true });
    } else {
      out[k] = widen(o[k]);
    }
  }
  return out;
}
