// The Lua module compiled once per process (src/lua/shared-module.ts): every worker of a runtime
// instantiates the module the main thread compiled (the same bytes, by digest, and the handed
// path: none compiles it), on both module kinds; WIPPY_SHARED_LUA=0 and bytes that are not the
// shared module's take the glue's own path; a thread handed nothing compiles once and shares that
// among its engines. Counts read from Runtime.stats() and luaModuleStats(), not clocks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { createRuntime, type Runtime } from '../src/index.js';
import { luaFactory, type LuaModuleKind } from '../src/lua/module.js';
import { adoptLua, compileLua, luaModuleStats, luaWasmPath, withSharedLua } from '../src/lua/shared-module.js';

const ECHO = `return { main = function(x) return x * 2 end }`;

async function runtime(workers: number): Promise<Runtime> {
  return createRuntime({ entries: [
    { id: 's:p', kind: 'process.host', host: { workers } },
    { id: 's:echo', kind: 'process.lua', method: 'main', source: ECHO },
  ] });
}

/** Runs `fn` with WIPPY_LUA / WIPPY_SHARED_LUA set as given (workers inherit the environment at their start). */
async function withEnv<T>(env: Record<string, string | undefined>, fn: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  for (const [k, v] of Object.entries(env)) { if (v === undefined) delete process.env[k]; else process.env[k] = v; }
  try { return await fn(); } finally {
    for (const [k, v] of Object.entries(saved)) { if (v === undefined) delete process.env[k]; else process.env[k] = v; }
  }
}

const sha = (kind: LuaModuleKind) => createHash('sha256').update(readFileSync(luaWasmPath(kind))).digest('hex');

/** Every worker's instantiation counts, and each one runs Lua (a process returns its argument doubled). */
async function workersOf(kind: LuaModuleKind, shared: string | undefined) {
  return withEnv({ WIPPY_LUA: kind === 'native' ? undefined : kind, WIPPY_SHARED_LUA: shared }, async () => {
    const rt = await runtime(3);
    try {
      const st = await rt.stats();
      const doubled = await Promise.all(st.map((w, i) => new Promise<unknown>((resolve) => {
        void rt.spawn('s:echo', 's:p', [i + 1], (e) => resolve(e.error ? e.error.message : e.value));
      })));
      return { lua: st.map((w) => w.lua), doubled };
    } finally {
      await rt.stop(500);
    }
  });
}

for (const kind of ['native', 'wasmoon'] as const) {
  test(`${kind}: every worker instantiates the module the main thread compiled, the same bytes`, async () => {
    const { lua, doubled } = await workersOf(kind, undefined);
    assert.equal(lua.length, 3);
    for (const l of lua) assert.deepEqual(l, { handed: 1, thread: 0, bytes: 0, digest: sha(kind) });
    assert.deepEqual(doubled, [2, 4, 6]);
  });
}

test('WIPPY_SHARED_LUA=0: each worker instantiates from the bytes the glue reads', async () => {
  const { lua, doubled } = await workersOf('native', '0');
  for (const l of lua) assert.deepEqual(l, { handed: 0, thread: 0, bytes: 0 }); // the hook is not even installed
  assert.deepEqual(doubled, [2, 4, 6]);
});

/** A wasmoon engine of `kind` created under withSharedLua: it evaluates Lua. */
async function engineRuns(kind: LuaModuleKind): Promise<number> {
  return withSharedLua(kind, async () => {
    const engine = await luaFactory(kind).createEngine({ injectObjects: false, enableProxy: false });
    return engine.doStringSync('return 20 + 22') as number;
  });
}

test('a thread handed nothing compiles the module once and instantiates that for every engine', async () => {
  const before = luaModuleStats();
  assert.equal(await engineRuns('native'), 42);
  assert.equal(await engineRuns('native'), 42);
  const after = luaModuleStats();
  assert.equal(after.thread - before.thread, 2);
  assert.equal(after.bytes - before.bytes, 0);
  assert.equal(after.digest, sha('native'));
  assert.strictEqual(await compileLua('native'), await compileLua('native'), 'one compilation per thread');
});

test('bytes that are not the shared module\'s pass through: the glue compiles them itself', async () => {
  const real = await compileLua('native');
  adoptLua({ kind: 'native', module: real.module, digest: 'not the file\'s digest' });
  try {
    const before = luaModuleStats();
    // the handed entry's digest matches nothing the glue reads: the instantiation is the glue's own
    assert.equal(await engineRuns('native'), 42);
    const after = luaModuleStats();
    assert.equal(after.bytes - before.bytes, 1);
    assert.equal(after.handed - before.handed, 0);
    assert.equal(after.thread - before.thread, 0);
  } finally {
    adoptLua(undefined);
  }
});

test('engines created at once share one wrapping and restore WebAssembly.instantiate after the last', async () => {
  const original = WebAssembly.instantiate;
  const before = luaModuleStats();
  const got = await Promise.all([engineRuns('native'), engineRuns('wasmoon'), engineRuns('native')]);
  assert.deepEqual(got, [42, 42, 42]);
  assert.equal(luaModuleStats().thread - before.thread, 3);
  assert.strictEqual(WebAssembly.instantiate, original);
});
