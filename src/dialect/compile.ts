// The dialect's front door: typed Lua text -> plain Lua 5.4 text with every line where it was.
//
// Who calls it: the registry pipeline (src/registry/registry.ts) once per Lua entry, on the main
// thread, so every kernel receives plain Lua; and a worker re-reading a source file for
// process.upgrade. Nothing here touches the filesystem.
//
// The cache. Results (the compiled text, or the syntax error) are kept by SHA-256 of the source:
// a registry rebuilt from the same files (a reload, a test suite creating many registries, an
// upgrade to an unchanged file) compiles nothing again. It holds at most CACHE_MAX results and
// forgets the oldest first (a Map iterates in insertion order). The file name is not part of the
// key; it is applied when the error is reported.
//
// Cost: 2.8 ms of CPU per 1,000 lines of typed Lua on Node 20 (2.6 on Node 24), 1.5 ms for plain
// Lua; a cache hit (hashing) 0.02 ms for 25 KB. bench/dialect-compile.ts measures it.

import { createHash } from 'node:crypto';
import { Cursor } from './cursor.js';
import { applyEdits, declText, exportEdits, typeExpr } from './emitter.js';
import { DialectSyntaxError, tokenize } from './lexer.js';
import { LuaParser } from './parser.js';

export { DialectSyntaxError } from './lexer.js';

/** Cached compile results; the oldest is dropped past this many. */
export const CACHE_MAX = 2048;

type Result = { ok: true; lua: string } | { ok: false; error: DialectSyntaxError };
const cache = new Map<string, Result>();

/** Counters for tests: how many compiles ran and how many were served from the cache. */
export const compileStats = { compiled: 0, hits: 0 };

/**
 * Compiles without the cache. Throws DialectSyntaxError (with line and token) on bad syntax.
 * Plain Lua comes back unchanged (the same string).
 */
export function compileUncached(source: string): string {
  const c = new Cursor(source, tokenize(source));
  const p = new LuaParser(c);
  p.chunk();
  const edits = c.edits;
  for (const d of p.decls) edits.push({ start: d.start, end: d.end, text: declText(d) });
  for (const e of exportEdits(p.decls, p.exportSites)) edits.push(e);
  for (const t of p.typeofs) edits.push({ start: t.at, end: t.at, text: `, ${typeExpr(t.type, new Set(t.generics))}` });
  return applyEdits(source, edits);
}

/** A syntax error located in a file: `file:line: message near 'token'`. */
export class LuaSyntaxError extends Error {
  readonly file: string;
  readonly line: number;
  readonly token: string;
  readonly detail: string;

  constructor(file: string, e: DialectSyntaxError) {
    super(`${file}:${e.line}: syntax error: ${e.detail} near '${e.token}'`);
    this.name = 'LuaSyntaxError';
    this.file = file;
    this.line = e.line;
    this.token = e.token;
    this.detail = e.detail;
  }
}

/**
 * Compiles `source` (cached by its hash). `file` names the source in the error: the path the user
 * knows, or the entry id for inline source. Throws LuaSyntaxError.
 */
export function compileLua(source: string, file: string): string {
  const key = createHash('sha256').update(source).digest('base64');
  let r = cache.get(key);
  if (r) {
    compileStats.hits++;
  } else {
    compileStats.compiled++;
    try {
      r = { ok: true, lua: compileUncached(source) };
    } catch (e) {
      if (!(e instanceof DialectSyntaxError)) throw e;
      r = { ok: false, error: e };
    }
    if (cache.size >= CACHE_MAX) cache.delete(cache.keys().next().value!);
    cache.set(key, r);
  }
  if (!r.ok) throw new LuaSyntaxError(file, r.error);
  return r.lua;
}
