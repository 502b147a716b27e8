// How values cross between the runtime's payloads (what Lua tables and JS values become on the
// wire) and a component's JS bindings (jco's representation of WIT values).
//
// The WIT type mapping (docs/wasm.md has the table):
//   record          <-> table with named fields; WIT `first-name` is `first_name` on our side
//                       (jco's JS uses `firstName`; both spellings are accepted going in)
//   list<T>         <-> array (list<u8> as bytes: Uint8Array / Lua string)
//   string, bool, s8..s32, u8..u32, f32, f64, char <-> the same scalar
//   s64, u64        <-> integer (BigInt in JS only beyond 2^53)
//   option<T>       <-> value or nil (nested options: { tag = "some", val = ... } / { tag = "none" })
//   result<T, E>    top level: the value, or the call's error (kind Internal, payload E);
//                   nested: { tag = "ok"|"err", val = ... }
//   variant         <-> { tag = "case-name", val = payload }
//   enum            <-> the case name as a string
//   flags           <-> table of booleans by flag name
//   tuple<...>      <-> array
// Owns: the two conversions (pure functions). May call nothing. Rejected: converting with the WIT
// types in hand — WIT has no maps, so every object crossing is a record, a variant, or flags, and
// renaming keys structurally is exact; carrying the types would mean parsing WIT ourselves.

/** A payload value as jco expects it for a parameter. */
export function toGuest(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(toGuest);
  if (v !== null && typeof v === 'object' && !ArrayBuffer.isView(v) && !(v instanceof Map)) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[camel(k)] = toGuest(x);
    return out;
  }
  if (v instanceof Map) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of v) out[camel(String(k))] = toGuest(x);
    return out;
  }
  return v;
}

/** A value jco returned, as a payload value. */
export function toHost(v: unknown): unknown {
  if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? Number(v) : v;
  if (Array.isArray(v)) return v.map(toHost);
  if (v instanceof Uint8Array) return v;
  if (ArrayBuffer.isView(v)) return Array.from(v as unknown as ArrayLike<number | bigint>, toHost);
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[snake(k)] = toHost(x);
    return out;
  }
  return v === undefined ? null : v;
}

function camel(k: string): string {
  return k.replace(/[-_]([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

function snake(k: string): string {
  return k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/** The message of a component's error result: strings and enum cases as they are, else JSON. */
export function errorMessage(payload: unknown): string {
  if (typeof payload === 'string') return payload;
  try {
    return JSON.stringify(toHost(payload), (_, x) => (typeof x === 'bigint' ? x.toString() : x));
  } catch {
    return String(payload);
  }
}
