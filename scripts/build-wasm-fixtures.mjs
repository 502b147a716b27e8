// Builds the WebAssembly test fixtures from the WAT and WIT sources in test/fixtures/wasm/src/ and
// records every binary's sha256 in test/fixtures/wasm/manifest.json (the hashes the test entries
// declare). Core modules are assembled with wabt; a source with a .wit beside its .wat becomes a
// component: the core module gets the WIT embedded as component-type metadata (wasm-tools
// `component embed`) and is wrapped into a component (`component new`), both through the
// wasm-tools bindings @bytecodealliance/jco-transpile ships. Nothing is downloaded; run it again
// after editing a source: `node scripts/build-wasm-fixtures.mjs`.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import wabtInit from 'wabt';
import { componentEmbed, componentNew } from '@bytecodealliance/jco-transpile/wasm-tools';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', 'test', 'fixtures', 'wasm');
const srcDir = path.join(root, 'src');
const outDir = path.join(root, 'wasm');
mkdirSync(outDir, { recursive: true });

const wabt = await wabtInit();
const manifest = {};
for (const file of readdirSync(srcDir).filter((f) => f.endsWith('.wat')).sort()) {
  const name = file.slice(0, -'.wat'.length);
  const wat = readFileSync(path.join(srcDir, file), 'utf8');
  const mod = wabt.parseWat(file, wat, { bulk_memory: true, multi_value: true });
  mod.validate();
  let bytes = mod.toBinary({}).buffer;
  mod.destroy();
  const witFile = path.join(srcDir, `${name}.wit`);
  if (existsSync(witFile)) {
    const embedded = await componentEmbed({ binary: bytes, witSource: readFileSync(witFile, 'utf8'), world: name });
    bytes = await componentNew(embedded);
  }
  writeFileSync(path.join(outDir, `${name}.wasm`), bytes);
  manifest[`${name}.wasm`] = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  console.log(`${name}.wasm  ${bytes.length} bytes  ${manifest[`${name}.wasm`]}${existsSync(witFile) ? '  (component)' : ''}`);
}
writeFileSync(path.join(root, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
