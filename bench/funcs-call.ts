// `funcs.call` round trips per second: one process calls a trivial function.lua entry N times in
// a row, on its own worker (a one-worker host: the callee is spawned there, runs, exits, and its
// EXIT wakes the caller, all inside one Lua state) and across workers (with_options{host=...}
// puts the callee on another host's worker: spawn request, reply, EXIT frame over the rings).
// process.exec of the same entry is measured alongside for comparison. A small script, not part
// of `npm run bench`:
//
//   node dist/bench/funcs-call.js [N=3000] [rounds=3]
//
// Prints the best of `rounds` for each mode (calls per second and µs per call).
import { cpus, loadavg } from 'node:os';
import { createRuntime } from '../src/index.js';

const N = Number(process.argv[2] ?? 3000);
const ROUNDS = Number(process.argv[3] ?? 3);

const CALLER = `local funcs = require("funcs")
return { main = function(mode, n)
  local ex = funcs.new()
  if mode == "across" then ex = assert(ex:with_options({ host = "b:other" })) end
  local sum = 0
  for i = 1, n do
    local v, err
    if mode == "exec" then v, err = process.exec("b:inc", "b:one", i)
    else v, err = ex:call("b:inc", i) end
    if err then error(err) end
    sum = sum + v
  end
  return sum
end }`;

const rt = await createRuntime({ entries: [
  { id: 'b:one', kind: 'process.host', host: { workers: 1 } },
  { id: 'b:other', kind: 'process.host', host: { workers: 1 } },
  { id: 'b:inc', kind: 'function.lua', method: 'main', source: 'return { main = function(x) return x + 1 end }' },
  { id: 'b:caller', kind: 'process.lua', method: 'main', modules: ['funcs'], source: CALLER },
] });

async function time(mode: string, n: number): Promise<number> {
  const t0 = performance.now();
  const sum = await rt.exec('b:caller', [mode, n], { host: 'b:one' });
  const ms = performance.now() - t0;
  if (sum !== (n * (n + 1)) / 2 + n) throw new Error(`${mode}: wrong sum ${String(sum)}`);
  return ms;
}

try {
  await time('same', 200); await time('across', 200); await time('exec', 200); // warm up
  const base = Math.min(await time('same', 0), await time('same', 0));
  console.log(`node ${process.version}, ${cpus().length} cpus (${cpus()[0]?.model ?? '?'}), load avg ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  console.log(`N = ${N} calls per run, best of ${ROUNDS}`);
  for (const mode of ['same', 'across', 'exec']) {
    let best = Infinity;
    for (let r = 0; r < ROUNDS; r++) best = Math.min(best, (await time(mode, N)) - base);
    const label = mode === 'same' ? 'funcs.call, same worker' : mode === 'across' ? 'funcs.call, across workers' : 'process.exec, same worker';
    console.log(`${label.padEnd(28)} ${Math.round((N / best) * 1000).toString().padStart(8)} calls/s  ${((best * 1000) / N).toFixed(1).padStart(7)} µs/call`);
  }
} finally {
  await rt.stop(1000);
}
