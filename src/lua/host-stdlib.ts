// Host functions behind the standard modules (src/lua/lib/{json,yaml,base64,uuid,hash}.lua): the
// work a mature JS library or node:crypto does better than Lua — digests and HMACs, UUID
// generation, YAML parse/emit, base64, and JSON parse/emit.
//
// What it owns: converting values between the Lua stack and JS (`readValue`, `pushValue`) and the
// raw C-style functions engine.ts registers in the kernel's host table `__H` (one line there).
// What it may call: wasmoon's raw `_lua_*` exports only (the same discipline as engine.ts: no
// convenience layer, ~0.004 µs per raw call), node:crypto, `uuid`, `yaml`.
//
// Protocol. Every function reads its arguments off the Lua stack and returns either its result or
// `nil, message` on bad input; it never raises a Lua error (a Lua error raised from JS would
// longjmp through wasm frames). Argument *types* are checked by the Lua wrappers first, which also
// turn `message` into an error object of the kind the module's doc page names.
//
// Values. Lua -> JS (`readValue`): nil -> null; booleans; integers -> number when they are exact
// in a double, else bigint; floats -> number; strings -> JS strings (UTF-8, invalid bytes become
// U+FFFD); a table is an array when its keys are exactly 1..n (empty table: empty array), an
// object (`Map`, keys in sorted order unless an order is given) when every key is a string; mixed
// keys, gaps, other key types, cycles, nesting past 128 levels and functions/userdata/threads are
// errors naming the path (`$.items[2].x`). JS -> Lua (`pushValue`): null/undefined -> nil,
// integral numbers -> integers, other numbers -> floats, arrays -> 1-based tables (null elements
// leave holes), plain objects and Maps -> tables with string keys.
//
// Costs (measured here on Node 20, on a loaded 2-core machine, so read them as ratios): a JSON
// document of 100 small objects (5.5 KB, ~700 values) encodes in ~1.7-2.5 ms and decodes in
// ~1.3-1.6 ms. Most of it is per-value calls into wasm: each `m._lua_*` export goes through
// emscripten's checking wrapper (~0.1-0.3 µs a call), so the table walk reads each value once
// (one lua_next pass decides the shape), strings are decoded straight from wasm memory and
// pushed from one reused scratch buffer, and error paths are built only when thrown.
//
// Alternatives rejected: a JSON encoder in Lua (a prototype with the same rules took ~3.6 ms for
// the document above, slower than this walk); round-tripping through the msgpack codec
// (codec.lua decodes in Lua, slower than pushing tables directly); a JSON decoder in Lua (slower
// than JSON.parse by far, and a second grammar to keep right).
//
// Loading. uuid, yaml and zod are required on first use, not imported: every worker loads this
// file, and a few MB of library code in each worker's heap raises V8's next-collection threshold,
// so floating garbage (and RSS) grows with it — measured as +10% RSS per idle process on a
// 2-worker host (10,000 processes blocked in receive, Node 24) until these loads were made lazy.
import { createHash, createHmac } from 'node:crypto';
import { createRequire } from 'node:module';
import type * as UuidLib from 'uuid';
import type * as YamlLib from 'yaml';
import type { z as ZodLib } from 'zod';

const lazyRequire = createRequire(import.meta.url);
let uuidLib: typeof UuidLib | undefined;
let yamlLib: typeof YamlLib | undefined;
let zodLib: typeof ZodLib | undefined;
const uuid = (): typeof UuidLib => (uuidLib ??= lazyRequire('uuid') as typeof UuidLib);
const yaml = (): typeof YamlLib => (yamlLib ??= lazyRequire('yaml') as typeof YamlLib);
const zod = (): typeof ZodLib => (zodLib ??= (lazyRequire('zod') as { z: typeof ZodLib }).z);

type Module = any; // emscripten module of wasmoon (untyped raw exports)
type HostFn = (L: number) => number;

const T_NIL = 0, T_BOOLEAN = 1, T_NUMBER = 3, T_STRING = 4, T_TABLE = 5;
const TYPE_NAMES = ['nil', 'boolean', 'userdata', 'number', 'string', 'table', 'function', 'userdata', 'thread'];
/** Deepest nesting json.encode / yaml.encode accept (the json page's limit). */
export const MAX_ENCODE_DEPTH = 128;
/** Deepest nesting decoders push (Go's encoding/json stops at 10,000 too). */
const MAX_DECODE_DEPTH = 10_000;

type Value = null | boolean | number | bigint | string | Value[] | Map<string, Value>;

/**
 * A value this bridge refuses. Only these are caught and turned into `nil, message`: anything
 * else thrown while pushing onto the Lua stack (emscripten unwinding a Lua error) must propagate.
 */
export class EncodeError extends Error {}
const ours = (e: unknown): string => { if (e instanceof EncodeError) return e.message; throw e; };

/** The Lua/JS value bridge for one wasmoon module. */
export class RawLua {
  private readonly lenPtr: number;
  /** A malloc'd scratch area strings are encoded into before lua_pushlstring copies them. */
  private scratch = 0;
  private scratchLen = 0;
  private readonly enc = new TextEncoder();
  constructor(private readonly m: Module) { this.lenPtr = m._malloc(8); }

  bytes(L: number, idx: number): Uint8Array {
    const p = this.m._lua_tolstring(L, idx, this.lenPtr);
    const len = this.m.HEAPU32[this.lenPtr >> 2];
    return this.m.HEAPU8.subarray(p, p + len);
  }
  /** A Lua string as JS text, decoded straight from wasm memory (no copy). */
  str(L: number, idx: number): string {
    const m = this.m;
    const p = m._lua_tolstring(L, idx, this.lenPtr);
    return Buffer.from(m.HEAPU8.buffer, p, m.HEAPU32[this.lenPtr >> 2]).toString('utf8');
  }
  type(L: number, idx: number): number { return this.m._lua_type(L, idx); }
  bool(L: number, idx: number): boolean { return this.m._lua_toboolean(L, idx) !== 0; }

  private room(n: number): number {
    if (n > this.scratchLen) {
      if (this.scratch) this.m._free(this.scratch);
      this.scratchLen = Math.max(n, 256);
      this.scratch = this.m._malloc(this.scratchLen);
    }
    return this.scratch;
  }
  pushBytes(L: number, bytes: Uint8Array): void {
    const p = this.room(bytes.length);
    this.m.HEAPU8.set(bytes, p);
    this.m._lua_pushlstring(L, p, bytes.length);
  }
  pushStr(L: number, s: string): void {
    const max = s.length * 3;
    const p = this.room(max);
    const { written } = this.enc.encodeInto(s, this.m.HEAPU8.subarray(p, p + max));
    this.m._lua_pushlstring(L, p, written);
  }
  /** `nil, message`: the failure half of every host function here. */
  fail(L: number, message: string): number { this.m._lua_pushnil(L); this.pushStr(L, message); return 2; }

  /** The Lua value at `idx` as JS (see the top for the rules); throws EncodeError. */
  readValue(L: number, idx: number, order?: string[]): Value {
    const m = this.m;
    const seen = new Set<number>();
    // The path to the value being read (`$.items[2].x`), built only when an error needs it.
    const segs: Array<string | number> = [];
    const at = (): string => `$${segs.map((p) => (typeof p === 'number' ? `[${p}]` : `.${p}`)).join('')}`;
    const read = (i: number, depth: number): Value => {
      const t = m._lua_type(L, i);
      switch (t) {
        case T_NIL: return null;
        case T_BOOLEAN: return m._lua_toboolean(L, i) !== 0;
        case T_NUMBER: {
          const d = m._lua_tonumberx(L, i, 0) as number;
          if (!m._lua_isinteger(L, i) || Number.isSafeInteger(d)) return d;
          return m._lua_tointegerx(L, i, 0) as bigint; // an integer a double cannot hold exactly
        }
        case T_STRING: return this.str(L, i);
        case T_TABLE: break;
        default: throw new EncodeError(`cannot encode a ${TYPE_NAMES[t] ?? 'value'} at ${at()}`);
      }
      if (depth >= MAX_ENCODE_DEPTH) throw new EncodeError(`nesting depth exceeds ${MAX_ENCODE_DEPTH} levels at ${at()}`);
      const ptr = m._lua_topointer(L, i);
      if (seen.has(ptr)) throw new EncodeError(`recursive table reference at ${at()}`);
      seen.add(ptr);
      m._lua_checkstack(L, 4);
      const abs = m._lua_absindex(L, i);
      // One pass: values are read as they come; the shape is decided from the keys at the end.
      // (A number key is never passed to lua_tolstring: converting it in place breaks lua_next.)
      const arr: Value[] = [];
      const entries: Array<[string, Value]> = [];
      let ints = 0, maxInt = 0;
      m._lua_pushnil(L);
      while (m._lua_next(L, abs) !== 0) {
        const kt = m._lua_type(L, -2);
        if (kt === T_STRING) {
          const key = this.str(L, -2);
          segs.push(key);
          entries.push([key, read(-1, depth + 1)]);
          segs.pop();
        } else if (kt === T_NUMBER && m._lua_isinteger(L, -2)) {
          const k = m._lua_tonumberx(L, -2, 0) as number;
          if (k < 1 || k > 0x7fffffff) throw new EncodeError(`sparse array (index ${k}) at ${at()}`);
          segs.push(k);
          arr[k - 1] = read(-1, depth + 1);
          segs.pop();
          ints++; if (k > maxInt) maxInt = k;
        } else {
          const what = kt === T_NUMBER ? 'float' : TYPE_NAMES[kt] ?? 'value';
          throw new EncodeError(`table key of type ${what} at ${at()}: only string keys or 1..n indices can be encoded`);
        }
        m._lua_settop(L, -2);
      }
      seen.delete(ptr);
      if (entries.length > 0 && ints > 0) throw new EncodeError(`mixed integer and string keys at ${at()}`);
      if (entries.length === 0) {
        if (maxInt !== ints) throw new EncodeError(`sparse array (${ints} elements, highest index ${maxInt}) at ${at()}`);
        return arr;
      }
      entries.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
      if (!order || order.length === 0) return new Map(entries);
      const rank = new Map(order.map((k, n) => [k, n]));
      const first = entries.filter(([k]) => rank.has(k)).sort((a, b) => rank.get(a[0])! - rank.get(b[0])!);
      return new Map([...first, ...entries.filter(([k]) => !rank.has(k))]);
    };
    return read(m._lua_absindex(L, idx), 0);
  }

  /** Push a JS value (JSON.parse / YAML.parse output) as a Lua value. */
  pushValue(L: number, v: unknown, depth = 0): void {
    const m = this.m;
    if (depth > MAX_DECODE_DEPTH) throw new EncodeError(`nesting depth exceeds ${MAX_DECODE_DEPTH} levels`);
    if (v === null || v === undefined) { m._lua_pushnil(L); return; }
    switch (typeof v) {
      case 'boolean': m._lua_pushboolean(L, v ? 1 : 0); return;
      case 'number':
        if (Number.isInteger(v) && Number.isSafeInteger(v)) m._lua_pushinteger(L, BigInt(v));
        else m._lua_pushnumber(L, v);
        return;
      case 'bigint':
        if (v >= -(1n << 63n) && v < (1n << 63n)) m._lua_pushinteger(L, v); else m._lua_pushnumber(L, Number(v));
        return;
      case 'string': this.pushStr(L, v); return;
    }
    m._lua_checkstack(L, 4);
    if (Array.isArray(v)) {
      m._lua_createtable(L, v.length, 0);
      for (let i = 0; i < v.length; i++) {
        if (v[i] === null || v[i] === undefined) continue;
        this.pushValue(L, v[i], depth + 1);
        m._lua_rawseti(L, -2, BigInt(i + 1));
      }
      return;
    }
    if (v instanceof Date) { this.pushStr(L, v.toISOString()); return; }
    const entries = v instanceof Map ? [...v.entries()] : Object.entries(v as object);
    m._lua_createtable(L, 0, entries.length);
    for (const [k, x] of entries) {
      if (x === null || x === undefined) continue;
      this.pushStr(L, String(k));
      this.pushValue(L, x, depth + 1);
      m._lua_rawset(L, -3);
    }
  }
}

// ---- JSON ------------------------------------------------------------------------------------

/** JSON text of a value from readValue: arrays, objects in Map order, NaN/±Inf as null. */
export function jsonText(v: Value): string {
  const out: string[] = [];
  const put = (x: Value): void => {
    if (x === null) { out.push('null'); return; }
    switch (typeof x) {
      case 'boolean': out.push(x ? 'true' : 'false'); return;
      case 'number': out.push(Number.isFinite(x) ? String(x) : 'null'); return;
      case 'bigint': out.push(x.toString()); return;
      case 'string': out.push(JSON.stringify(x)); return;
    }
    if (Array.isArray(x)) {
      out.push('[');
      for (let i = 0; i < x.length; i++) { if (i > 0) out.push(','); put(x[i]!); }
      out.push(']');
      return;
    }
    out.push('{');
    let first = true;
    for (const [k, y] of x as Map<string, Value>) {
      out.push(first ? `${JSON.stringify(k)}:` : `,${JSON.stringify(k)}:`);
      first = false;
      put(y);
    }
    out.push('}');
  };
  put(v);
  return out.join('');
}

/** The same value as plain JS for the yaml emitter (Maps stay Maps to keep their order). */
function yamlValue(v: Value): unknown {
  if (typeof v === 'number' && !Number.isFinite(v)) return v;
  if (Array.isArray(v)) return v.map(yamlValue);
  if (v instanceof Map) return new Map([...v].map(([k, x]) => [k, yamlValue(x)]));
  return v;
}

// ---- base64 (RFC 4648 standard alphabet, padded, strict like Go's StdEncoding) ---------------

const B64_CHAR = /[A-Za-z0-9+/]/;
/** Decoded bytes, or the Go-style message naming the first bad input byte. */
export function base64Decode(s: string): Uint8Array | string {
  s = s.replace(/[\r\n]/g, ''); // line breaks are ignored, as by Go's decoder
  if (s.length === 0) return new Uint8Array(0);
  let pad = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === '=') {
      // padding only in the last two places of the last quantum
      if (i < s.length - 2 || (s.length % 4) !== 0) return `illegal base64 data at input byte ${i}`;
      pad++;
      continue;
    }
    if (pad > 0 || !B64_CHAR.test(c)) return `illegal base64 data at input byte ${i}`;
  }
  if (s.length % 4 !== 0) return `illegal base64 data at input byte ${s.length - (s.length % 4)}`;
  const out = Buffer.from(s, 'base64');
  // non-canonical trailing bits (e.g. "QR==") are corrupt padding for a strict decoder
  if (out.toString('base64') !== s) return `illegal base64 data at input byte ${s.length - pad - 1}`;
  return out;
}

// ---- FNV-1a ----------------------------------------------------------------------------------

function fnv32a(b: Uint8Array): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < b.length; i++) { h ^= b[i]!; h = Math.imul(h, 0x01000193) >>> 0; }
  return h >>> 0;
}
function fnv64a(b: Uint8Array): bigint {
  let h = 0xcbf29ce484222325n;
  for (let i = 0; i < b.length; i++) { h ^= BigInt(b[i]!); h = (h * 0x100000001b3n) & 0xffffffffffffffffn; }
  return BigInt.asIntN(64, h); // the same 64 bits as a Lua integer
}

// ---- JSON Schema (zod's fromJSONSchema: draft 2020-12, draft-7, draft-4) --------------------

/** Compiled schemas by schema text; bounded so a process generating schemas cannot grow it. */
const SCHEMAS = new Map<string, ZodLib.ZodType>();
const SCHEMA_CACHE_MAX = 256;
/** -> undefined when `data` (JSON text) is valid, else [kind, message]. */
export function checkSchema(schemaText: string, dataText: string): [string, string] | undefined {
  let schema = SCHEMAS.get(schemaText);
  if (!schema) {
    try { schema = zod().fromJSONSchema(JSON.parse(schemaText)); } catch (e) {
      return ['Invalid', `json schema compilation failed: ${(e as Error).message}`];
    }
    if (SCHEMAS.size >= SCHEMA_CACHE_MAX) SCHEMAS.delete(SCHEMAS.keys().next().value!);
    SCHEMAS.set(schemaText, schema);
  }
  let data: unknown;
  try { data = JSON.parse(dataText); } catch (e) { return ['Invalid', `invalid JSON: ${(e as Error).message}`]; }
  const r = schema.safeParse(data);
  if (r.success) return undefined;
  const issues = r.error.issues.map((i) => `${i.path.length > 0 ? i.path.join('.') : '(root)'}: ${i.message}`);
  return ['Invalid', `validation failed: ${issues.join('; ')}`];
}

const DIGESTS: Record<string, string> = { md5: 'md5', sha1: 'sha1', sha256: 'sha256', sha512: 'sha512' };

/** The host functions, by the name Lua calls them under `__H`. */
export function stdlibHost(m: Module): Array<[string, HostFn]> {
  const R = new RawLua(m);
  const digestOut = (L: number, d: Buffer, raw: boolean): number => {
    if (raw) R.pushBytes(L, d); else R.pushStr(L, d.toString('hex'));
    return 1;
  };
  return [
    // hash(alg, data, raw) -> digest (hex or raw bytes)
    ['hash', (L) => {
      const alg = DIGESTS[R.str(L, 1)];
      if (!alg) return R.fail(L, 'unknown digest');
      return digestOut(L, createHash(alg).update(R.bytes(L, 2)).digest(), R.bool(L, 3));
    }],
    // hmac(alg, data, secret, raw) -> mac
    ['hmac', (L) => {
      const alg = DIGESTS[R.str(L, 1)];
      if (!alg) return R.fail(L, 'unknown digest');
      return digestOut(L, createHmac(alg, R.bytes(L, 3)).update(R.bytes(L, 2)).digest(), R.bool(L, 4));
    }],
    // fnv(bits, data) -> integer (FNV-1a)
    ['fnv', (L) => {
      const b = R.bytes(L, 2);
      if (m._lua_tointegerx(L, 1, 0) === 32n) m._lua_pushinteger(L, BigInt(fnv32a(b)));
      else m._lua_pushinteger(L, fnv64a(b));
      return 1;
    }],
    // uuid_gen(version [, namespace, name]) -> string | nil, message
    ['uuid_gen', (L) => {
      let id: string;
      try {
        switch (Number(m._lua_tointegerx(L, 1, 0))) {
          case 1: id = uuid().v1(); break;
          case 4: id = uuid().v4(); break;
          case 7: id = uuid().v7(); break;
          case 3: id = uuid().v3(Uint8Array.from(R.bytes(L, 3)), R.str(L, 2)); break;
          case 5: id = uuid().v5(Uint8Array.from(R.bytes(L, 3)), R.str(L, 2)); break;
          default: return R.fail(L, 'unsupported UUID version');
        }
      } catch (e) { return R.fail(L, (e as Error).message); }
      R.pushStr(L, id);
      return 1;
    }],
    ['b64_enc', (L) => { R.pushStr(L, Buffer.from(R.bytes(L, 1)).toString('base64')); return 1; }],
    ['b64_dec', (L) => {
      const r = base64Decode(R.str(L, 1));
      if (typeof r === 'string') return R.fail(L, r);
      R.pushBytes(L, r);
      return 1;
    }],
    // json_enc(value) -> text | nil, message
    ['json_enc', (L) => {
      let text: string;
      try { text = jsonText(R.readValue(L, 1)); } catch (e) { return R.fail(L, ours(e)); }
      R.pushStr(L, text);
      return 1;
    }],
    // json_dec(text) -> true, value | nil, message (the flag tells a decoded null from failure)
    ['json_dec', (L) => {
      let v: unknown;
      try { v = JSON.parse(R.str(L, 1)); } catch (e) { return R.fail(L, (e as Error).message); }
      m._lua_pushboolean(L, 1);
      try { R.pushValue(L, v); } catch (e) { return R.fail(L, ours(e)); }
      return 2;
    }],
    // json_schema(schema_text, data_text) -> true | false, kind, message
    ['json_schema', (L) => {
      const bad = checkSchema(R.str(L, 1), R.str(L, 2));
      if (!bad) { m._lua_pushboolean(L, 1); return 1; }
      m._lua_pushboolean(L, 0); R.pushStr(L, bad[0]); R.pushStr(L, bad[1]);
      return 3;
    }],
    // yaml_enc(value, field_order) -> text | nil, message
    ['yaml_enc', (L) => {
      let order: string[] | undefined;
      let v: unknown;
      try {
        if (R.type(L, 2) === T_TABLE) {
          const o = R.readValue(L, 2);
          if (Array.isArray(o)) order = o.filter((x): x is string => typeof x === 'string');
        }
        v = yamlValue(R.readValue(L, 1, order));
      } catch (e) { return R.fail(L, ours(e)); }
      let text: string;
      try { text = yaml().stringify(v, { lineWidth: 0 }); } catch (e) { return R.fail(L, (e as Error).message); }
      R.pushStr(L, text);
      return 1;
    }],
    // yaml_dec(text) -> true, value | nil, message
    ['yaml_dec', (L) => {
      let v: unknown;
      try {
        const doc = yaml().parseDocument(R.str(L, 1), { uniqueKeys: true });
        if (doc.errors.length > 0) return R.fail(L, doc.errors[0]!.message);
        v = doc.toJS({ maxAliasCount: 100 });
      } catch (e) { return R.fail(L, (e as Error).message); }
      m._lua_pushboolean(L, 1);
      try { R.pushValue(L, v); } catch (e) { return R.fail(L, ours(e)); }
      return 2;
    }],
  ];
}
