// The dialect in the registry pipeline: one Lua entry's source -> its compiled Lua (`entry.lua`),
// or a load problem that names the file, the line and the token.
//
// Where the problem points. A `file://` source is reported at its own file and the Lua line. An
// inline source is reported in the YAML file that holds it: a block scalar (`source: |`) starts on
// the line after the `source:` key, so Lua line N is YAML line key+N; a one-line source is on the
// key's line. The message always says the Lua line too, so an entry given in code (no file) still
// locates it.

import { compileLua, LuaSyntaxError } from './compile.js';
import type { LuaEntry } from '../registry/types.js';

export interface SourceProblem {
  /** The file to name: the Lua file, or the YAML file holding an inline source. */
  file: string;
  line: number | undefined;
  message: string;
}

/**
 * Compiles `entry.source` into `entry.lua`. `keyLine` is the YAML line of the `source:` key
 * (undefined for entries given in code). Returns the problem instead when the source is bad.
 */
export function compileEntry(entry: LuaEntry, keyLine: number | undefined): SourceProblem | undefined {
  const shownFile = entry.sourcePath ?? entry.origin.file;
  try {
    entry.lua = compileLua(entry.source, entry.sourcePath ? shownFile : entry.id);
    return undefined;
  } catch (e) {
    if (!(e instanceof LuaSyntaxError)) throw e;
    const what = `Lua syntax error: ${e.detail} near '${e.token}'`;
    if (entry.sourcePath) return { file: entry.sourcePath, line: e.line, message: what };
    const block = entry.source.includes('\n');
    const line = keyLine === undefined ? undefined : block ? keyLine + e.line : keyLine;
    return { file: entry.origin.file, line, message: `${what} (line ${e.line} of the inline source)` };
  }
}

/**
 * A source file re-read by a worker for process.upgrade, compiled like at load. A syntax error
 * becomes a chunk that raises it, so the upgrade fails with "create failed: <file>:<line>: ...".
 */
export function compileFileText(path: string, text: string): string {
  try {
    return compileLua(text, path);
  } catch (e) {
    if (!(e instanceof LuaSyntaxError)) throw e;
    return `error(${JSON.stringify(e.message)}, 0)`;
  }
}
