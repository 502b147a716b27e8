// The three Lua paths a differential test of the kernel's C runs through the runtime: our module
// with its C steps, our module with WIPPY_CSCHED=0 (the Lua they replace) and wasmoon's module.
// The variables are read by each worker thread when it starts (src/lua/module.ts,
// src/lua/engine.ts), so a runtime started under onPath keeps its path after the restore.

export interface LuaPath { name: string; env: Record<string, string | undefined> }

export const LUA_PATHS: LuaPath[] = [
  { name: 'C', env: { WIPPY_LUA: undefined, WIPPY_CSCHED: undefined } },
  { name: 'WIPPY_CSCHED=0', env: { WIPPY_LUA: undefined, WIPPY_CSCHED: '0' } },
  { name: 'wasmoon', env: { WIPPY_LUA: 'wasmoon', WIPPY_CSCHED: undefined } },
];

function setEnv(env: Record<string, string | undefined>): void {
  for (const [k, v] of Object.entries(env)) { if (v === undefined) delete process.env[k]; else process.env[k] = v; }
}

/** start() (a runtime's creation) under path's variables, which are restored after it. */
export async function onPath<T>(path: LuaPath, start: () => Promise<T>): Promise<T> {
  const saved: Record<string, string | undefined> = { WIPPY_LUA: process.env.WIPPY_LUA, WIPPY_CSCHED: process.env.WIPPY_CSCHED };
  for (const k of Object.keys(path.env)) saved[k] = process.env[k];
  setEnv(path.env);
  try { return await start(); } finally { setEnv(saved); }
}
