// `node dist/bench/xsend.js [--a DIR] [--b DIR] [--senders N] [--m N] [--rounds N] [--value int|str|float|bool]`:
// the CPU of a cross-worker SEND alone — one worker kernel (src/lua/engine.ts LuaKernel, booted as
// a worker of a one-worker host is) on this thread, N sender processes each sending M messages to
// one process of another worker (a PID of host "b", thread 2, alive in a stand-in directory), the
// steps run until the kernel has nothing left, the outbox's ranges copied out as the endpoint
// copies them (postRange: into one reused buffer per step). What it holds, per message: the
// sender's loop, process.send (lsend.c's remote send: the route, the "m" frame's encoding into the
// outbox), the send budget's yields and resumes, and the step's hand-over of the frames to JS —
// fan-in's other worker's share of a message without its transport (docs/design/scheduler.md,
// "Session 15: the crossing send"). For one or two built checkouts, interleaved; the best of the
// rounds (a loaded machine inflates it least), and the frames' bytes checked against each other.
//
//   node dist/bench/xsend.js --a ../baseline --b .
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { checkBuilt } from './checkout.js';
import { rigOf } from './kernel-rig.js';

const { values: opt } = parseArgs({ options: {
  senders: { type: 'string', default: '10' }, m: { type: 'string', default: '20000' },
  rounds: { type: 'string', default: '7' }, value: { type: 'string', default: 'int' },
  a: { type: 'string', default: '.' }, b: { type: 'string' },
} });
const SENDERS = Number(opt.senders);
const M = Number(opt.m);
const ROUNDS = Number(opt.rounds);
const VALUE = ({ int: 'i', str: '"v" .. (i % 10)', float: 'i + 0.5', bool: 'i % 2 == 0' } as Record<string, string>)[opt.value!];
if (VALUE === undefined) throw new Error(`--value: int, str, float or bool`);
const roots = [opt.a, ...(opt.b !== undefined ? [opt.b] : [])].map((r) => resolve(r));
for (const r of roots) checkBuilt(r);

// fan-in's sender (bench/messaging.ts), a lap per "go"
const SENDER = `return { main = function(recv, m)
  local go = process.listen("go")
  local send = process.send
  while true do
    go:receive()
    for i = 1, m do
      local ok, err = send(recv, "m", ${VALUE})
      if not ok then error(err) end
    end
  end
end }`;

interface Rig { lap(): number; bytes: Uint8Array }

async function rig(root: string): Promise<Rig> {
  const { LuaKernel, encodeValue, frame, formatPid } = await rigOf(root);
  const owner = new Map<number, number>();
  let nextUniq = 100;
  const TID = 1;
  const entries = encodeValue({
    'x:send': { kind: 'process.lua', source: SENDER, method: 'main', modules: [], imports: {}, file: 'send' },
  });
  const hosts = { a: { kind: 'process.host', tids: [TID] }, b: { kind: 'process.host', tids: [2] } };
  const route: [number, boolean] = [-1, false];
  // the step's frames for thread 2, copied as Endpoint.postRange copies them (a reused buffer)
  let buf = new Uint8Array(1 << 20);
  let used = 0;
  let frames = 0;
  let first: Uint8Array | undefined;
  const k = await LuaKernel.create({
    pidAlloc: (o?: number) => { const u = nextUniq++; owner.set(u, o ?? TID); return u; }, place: () => TID, loadAdd() {},
    taskPush: () => false, taskTake: () => undefined, taskListed: () => false, pidDead() {},
    route: (u: number) => { route[0] = owner.get(u) ?? -1; route[1] = owner.has(u); return route; },
    setRunner() {}, diesWith: () => false, killRequested: () => false,
    post: () => { throw new Error('post: not expected'); },
    postRange: (to: number, heap: Uint8Array, s: number, e: number, n = 1) => {
      if (to !== 2) return;
      if (first === undefined) first = heap.slice(s, Math.min(e, s + 400)); // the first frames (a step's length is timing's)
      if (used + (e - s) > buf.length) { const g = new Uint8Array(2 * (used + e - s)); g.set(buf.subarray(0, used)); buf = g; }
      buf.set(heap.subarray(s, e), used);
      used += e - s;
      frames += n;
    },
    write: (fd: number, b: Uint8Array) => { if (process.env.XSEND_DEBUG) console.error('write', fd, Buffer.from(b).toString()); }, stdinRead() {}, readFile: () => undefined, tzOffset: () => undefined,
  }, encodeValue({ tid: TID, host: 'a', hosts, strict_mode: false, log_level: 50 }), entries);
  const area = k.inputArea;
  const step = (bytes: Uint8Array | null): boolean => {
    used = 0;
    if (bytes === null) return k.step(null);
    let view = area.view();
    if (view.length < bytes.length) view = area.grow(bytes.length, 0);
    view.set(bytes, 0);
    return k.step(view.subarray(0, bytes.length));
  };
  const target = 50; // the receiver: a PID of host b, thread 2
  owner.set(target, 2);
  const recv = formatPid('b', target);
  const pids: string[] = [];
  for (let i = 0; i < SENDERS; i++) {
    const uniq = nextUniq++;
    owner.set(uniq, TID);
    const pid = formatPid('a', uniq);
    pids.push(pid);
    while (step(encodeValue(frame.sp(pid, uniq, 'x:send', 'a', false, false, false, [recv, M]))));
  }
  const ZERO = '{|}';
  const gos: Uint8Array[] = pids.map((p) => encodeValue(frame.m(p, ZERO, 'go', 1, [true])));
  const go = new Uint8Array(gos.reduce((n, g) => n + g.length, 0));
  gos.reduce((at, g) => { go.set(g, at); return at + g.length; }, 0);
  // a first send parses the PID (pids.lua's resolve): the laps after it take lsend.c's remote send
  const lap = (): number => {
    frames = 0;
    let more = step(go);
    while (more) more = step(null);
    if (frames !== SENDERS * M) throw new Error(`${frames} frames, expected ${SENDERS * M}`);
    return frames;
  };
  lap();
  return { lap, get bytes() { return first! } };
}

const rigs: Rig[] = [];
for (const r of roots) rigs.push(await rig(r));
for (const r of rigs) { r.lap(); r.lap(); } // warm-up
if (rigs.length === 2 && Buffer.compare(rigs[0]!.bytes, rigs[1]!.bytes) !== 0) throw new Error('the two checkouts wrote different frames');
const best = rigs.map(() => Infinity);
const all: number[][] = rigs.map(() => []);
for (let round = 0; round < ROUNDS; round++) {
  const order = round % 2 === 0 ? rigs.map((_, i) => i) : rigs.map((_, i) => rigs.length - 1 - i);
  for (const i of order) {
    const c0 = process.cpuUsage();
    const n = rigs[i]!.lap();
    const c = process.cpuUsage(c0);
    const us = (c.user + c.system) / n;
    all[i]!.push(us);
    best[i] = Math.min(best[i]!, us);
  }
}
const med = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1]!;
roots.forEach((r, i) => process.stdout.write(`${r}: ${best[i]!.toFixed(4)} µs CPU per cross-worker send (best; median ${med(all[i]!).toFixed(4)}) of ${SENDERS} × ${M}, value ${opt.value}\n`));
if (rigs.length === 2) {
  const ratios = all[0]!.map((a, j) => a / all[1]![j]!);
  process.stdout.write(`a ÷ b per round: median ${med(ratios).toFixed(3)} (${Math.min(...ratios).toFixed(3)}–${Math.max(...ratios).toFixed(3)})\n`);
}
