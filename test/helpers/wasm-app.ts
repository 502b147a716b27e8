// The WebAssembly fixture directory and its hashes (built by scripts/build-wasm-fixtures.mjs), for
// the tests that run real processes over it (test/wasm-lua.test.ts, test/wasm-guest.test.ts).
import { readFileSync } from 'node:fs';
import path from 'node:path';

export const WASM_ROOT = path.resolve('test/fixtures/wasm');
export const MANIFEST = JSON.parse(readFileSync(path.join(WASM_ROOT, 'manifest.json'), 'utf8')) as Record<string, string>;
