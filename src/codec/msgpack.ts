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

// Set only around the decoder's `new WippyError`: see the class comment.
let decoding = false;

/**
 * An error object as Lua processes see it (`errors.new{...}`), on the JS side: `message`, `kind`
 * ("" when it has none), `retryable` (true, false or undefined) and `details`.
 *
 * Errors built by the decoder skip the stack capture, which is most of the cost of `new Error()`
 * (~2.7 µs, measurements.md 5): they were raised in a Lua process, where this JS stack says
 * nothing. Errors built by JS code get the usual stack.
 */
export class WippyError extends Error {
  kind: string;
  retryable?: boolean;
  details?: unknown;

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
      if (d !== undefined) fields.details = needsWiden(d) ? widen(d) : d;
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
 * it, but do not transfer its `.buffer` to another thread.
 */
export function encodeValue(v: unknown): Uint8Array {
  return packr.pack(needsWiden(v) ? widen(v) : v);
}

/** Decodes a batch of concatenated values (one per frame); throws on malformed input. */
export function decodeValues(b: Uint8Array): unknown[] {
  return unpackr.unpackMultiple(b) as unknown[];
}

/** Decodes one value; throws on malformed or truncated input. */
export function decodeValue(b: Uint8Array): unknown {
  return unpackr.unpack(b);
}

/** Encodes an argument list as one array, the shape codec.decode_args expects. */
export function encodeArgs(args: unknown[]): Uint8Array {
  return packr.pack(needsWiden(args) ? widen(args) : args);
}

/** Decodes what codec.encode_args produced; nils are null, and the length is the Lua `n`. */
export function decodeArgs(b: Uint8Array): unknown[] {
  const v = unpackr.unpack(b);
  if (!Array.isArray(v)) throw new TypeError('decodeArgs: an argument list must be a msgpack array');
  return v;
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

function needsWiden(v: unknown): boolean {
  if (typeof v === 'number') return isWide(v);
  if (typeof v !== 'object' || v === null) return false;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) if (needsWiden(v[i])) return true;
    return false;
  }
  if (v instanceof Map) {
    for (const [k, x] of v) if (needsWiden(k) || needsWiden(x)) return true;
    return false;
  }
  if (!isPlainObject(v)) return false;
  const o = v as Record<string, unknown>;
  for (const k in o) if (needsWiden(o[k])) return true;
  return false;
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
