// `node dist/bench/step-entry.js [--a DIR] [--b DIR] [--steps N] [--rounds N]`: the fixed cost of a
// worker's kernel step — an empty one: nothing delivered, nothing to run — in one Lua kernel
// (src/lua/engine.ts LuaKernel, booted as a worker's is, under a stub host) on this thread, for
// one or two built checkouts, interleaved. CPU time per step (process.cpuUsage around N steps;
// the best of the rounds, which a loaded machine inflates least). What it holds: the step's
// entry from JS and its exit (the calls from JS into the module, the pcall), sched.lua's S.step
// around an empty run queue, and the outbox's end of step. Every cross-worker message step pays
// it on each side, before its own work (docs/design/scheduler.md, "Host calls per step").
//
//   node dist/bench/step-entry.js --a ../baseline --b .        (before / after)
//   WIPPY_CSTEP=0 node dist/bench/step-entry.js                   (the stack path on our module)
//
// The host is a one-worker host's (no run queues to look at when the queue is empty).
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { checkBuilt } from './checkout.js';

const { values: opt } = parseArgs({ options: {
  steps: { type: 'string', default: '200000' }, rounds: { type: 'string', default: '7' },
  a: { type: 'string', default: '.' }, b: { type: 'string' },
} });
const STEPS = Number(opt.steps);
const ROUNDS = Number(opt.rounds);
const roots = [opt.a, ...(opt.b !== undefined ? [opt.b] : [])].map((r) => resolve(r));
// each side's kernel is its checkout's sources' (bench/checkout.ts), else an error naming what differs
for (const r of roots) checkBuilt(r);

interface Kernel { step(batch: Uint8Array | null): unknown }

async function boot(root: string): Promise<Kernel> {
  const { LuaKernel } = await import(pathToFileURL(`${root}/dist/src/lua/engine.js`).href);
  const { encodeValue } = await import(pathToFileURL(`${root}/dist/src/codec/msgpack.js`).href);
  const host = {
    pidAlloc: () => 1, place: () => 1, loadAdd() {}, taskPush: () => false, taskTake: () => undefined,
    taskListed: () => false, pidDead() {}, route: () => [-1, false], setRunner() {}, diesWith: () => false,
    killRequested: () => false, post() {}, write() {}, stdinRead() {}, readFile: () => undefined, tzOffset: () => undefined,
  };
  const cfg = encodeValue({ tid: 1, host: 'h', hosts: { h: { kind: 'process.host', tids: [1] } }, strict_mode: false, log_level: 30 });
  return LuaKernel.create(host, cfg, encodeValue({}));
}

const kernels: Kernel[] = [];
for (const r of roots) kernels.push(await boot(r));
const best = kernels.map(() => Infinity);
for (let round = 0; round < ROUNDS; round++) {
  // odd rounds run the other order, so a drift of the machine does not always favour one side
  const order = round % 2 === 0 ? kernels.map((_, i) => i) : kernels.map((_, i) => kernels.length - 1 - i);
  for (const i of order) {
    const k = kernels[i]!;
    const c0 = process.cpuUsage();
    for (let j = 0; j < STEPS; j++) k.step(null);
    const c = process.cpuUsage(c0);
    best[i] = Math.min(best[i]!, ((c.user + c.system) * 1000) / STEPS);
  }
}
roots.forEach((r, i) => process.stdout.write(`${r}: ${best[i]!.toFixed(0)} ns CPU per empty step (best of ${ROUNDS} rounds of ${STEPS})\n`));
