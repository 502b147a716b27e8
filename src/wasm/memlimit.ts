// `limits.memory` enforced at `memory.grow`: a core module is rewritten so that every
// `memory.grow` calls a checking function first, and a grow that would pass the limit traps there
// with a message naming the entry and the limit.
//
// The rewrite (wabt: binary -> text -> binary, once per (hash, limit), at compile time):
//   * every `memory.grow` of memory 0 becomes `call $__wippy_grow`;
//   * appended: the function
//       (func $__wippy_grow (param $pages i32) (result i32)
//         (if (size + pages > LIMIT_PAGES) (then (global.set $refused pages) unreachable))
//         (memory.grow pages))
//     and the exported global `__wippy_grow_refused` (0, or the pages a refused grow asked for).
//   Both are appended after every existing function and global, so no index in the module moves
//   and the text needs no renaming. The trap is `unreachable`; `refusedGrow` (below) reads the
//   global after a trap and turns the message into
//     "<entry>: wasm trap: memory.grow refused: growing by N page(s) would pass limits.memory M
//      bytes (memory is K bytes)".
// Component core modules are rewritten the same way (artifact.ts, for each core module whose text
// has a memory.grow); jco instantiates them through our instantiateCore hook, which is where the
// globals are found.
// Not rewritten: memory64 modules and `memory.grow` of another memory (multi-memory) — those stay
// checked after each call only (instance.ts). A module wabt cannot read is compiled unchanged and
// is also checked after each call; `rewriteFailures` records why.
//
// Alternatives rejected: lowering the memory's declared maximum (a refused grow then returns -1
// and the guest may carry on, or die later with an unrelated trap; nothing names the limit);
// checking only after each call (a guest can allocate far past the limit before returning);
// V8 has no grow hook.
// May call: wabt (lazily loaded). Measured (loaded machine): loading wabt ~60-230 ms the first
// time, then ~0.1 ms to rewrite a small module; once per (hash, limit).

const PAGE = 65536;
export const REFUSED_GLOBAL = '__wippy_grow_refused';

type WabtMod = { toText(o: object): string; toBinary(o: object): { buffer: Uint8Array }; validate(): void; destroy(): void };
type Wabt = {
  readWasm(b: Uint8Array, o: Record<string, boolean>): WabtMod;
  parseWat(name: string, text: string, o?: Record<string, boolean>): WabtMod;
};
let wabt: Promise<Wabt> | undefined;

const FEATURES = {
  mutable_globals: true, sat_float_to_int: true, sign_extension: true, simd: true, multi_value: true,
  bulk_memory: true, reference_types: true, tail_call: true, extended_const: true,
};

/** Why a module could not be rewritten (by hash), for docs and tests. */
export const rewriteFailures = new Map<string, string>();

/**
 * `bytes` with every memory.grow checked against `limitBytes`, or undefined when the module has
 * no memory.grow to check (or cannot be rewritten: see rewriteFailures).
 */
export async function limitGrow(bytes: Uint8Array, limitBytes: number, label: string): Promise<Uint8Array | undefined> {
  wabt ??= import('wabt').then((m) => (m.default as unknown as () => Promise<Wabt>)());
  const w = await wabt;
  let text: string;
  let mod: WabtMod | undefined;
  try {
    mod = w.readWasm(bytes, { readDebugNames: false, ...FEATURES });
    text = mod.toText({ foldExprs: false, inlineExport: false });
  } catch (err) {
    rewriteFailures.set(label, `wabt cannot read it: ${(err as Error).message}`);
    return undefined;
  } finally {
    mod?.destroy();
  }
  if (!/\bmemory\.grow\b/.test(text)) return undefined;
  if (/\(memory \(;\d+;\) i64\b/.test(text)) {
    rewriteFailures.set(label, 'memory64 is not rewritten');
    return undefined;
  }
  const pages = Math.floor(limitBytes / PAGE);
  // memory.grow of memory 0 only: `memory.grow 1` (another memory) stays as it is.
  const body = text.replace(/\bmemory\.grow\b(?![ \t]+\d)/g, 'call $__wippy_grow');
  const end = body.lastIndexOf(')');
  const added = `
  (global $__wippy_refused (mut i32) (i32.const 0))
  (export "${REFUSED_GLOBAL}" (global $__wippy_refused))
  (func $__wippy_grow (param $pages i32) (result i32)
    (if (i64.gt_u (i64.add (i64.extend_i32_u (memory.size)) (i64.extend_i32_u (local.get $pages))) (i64.const ${pages}))
      (then (global.set $__wippy_refused (local.get $pages)) unreachable))
    (memory.grow (local.get $pages)))
`;
  let out: WabtMod | undefined;
  try {
    out = w.parseWat(`${label}.wat`, `${body.slice(0, end)}${added})`, FEATURES);
    out.validate();
    return new Uint8Array(out.toBinary({}).buffer);
  } catch (err) {
    rewriteFailures.set(label, `the rewritten text does not assemble: ${(err as Error).message}`);
    return undefined;
  } finally {
    out?.destroy();
  }
}

/**
 * After a trap: if one of `globals` records a refused grow, the message that names the limit
 * (and the global is reset, so the instance's next trap is judged afresh). Else undefined.
 */
export function refusedGrow(entryId: string, limitBytes: number, globals: WebAssembly.Global[], memories: WebAssembly.Memory[]): string | undefined {
  for (const g of globals) {
    const pages = Number(g.value);
    if (pages === 0) continue;
    g.value = 0;
    const size = Math.max(0, ...memories.map((m) => m.buffer.byteLength));
    return `${entryId}: wasm trap: memory.grow refused: growing by ${pages} page(s) of 64 KiB would pass limits.memory ${limitBytes} bytes (memory is ${size} bytes)`;
  }
  return undefined;
}
