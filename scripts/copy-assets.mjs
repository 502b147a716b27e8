// Copies the non-TypeScript assets (the Lua kernel and libraries) next to the compiled code,
// so dist/ is self-contained: dist/src/lua/*.lua sits beside dist/src/lua/*.js.
import { cpSync, readdirSync, statSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

function copyLua(from, to) {
  for (const name of readdirSync(from)) {
    const src = join(from, name);
    const dst = join(to, name);
    if (statSync(src).isDirectory()) copyLua(src, dst);
    else if (name.endsWith('.lua')) { mkdirSync(to, { recursive: true }); cpSync(src, dst); }
  }
}
copyLua('src', 'dist/src');
