// Runs a Lua snippet against kernel modules loaded on their own (src/lua/kernel/<name>.lua),
// under the fakes of test/lua/kernel_fake.lua. The snippet sees F (the fakes and the assertions
// F.eq / F.has / F.hasnt) and module(name), which returns the module's `function(deps)`. A failing
// assertion raises, so the returned promise rejects with its message.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { LuaFactory } from 'wasmoon';

const FAKE_SRC = readFileSync(path.resolve('test/lua/kernel_fake.lua'), 'utf8');
const factory = new LuaFactory();
const sources = new Map<string, string>();
function source(name: string): string {
  let s = sources.get(name);
  if (s === undefined) {
    s = readFileSync(path.resolve(`src/lua/kernel/${name}.lua`), 'utf8');
    sources.set(name, s);
  }
  return s;
}

export async function withKernelModules(names: string[], code: string): Promise<unknown> {
  const engine = await factory.createEngine({ openStandardLibs: true, injectObjects: false, enableProxy: false });
  try {
    engine.global.set('FAKE_SRC', FAKE_SRC);
    const srcs: Record<string, string> = {};
    for (const n of names) srcs[n] = source(n);
    engine.global.set('MODULE_SRC', srcs);
    await engine.doString(String.raw`
      F = assert(load(FAKE_SRC, "@test/lua/kernel_fake.lua", "t"))()
      function module(name)
        return assert(load(MODULE_SRC[name], "@kernel/" .. name .. ".lua", "t"))()
      end
    `);
    return await engine.doString(code);
  } finally {
    engine.global.close();
  }
}
