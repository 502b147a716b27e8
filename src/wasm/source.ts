// Where a WebAssembly entry's bytes come from, and the integrity check before anything compiles.
//
// Owns: reading `function.wasm` / `process.wasm` binaries through their `fs.directory` entry
// (`fs` + `path`, the path confined to that directory), verifying the declared `hash`
// (`sha256:<hex>`) against the bytes read, and assembling `function.wat` text with wabt (the
// WebAssembly Binary Toolkit compiled to wasm; loaded once per thread, on first WAT).
// May call: node:fs, node:crypto, wabt. Nothing here instantiates or runs code.
//
// A hash mismatch is a load error that names the entry, the declaring file and line, the expected
// and the actual hash — the binary on disk is not the one the app was written against, and
// compiling it anyway would run unreviewed code. The hash of a WAT entry is computed (the source
// is in the registry itself); it is the cache key of the compiled module like any other hash.
//
// Measured (2 cores shared with other busy sessions, load average ~18, so upper bounds): sha256 of
// a 3.6 KiB component ~40 µs; wabt's first load ~580 ms, a small WAT module ~2.5 ms after that.

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Registry } from '../registry/registry.js';
import type { FsDirectoryEntry, WasmEntry } from '../registry/types.js';
import { WasmError } from './errors.js';

export interface WasmBinary {
  bytes: Uint8Array;
  /** `sha256:<hex>` of `bytes`. */
  hash: string;
  shape: 'core' | 'component';
}

/** `sha256:<hex>` of some bytes. */
export function sha256(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** `file:line: entry <id>` for messages, as registry problems print it. */
export function where(entry: WasmEntry, registry: Registry): string {
  const file = entry.origin.file.startsWith('<') ? entry.origin.file : path.relative(registry.root, entry.origin.file);
  return `${file}${entry.origin.line !== undefined ? `:${entry.origin.line}` : ''}: entry ${entry.id}`;
}

/** Core module or component, from the preamble (version 1 vs the component layer 0x0d/1). */
export function shapeOf(bytes: Uint8Array): 'core' | 'component' {
  if (bytes.length < 8 || bytes[0] !== 0 || bytes[1] !== 0x61 || bytes[2] !== 0x73 || bytes[3] !== 0x6d) {
    throw new WasmError('Invalid', 'not a WebAssembly binary (no \\0asm preamble)');
  }
  return bytes[6] === 1 ? 'component' : 'core';
}

/**
 * The entry's bytes, verified. Throws WasmError(Invalid/NotFound) naming the entry and field;
 * nothing is compiled before this returns.
 */
export async function loadBinary(entry: WasmEntry, registry: Registry): Promise<WasmBinary> {
  const at = where(entry, registry);
  if (entry.kind === 'function.wat') {
    const bytes = await assembleWat(entry.source, entry.sourcePath ?? `${entry.id}.wat`, at);
    return { bytes, hash: sha256(bytes), shape: 'core' };
  }
  const fs = registry.get(entry.fs) as FsDirectoryEntry | undefined;
  if (!fs || fs.kind !== 'fs.directory') throw new WasmError('NotFound', `${at}: field fs: ${entry.fs} is not an fs.directory`, { entry: entry.id });
  const file = path.resolve(fs.directory, `.${path.posix.normalize(`/${entry.path}`)}`);
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(readFileSync(file));
  } catch (err) {
    throw new WasmError('NotFound', `${at}: field path: cannot read ${entry.path} in ${entry.fs} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, { entry: entry.id });
  }
  const actual = sha256(bytes);
  if (actual !== entry.hash) {
    throw new WasmError('Invalid', `${at}: field hash: ${entry.path} does not match its hash: expected ${entry.hash}, actual ${actual}`, { entry: entry.id });
  }
  let shape: 'core' | 'component';
  try {
    shape = shapeOf(bytes);
  } catch (err) {
    throw new WasmError('Invalid', `${at}: field path: ${entry.path}: ${(err as Error).message}`, { entry: entry.id });
  }
  return { bytes, hash: actual, shape };
}

type Wabt = { parseWat(name: string, text: string, features?: Record<string, boolean>): { validate(): void; toBinary(o: object): { buffer: Uint8Array }; destroy(): void } };
let wabt: Promise<Wabt> | undefined;

/** WAT text -> a validated core module; a syntax error names the entry and wabt's line:column. */
export async function assembleWat(source: string, file: string, at: string): Promise<Uint8Array> {
  wabt ??= import('wabt').then((m) => (m.default as unknown as () => Promise<Wabt>)());
  const w = await wabt;
  let mod: ReturnType<Wabt['parseWat']> | undefined;
  try {
    mod = w.parseWat(path.basename(file), source, { bulk_memory: true, multi_value: true, sign_extension: true, sat_float_to_int: true });
    mod.validate();
    return new Uint8Array(mod.toBinary({}).buffer);
  } catch (err) {
    const detail = (err as Error).message.replace(/^parseWat failed:\n?/, '').trim();
    throw new WasmError('Invalid', `${at}: field source: invalid WAT: ${detail}`);
  } finally {
    mod?.destroy();
  }
}
