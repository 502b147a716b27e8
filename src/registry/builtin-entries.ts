// Entries the runtime provides itself, added to an app's registry only when the app refers to one
// without declaring it.
//
// Today there is one: `wippy.test:test`, the library the Wippy docs' test entries import
// (`imports: { test: wippy.test:test }`, which in Wippy comes from the wippy/test hub module). Here
// the test framework is the built-in Lua module `test` (src/lua/lib/test.lua), so the entry is a
// one-line library that returns it; `modules: [test]` reaches the same table directly. An app that
// vendors its own `wippy.test:test` keeps it: nothing is added then.
//
// Alternative rejected: special-casing the id in the reference check and in the kernel's
// `require`. A real entry keeps both unchanged and shows up in `wippy registry list` like any other.
import type { RawEntry } from './schema.js';

export const TEST_LIBRARY_ID = 'wippy.test:test';

/** Entries to append to `raws`: each built-in that some entry imports and none declares. */
export function builtinEntries(raws: readonly RawEntry[]): RawEntry[] {
  let imported = false;
  for (const raw of raws) {
    if (`${raw.namespace}:${raw.name}` === TEST_LIBRARY_ID) return [];
    const imports = raw.data['imports'];
    if (imports && typeof imports === 'object' && Object.values(imports).includes(TEST_LIBRARY_ID)) imported = true;
  }
  if (!imported) return [];
  return [{
    namespace: 'wippy.test',
    name: 'test',
    kind: 'library.lua',
    meta: { comment: 'built in: the test framework module (src/lua/lib/test.lua)' },
    data: { source: 'return require("test")\n', modules: ['test'] },
    origin: { file: '<builtin>' },
    lines: new Map(),
  }];
}
