// WIT signatures for core (non-component) modules: the entry's `wit` field says how the payload's
// values become the export's parameters and its result a value, e.g.
//
//   wit: |
//     compute: func(a: s32, b: s32) -> s32;
//
// Owns: parsing `name: func(p: type, ...) [-> type];` lines and converting values both ways.
// May call nothing. Core modules only have numbers at their boundary, so only the WIT types that
// lower to one core value are accepted (bool, s8..s64, u8..u64, f32, f64, char); a string or
// record in a core signature is a load error naming the type — it needs a memory protocol, which is
// what components (canonical ABI) are for. A core module without `wit` is called with the raw
// numbers (i64 as BigInt) and its results returned as they come.
// Rejected: parsing full WIT here — components carry their own types, and jco maps them.

import { WasmError } from './errors.js';

export type CoreType = 'bool' | 's8' | 's16' | 's32' | 's64' | 'u8' | 'u16' | 'u32' | 'u64' | 'f32' | 'f64' | 'char';
const CORE_TYPES = new Set<string>(['bool', 's8', 's16', 's32', 's64', 'u8', 'u16', 'u32', 'u64', 'f32', 'f64', 'char']);

export interface CoreSignature {
  params: Array<{ name: string; type: CoreType }>;
  result?: CoreType;
}

const FUNC = /([a-z][a-z0-9-]*)\s*:\s*func\s*\(([^)]*)\)\s*(?:->\s*([a-z0-9<>, ]+?))?\s*;/g;

/** Every `name: func(...)` in `wit`; throws WasmError(Invalid) naming the bad part. */
export function parseSignatures(wit: string): Map<string, CoreSignature> {
  const out = new Map<string, CoreSignature>();
  for (const m of wit.matchAll(FUNC)) {
    const [, name, params, result] = m;
    const sig: CoreSignature = { params: [] };
    for (const p of params!.split(',').map((s) => s.trim()).filter(Boolean)) {
      const pm = /^([a-z][a-z0-9-]*)\s*:\s*(\S+)$/.exec(p);
      if (!pm) throw new WasmError('Invalid', `wit: ${name}: cannot read parameter "${p}" (expected "name: type")`);
      sig.params.push({ name: pm[1]!, type: coreType(pm[2]!, `${name}: parameter ${pm[1]}`) });
    }
    if (result) sig.result = coreType(result.trim(), `${name}: result`);
    out.set(name!, sig);
  }
  if (out.size === 0 && wit.trim() !== '') throw new WasmError('Invalid', 'wit: no "name: func(...) -> type;" signature found');
  return out;
}

function coreType(t: string, what: string): CoreType {
  if (CORE_TYPES.has(t)) return t as CoreType;
  throw new WasmError('Invalid', `wit: ${what}: type ${t} is not supported for a core module (only bool, s8..s64, u8..u64, f32, f64, char); build a component for strings, lists and records`);
}

/** A payload value as the core parameter of WIT type `t`. */
export function lowerCore(v: unknown, t: CoreType, what: string): number | bigint {
  if (t === 'bool') return v ? 1 : 0;
  if (t === 'char') {
    if (typeof v === 'string' && v.length > 0) return v.codePointAt(0)!;
    throw new WasmError('Invalid', `${what}: expected a one-character string for char`);
  }
  if (t === 's64' || t === 'u64') {
    if (typeof v === 'bigint') return t === 's64' ? BigInt.asIntN(64, v) : BigInt.asUintN(64, v);
    if (typeof v === 'number' && Number.isInteger(v)) return t === 's64' ? BigInt.asIntN(64, BigInt(v)) : BigInt.asUintN(64, BigInt(v));
    throw new WasmError('Invalid', `${what}: expected an integer for ${t}, got ${describe(v)}`);
  }
  const n = typeof v === 'bigint' ? Number(v) : v;
  if (typeof n !== 'number') throw new WasmError('Invalid', `${what}: expected a number for ${t}, got ${describe(v)}`);
  if (t === 'f32' || t === 'f64') return n;
  if (!Number.isInteger(n)) throw new WasmError('Invalid', `${what}: expected an integer for ${t}, got ${n}`);
  return n | 0;
}

/** A core result of WIT type `t` as a payload value (i64 as a number when it fits exactly). */
export function liftCore(v: unknown, t: CoreType | undefined): unknown {
  if (t === undefined) return typeof v === 'bigint' && Number.isSafeInteger(Number(v)) ? Number(v) : v;
  const n = v as number;
  switch (t) {
    case 'bool': return n !== 0;
    case 'char': return String.fromCodePoint(n);
    case 'u8': return n & 0xff;
    case 'u16': return n & 0xffff;
    case 'u32': return n >>> 0;
    case 's8': return (n << 24) >> 24;
    case 's16': return (n << 16) >> 16;
    case 's64': case 'u64': {
      const b = t === 's64' ? BigInt.asIntN(64, v as bigint) : BigInt.asUintN(64, v as bigint);
      return Number.isSafeInteger(Number(b)) ? Number(b) : b;
    }
    default: return n;
  }
}

function describe(v: unknown): string {
  return v === null || v === undefined ? 'nil' : Array.isArray(v) ? 'a list' : typeof v;
}
