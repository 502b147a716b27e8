// Writes what is derived from the wire spec: src/lua/kernel/wire.lua and the generated tables of
// docs/design/protocol.md. Run from the repository root after a change to src/wire/spec.ts:
//   npm run build && node dist/src/wire/gen.js
// test/wire.test.ts fails while either file differs from what this would write.
import { readFileSync, writeFileSync } from 'node:fs';
import { luaSource, docTables, spliceDoc } from './lua.js';

export const LUA_PATH = 'src/lua/kernel/wire.lua';
export const DOC_PATH = 'docs/design/protocol.md';

function write(path: string, text: string): void {
  let old: string | undefined;
  try { old = readFileSync(path, 'utf8'); } catch { /* new file */ }
  if (old === text) return;
  writeFileSync(path, text);
  console.log(`wrote ${path}`);
}

write(LUA_PATH, luaSource());
let doc: string | undefined;
try { doc = readFileSync(DOC_PATH, 'utf8'); } catch { /* not there yet */ }
if (doc !== undefined) write(DOC_PATH, spliceDoc(doc, docTables()));
