// Compile cost of the typed-Lua dialect (src/dialect/): milliseconds of CPU per 1,000 lines.
//
//   node dist/bench/dialect-compile.js
//
// The input is test/fixtures/dialect/typed.lua (every construct of the type-system page) repeated
// in do-blocks to ~1,000 lines; "plain" is the compiled output of that, which has no annotations
// left, so the two differ only in the dialect's work. CPU time (process.cpuUsage) rather than wall
// time, so a busy machine does not inflate the figure; 50 warm-up compiles, then 200 measured.
import { readFileSync } from 'node:fs';
import { compileUncached, compileLua } from '../src/dialect/compile.js';

const unit = readFileSync('test/fixtures/dialect/typed.lua', 'utf8').replace(/\nreturn[\s\S]*$/, '\n');
let typed = '';
while (typed.split('\n').length < 1000) typed += `do\n${unit}end\n`;
const lines = typed.split('\n').length;
const plain = compileUncached(typed);

function cpuMsPerCompile(src: string, n: number): number {
  const t = process.cpuUsage();
  for (let i = 0; i < n; i++) compileUncached(src);
  const u = process.cpuUsage(t);
  return (u.user + u.system) / 1e3 / n;
}
for (let i = 0; i < 50; i++) compileUncached(typed);
const perTyped = cpuMsPerCompile(typed, 200);
const perPlain = cpuMsPerCompile(plain, 200);
compileLua(typed, 'bench.lua');
const t = process.cpuUsage();
for (let i = 0; i < 200; i++) compileLua(typed, 'bench.lua');
const hit = process.cpuUsage(t);

console.log(`node ${process.version}, ${lines} lines, ${typed.length} bytes`);
console.log(`typed Lua: ${(perTyped * 1000 / lines).toFixed(2)} ms CPU per 1,000 lines`);
console.log(`plain Lua: ${(perPlain * 1000 / lines).toFixed(2)} ms CPU per 1,000 lines`);
console.log(`cache hit: ${((hit.user + hit.system) / 1e3 / 200).toFixed(3)} ms per compile (SHA-256 of the source)`);
