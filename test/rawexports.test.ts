// src/lua/rawexports.ts: an engine's module with the glue's asserting wrappers replaced by the
// instance's own exports. Checked: each `_name` function the instance exports is the export itself
// (not the glue's wrapper) and the rest of the glue's module shows through (heap views, malloc,
// also after the memory grew); two engines created at once each get their own instance's exports
// (matched by memory: a value pushed on one state is seen through its own module only); both Lua
// modules; WebAssembly.instantiate is the original again once the creates are done. (The kernel
// runs on the unwrapped module in every runtime test.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { luaFactory } from '../src/lua/module.js';
import { createEngineRaw } from '../src/lua/rawexports.js';

for (const kind of ['native', 'wasmoon'] as const) {
  test(`${kind}: two engines created at once get their own instance's exports; the glue's module shows through`, async () => {
    const orig = WebAssembly.instantiate;
    const [a, b] = await Promise.all([createEngineRaw(luaFactory(kind), {}), createEngineRaw(luaFactory(kind), {})]);
    assert.equal(WebAssembly.instantiate, orig, 'instantiate restored');
    for (const r of [a, b]) {
      const glue = (r.engine.global as any).lua.module;
      assert.notEqual(r.module._lua_gettop, glue._lua_gettop, 'unwrapped');
      assert.equal(Object.getPrototypeOf(r.module), glue);
    }
    const La = a.engine.global.address;
    const Lb = b.engine.global.address;
    a.module._lua_settop(La, 0);
    b.module._lua_settop(Lb, 0);
    a.module._lua_pushinteger(La, 7n);
    a.module._lua_pushinteger(La, 8n);
    assert.equal(a.module._lua_gettop(La), 2);
    assert.equal(b.module._lua_gettop(Lb), 0, 'b reads its own state');
    assert.equal(a.module._lua_tointegerx(La, 1, 0), 7n);
    // grow a's memory: the views read through the glue's module are the new ones
    const glueA = (a.engine.global as any).lua.module;
    const before = glueA.HEAPU8.buffer.byteLength;
    const p = a.module._malloc(before * 2);
    assert.ok(glueA.HEAPU8.buffer.byteLength > before, 'the memory grew');
    assert.equal(a.module.HEAPU8, glueA.HEAPU8);
    a.module.HEAPU8[p] = 42;
    assert.equal(glueA.HEAPU8[p], 42);
    a.module._free(p);
    a.module._lua_settop(La, 0);
    assert.equal(a.engine.doStringSync('return 6 * 7'), 42);
  });
}
