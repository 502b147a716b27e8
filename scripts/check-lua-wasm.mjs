// Does a Lua WebAssembly module fit wasmoon's glue? (scripts/build-lua-wasm.sh runs this.)
//
//   node scripts/check-lua-wasm.mjs path/to/lua54.wasm
//
// The glue binds by name: it instantiates the module with one import object (the same object as
// "env" and "wasi_snapshot_preview1") and looks every export up by name. So the module must import
// only names that object has, and export every name wasmoon's own module exports. The glue's
// import object is read from a real instantiation of wasmoon's module (WebAssembly.instantiate is
// wrapped for that one call), not from its source text.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { LuaFactory } from 'wasmoon';

const file = process.argv[2];
if (!file) { console.error('usage: node scripts/check-lua-wasm.mjs MODULE.wasm'); process.exit(2); }
const ours = new WebAssembly.Module(readFileSync(file));
const theirs = new WebAssembly.Module(readFileSync(createRequire(import.meta.url).resolve('wasmoon/dist/glue.wasm')));

const provided = new Set();
const original = WebAssembly.instantiate;
WebAssembly.instantiate = function (bytes, imports) {
  for (const [mod, obj] of Object.entries(imports ?? {})) for (const name of Object.keys(obj)) provided.add(`${mod}.${name}`);
  return original.call(WebAssembly, bytes, imports);
};
try { await new LuaFactory().getLuaModule(); } finally { WebAssembly.instantiate = original; }

const exported = new Set(WebAssembly.Module.exports(ours).map((e) => e.name));
const extra = WebAssembly.Module.imports(ours).map((i) => `${i.module}.${i.name}`).filter((k) => !provided.has(k));
const missing = WebAssembly.Module.exports(theirs).map((e) => e.name).filter((n) => !exported.has(n));
if (extra.length) console.error(`${file}: imports the glue does not provide: ${extra.join(', ')}`);
if (missing.length) console.error(`${file}: exports wasmoon's JS calls but the module lacks: ${missing.join(', ')}`);
if (extra.length || missing.length) process.exit(1);
console.log(`${file}: fits wasmoon's glue (${WebAssembly.Module.imports(ours).length} imports, ${exported.size} exports)`);
