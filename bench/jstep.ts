// `node dist/bench/jstep.js [--a DIR] [--b DIR] [--batch N] [--jobs N] [--rounds N] [--workers 1|2]`:
// the CPU of a job's kernel work on its worker alone — one worker kernel (src/lua/engine.ts
// LuaKernel, booted as the first worker of a host of `--workers` workers with the budget hook,
// so on two workers a job takes the "spj" path: the Lua-side list and a START slot) fed the
// frames the main thread sends per job ("spj", or "sp" on one worker; `--batch` of them per step,
// as a worker drains them at 64 in flight) and stepped until every job's EXIT ("jx") came back —
// with no threads, rings, spins or wake-ups around it. For one or two built checkouts,
// interleaved; the best of the rounds (a loaded machine inflates it least). What it holds, per
// job: the step's entry and exit from JS, the frame's decode and delivery, the list's push and
// take, the process's start (record, module instance, coroutine), the resume, the exit and the
// "jx" frame's encode and post (JS: the host's post, here a plain function). The job runner's
// worker side at 64 in flight is this plus its share of the transport (drain, flush, doorbell).
// Session 10 (docs/design/scheduler.md, "The job runner, session 10").
//
//   node dist/bench/jstep.js --a ../baseline --b .
import { Buffer } from 'node:buffer';
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';
import { checkBuilt } from './checkout.js';

const argv = process.argv.slice(2);
const arg = (name: string, dflt: string | undefined): string | undefined => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1]! : dflt;
};
const roots = [arg('a', undefined), arg('b', undefined)].filter((x): x is string => x !== undefined).map((r) => resolve(r));
if (roots.length === 0) roots.push(resolve('.'));
// each side's kernel is its checkout's sources' (bench/checkout.ts), else an error naming what differs
for (const r of roots) checkBuilt(r);
const BATCH = Number(arg('batch', '32'));
const JOBS = Number(arg('jobs', '20000'));
const ROUNDS = Number(arg('rounds', '7'));
const WORKERS = Number(arg('workers', '2'));

const SQUARE = 'return { main = function(x) return x * x end }';

/**
 * A checkout's kernel, booted; -> prepare(n): n jobs' frames encoded (batches of BATCH frames,
 * outside the timing: the main thread's work), returning run(): them through the kernel.
 */
async function kernel(root: string): Promise<(n: number) => () => void> {
  const imp = (p: string) => import(pathToFileURL(`${root}/dist/src/${p}`).href);
  const { LuaKernel } = await imp('lua/engine.js');
  const { encodeValue } = await imp('codec/msgpack.js');
  const { frame } = await imp('wire/frames.js');
  const { formatPid } = await imp('runtime/pid.js');
  const tids = WORKERS === 1 ? [1] : [1, 2];
  const hosts = { h: { kind: 'process.host', tids, max_reductions: 100_000_000 } };
  const entries = encodeValue({ 'b:square': { kind: 'function.lua', source: SQUARE, method: 'main', modules: [], imports: {}, file: 'square' } });
  let exits = 0;
  const route: [number, boolean] = [1, true];
  const k = await LuaKernel.create({
    pidAlloc: () => 1, place: () => 1, loadAdd() {},
    taskPush: () => false, taskTake: () => undefined, taskListed: () => false, pidDead() {},
    route: () => route, setRunner() {}, diesWith: () => false, killRequested: () => false,
    post: (to: number) => { if (to === 0) exits++; },
    postRange: (to: number) => { if (to === 0) exits++; },
    write() {}, stdinRead() {}, readFile: () => undefined, tzOffset: () => undefined,
  }, encodeValue({ tid: 1, host: 'h', hosts, strict_mode: false, log_level: 50 }), entries);
  const area = k.inputArea;
  let uniq = 1000, watch = 0;
  const kind = WORKERS === 1 ? 'sp' : 'spj';
  return (n: number) => {
    const batches: Uint8Array[] = [];
    for (let done = 0; done < n; done += BATCH) {
      const frames: Uint8Array[] = [];
      for (let i = 0; i < BATCH; i++) {
        const u = ++uniq;
        frames.push(encodeValue(frame[kind](formatPid('b:square#lua.1', u), u, 'b:square', 'h', ++watch, false, false, [u & 0xff])));
      }
      batches.push(Buffer.concat(frames));
    }
    return () => {
      for (const b of batches) {
        // the batch as the endpoint drains it: its bytes at the input area's start
        let view = area.view();
        if (view.length < b.length) view = area.grow(b.length, 0);
        view.set(b, 0);
        const want = exits + BATCH;
        let more = k.step(view.subarray(0, b.length));
        while (exits < want && more) more = k.step(null);
        if (exits !== want) throw new Error(`${root}: ${want - exits} of a batch's ${BATCH} jobs did not exit`);
      }
    };
  };
}

const runs: Array<(n: number) => () => void> = [];
for (const r of roots) runs.push(await kernel(r));
for (const prep of runs) prep(5000)(); // warm-up (V8's tier-up of the module and the JS)
const best = runs.map(() => Infinity);
for (let round = 0; round < ROUNDS; round++) {
  const order = round % 2 === 0 ? runs.map((_, i) => i) : runs.map((_, i) => runs.length - 1 - i);
  for (const i of order) {
    const run = runs[i]!(JOBS);
    const c0 = process.cpuUsage();
    run();
    const c = process.cpuUsage(c0);
    best[i] = Math.min(best[i]!, (c.user + c.system) / JOBS);
  }
}
roots.forEach((r, i) => process.stdout.write(`${r}: ${best[i]!.toFixed(3)} µs CPU per job, the worker's kernel alone ` +
  `(${WORKERS} worker(s), "${WORKERS === 1 ? 'sp' : 'spj'}", batches of ${BATCH}; best of ${ROUNDS} rounds of ${JOBS})\n`));
