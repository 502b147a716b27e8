// `node dist/bench/xstep.js [--a DIR] [--b DIR] [--trips N] [--rounds N]`: the CPU of a
// cross-worker round trip's kernel work alone — two worker kernels (src/lua/engine.ts LuaKernel,
// booted as workers of two one-worker hosts are) on this one thread, a pinger on one and a ponger
// on the other, each step handed the frames the other's step returned — with no threads, rings,
// spins or wake-ups in between. For one or two built checkouts, interleaved; the best of the
// rounds (a loaded machine inflates it least). What it holds, per round trip: on each side the
// step's entry and exit from JS, the decode and delivery of one "m" frame, the resume, the
// receive, `process.send` (route, encode, the outbox), and the frame handed back to JS: what a
// cross-worker ping-pong costs on each side beyond its transport (docs/design/scheduler.md,
// "Host calls per step"). Round trips/s on a quiet machine are bounded by 1e6 / (this + the
// drain, flush and transit of two frames).
//
//   node dist/bench/xstep.js --a ../baseline --b .
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { checkBuilt } from './checkout.js';
import { bootKernel, rigOf, type Dir } from './kernel-rig.js';

const { values: opt } = parseArgs({ options: {
  trips: { type: 'string', default: '20000' }, rounds: { type: 'string', default: '5' },
  a: { type: 'string', default: '.' }, b: { type: 'string' },
} });
const TRIPS = Number(opt.trips);
const ROUNDS = Number(opt.rounds);
const roots = [opt.a, ...(opt.b !== undefined ? [opt.b] : [])].map((r) => resolve(r));
// each side's kernel is its checkout's sources' (bench/checkout.ts), else an error naming what differs
for (const r of roots) checkBuilt(r);

const PING = `return { main = function(peer_host)
  local ch = process.listen("p")
  local peer = ch:receive() -- the ponger's PID, sent by the bench
  local i = 0
  while true do
    i = i + 1
    process.send(peer, "p", i)
    local v = ch:receive()
    if v ~= i then error("echo " .. tostring(v) .. " for " .. i) end
  end
end }`;
const PONG = `return { main = function()
  local ch = process.listen("p")
  local peer = ch:receive() -- the pinger's PID
  while true do
    local v = ch:receive()
    process.send(peer, "p", v)
  end
end }`;

interface Side { step(): void; feed(bytes: Uint8Array): void; out: Uint8Array[] }

async function pair(root: string): Promise<() => void> {
  const rig = await rigOf(root);
  const { encodeValue, frame, formatPid } = rig;
  const dir: Dir = { owner: new Map(), next: 100 };
  const { owner } = dir;
  const entries = encodeValue({
    'x:ping': { kind: 'process.lua', source: PING, method: 'main', modules: [], imports: {}, file: 'ping' },
    'x:pong': { kind: 'process.lua', source: PONG, method: 'main', modules: [], imports: {}, file: 'pong' },
  });
  const hosts = { a: { kind: 'process.host', tids: [1] }, b: { kind: 'process.host', tids: [2] } };
  const sides: Side[] = [];
  for (const [tid, host] of [[1, 'a'], [2, 'b']] as const) {
    const out: Uint8Array[] = [];
    const pending: Uint8Array[] = [];
    const k = await bootKernel(rig, dir, tid, host, hosts, entries, (_to, bytes) => { out.push(bytes); }, 'XSTEP_DEBUG');
    const area = k.inputArea;
    sides.push({
      out,
      feed: (bytes) => { pending.push(bytes); },
      step: () => {
        let len = 0;
        for (const b of pending) len += b.length;
        let view = area.view();
        if (view.length < len) view = area.grow(len, 0);
        let at = 0;
        for (const b of pending) { view.set(b, at); at += b.length; }
        pending.length = 0;
        // the bytes at the area's start, as the worker's endpoint drains them (engine.ts detects it)
        k.step(len === 0 ? null : view.subarray(0, len));
      },
    });
  }
  const [A, B] = sides as [Side, Side];
  const start = (side: Side, tid: number, host: string, id: string): string => {
    const uniq = dir.next++;
    owner.set(uniq, tid);
    const pid = formatPid(host, uniq);
    side.feed(encodeValue(frame.sp(pid, uniq, id, host, 0, false, false, [])));
    side.step();
    return pid;
  };
  const ping = start(A, 1, 'a', 'x:ping');
  const pong = start(B, 2, 'b', 'x:pong');
  // the PIDs as messages on topic "p" (an "m" frame from the zero PID)
  const ZERO = '{|}'; // ZERO_PID (src/wire/spec.ts)
  A.feed(encodeValue(frame.m(ping, ZERO, 'p', 1, [pong])));
  B.feed(encodeValue(frame.m(pong, ZERO, 'p', 1, [ping])));
  B.step();
  const hop = (from: Side, to: Side) => {
    from.step();
    if (from.out.length !== 1) throw new Error(`a step returned ${from.out.length} frames, expected 1`);
    to.feed(from.out.pop()!);
  };
  return () => { hop(A, B); hop(B, A); };
}

const trips: Array<() => void> = [];
for (const r of roots) trips.push(await pair(r));
for (const t of trips) for (let i = 0; i < 2000; i++) t(); // warm-up
const best = trips.map(() => Infinity);
for (let round = 0; round < ROUNDS; round++) {
  const order = round % 2 === 0 ? trips.map((_, i) => i) : trips.map((_, i) => trips.length - 1 - i);
  for (const i of order) {
    const t = trips[i]!;
    const c0 = process.cpuUsage();
    for (let j = 0; j < TRIPS; j++) t();
    const c = process.cpuUsage(c0);
    best[i] = Math.min(best[i]!, (c.user + c.system) / TRIPS);
  }
}
roots.forEach((r, i) => process.stdout.write(`${r}: ${best[i]!.toFixed(2)} µs CPU per round trip, both sides' steps (best of ${ROUNDS} rounds of ${TRIPS})\n`));
