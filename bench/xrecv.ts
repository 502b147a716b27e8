// `node dist/bench/xrecv.js [--a DIR] [--b DIR] [--senders 10] [--run 100] [--steps 200] [--rounds 7]`:
// the CPU of the receiving side of cross-worker fan-in alone, per message — one worker kernel
// (src/lua/engine.ts LuaKernel, booted as a worker of a one-worker host is) on this one thread,
// a receiver that counts and sums what arrives on `process.listen("m")` (bench/messaging.ts's
// fan-in receiver), and batches of "m" frames as another worker's senders write them (the
// sender's PID, topic "m", one integer), handed to the kernel's input area as the endpoint drains
// a ring there, with no threads, rings, spins or wake-ups in between. A step's batch holds
// --senders runs of --run frames each (a sending worker runs each sender for a while, so its
// frames come in runs). What it holds per message: the copy into the input area, the step's
// entry and exit from JS, the decode and delivery of one "m" frame (lcodec.c's deliver_run,
// ldeliver.c's flat put), the receive (lrecv.c, ldeliver.c's take_flat) and the receiver's loop.
// For one or two built checkouts, interleaved; the best of the rounds (a loaded machine inflates
// it least) and the median of the per-round ratios A ÷ B.
//
//   node dist/bench/xrecv.js --a ../baseline --b .
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { checkBuilt } from './checkout.js';
import { bootKernel, rigOf, type Dir } from './kernel-rig.js';

const { values: opt } = parseArgs({ options: {
  senders: { type: 'string', default: '10' }, run: { type: 'string', default: '100' },
  steps: { type: 'string', default: '200' }, rounds: { type: 'string', default: '7' },
  a: { type: 'string', default: '.' }, b: { type: 'string' },
} });
const SENDERS = Number(opt.senders);
const RUN = Number(opt.run);
const STEPS = Number(opt.steps);
const ROUNDS = Number(opt.rounds);
const PER_STEP = SENDERS * RUN;
const roots = [opt.a, ...(opt.b !== undefined ? [opt.b] : [])].map((r) => resolve(r));
for (const r of roots) checkBuilt(r);

const RECV = `return { main = function()
  local ch = process.listen("m")
  local count, sum = 0, 0
  while true do
    sum = sum + ch:receive()
    count = count + 1
    if count % ${PER_STEP} == 0 and sum ~= count * (${RUN} + 1) / 2 then error("sum " .. sum .. " after " .. count) end
  end
end }`;

async function receiver(root: string): Promise<() => void> {
  const rig = await rigOf(root);
  const { encodeValue, frame, formatPid } = rig;
  const dir: Dir = { owner: new Map(), next: 100 };
  const entries = encodeValue({
    'x:recv': { kind: 'process.lua', source: RECV, method: 'main', modules: [], imports: {}, file: 'recv' },
  });
  // the benches' hosts have no mailbox bound (max_mailbox 0, as bench/messaging.ts's)
  const hosts = { a: { kind: 'process.host', tids: [1], max_mailbox: 0 }, b: { kind: 'process.host', tids: [2], max_mailbox: 0 } };
  const k = await bootKernel(rig, dir, 1, 'a', hosts, entries, () => {}, 'XRECV_DEBUG');
  const area = k.inputArea;
  const step = (bytes: Uint8Array | null) => {
    if (bytes === null) { k.step(null); return; }
    let view = area.view();
    if (view.length < bytes.length) view = area.grow(bytes.length, 0);
    view.set(bytes, 0);
    // the bytes at the area's start, as the worker's endpoint drains them (engine.ts detects it)
    k.step(view.subarray(0, bytes.length));
  };
  const uniq = dir.next++;
  dir.owner.set(uniq, 1);
  const pid = formatPid('a', uniq);
  step(encodeValue(frame.sp(pid, uniq, 'x:recv', 'a', 0, false, false, [])));
  // the batch: SENDERS runs of RUN frames, each sender's values 1..RUN
  const parts: Uint8Array[] = [];
  for (let s = 0; s < SENDERS; s++) {
    const u = dir.next++;
    dir.owner.set(u, 2);
    const from = formatPid('b', u);
    for (let i = 1; i <= RUN; i++) parts.push(encodeValue(frame.m(pid, from, 'm', 1, [i])));
  }
  const batch = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { batch.set(p, at); at += p.length; }
  return () => {
    step(batch);
    while (k.step(null)) { /* the receiver's reductions ran out: the next step goes on */ }
  };
}

const runs: Array<() => void> = [];
for (const r of roots) runs.push(await receiver(r));
for (const t of runs) for (let i = 0; i < 100; i++) t(); // warm-up
const best = runs.map(() => Infinity);
const ratios: number[] = [];
for (let round = 0; round < ROUNDS; round++) {
  const order = round % 2 === 0 ? runs.map((_, i) => i) : runs.map((_, i) => runs.length - 1 - i);
  const per: number[] = [];
  for (const i of order) {
    const t = runs[i]!;
    const c0 = process.cpuUsage();
    for (let j = 0; j < STEPS; j++) t();
    const c = process.cpuUsage(c0);
    per[i] = ((c.user + c.system) * 1000) / (STEPS * PER_STEP);
    best[i] = Math.min(best[i]!, per[i]!);
  }
  if (per.length === 2) ratios.push(per[0]! / per[1]!);
}
roots.forEach((r, i) => process.stdout.write(`${r}: ${best[i]!.toFixed(1)} ns CPU per message (best of ${ROUNDS} rounds of ${STEPS} steps × ${PER_STEP} frames)\n`));
if (ratios.length > 0) {
  ratios.sort((x, y) => x - y);
  process.stdout.write(`A ÷ B per round: median ${ratios[ratios.length >> 1]!.toFixed(3)} (${ratios[0]!.toFixed(3)}–${ratios[ratios.length - 1]!.toFixed(3)})\n`);
}
