// The worker thread of a process host: one Lua kernel, driven by frames from other threads.
//
// Loop. Frames arrive as byte batches on MessagePorts (one port per peer thread, so each
// sender's frames stay in order). Arrival schedules one step with setImmediate; a step hands every
// batch received since the last step to the kernel in one call, lets it run, then flushes what the
// kernel posted: one batch per destination thread. Timers are one setTimeout for the kernel's
// earliest deadline. The worker never blocks its event loop, so its timers and stdin keep working.
//
// Batching is the whole point: a cross-thread wake-up costs 11-30 µs here (measurements.md), so
// everything produced in one step travels in one postMessage per destination.
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { createInterface, type Interface } from 'node:readline';
import { readFileSync } from 'node:fs';
import { LuaKernel } from '../lua/engine.js';
import { Directory } from '../runtime/directory.js';
import { encodeValue } from '../codec/msgpack.js';
import type { WorkerInit, ControlToWorker, ControlFromWorker } from './protocol.js';

const init = workerData as WorkerInit;
const tid = init.tid;
const dir = new Directory(init.directory, tid);
const ports = new Map<number, MessagePort>();
for (const [peer, port] of Object.entries(init.ports)) ports.set(Number(peer), port as MessagePort);

// ---- outgoing batches -------------------------------------------------------------------------
const outgoing = new Map<number, Uint8Array[]>();
const outBytes = new Map<number, number>();

function queueFrame(to: number, frame: Uint8Array): void {
  let list = outgoing.get(to);
  if (!list) { list = []; outgoing.set(to, list); outBytes.set(to, 0); }
  list.push(frame.slice()); // the view points into wasm memory: copy now
  outBytes.set(to, outBytes.get(to)! + frame.length);
}

function flush(): void {
  for (const [to, list] of outgoing) {
    if (list.length === 0) continue;
    const total = outBytes.get(to)!;
    const buf = new Uint8Array(total);
    let off = 0;
    for (const f of list) { buf.set(f, off); off += f.length; }
    list.length = 0;
    outBytes.set(to, 0);
    const port = ports.get(to);
    if (to === tid) { incoming.push(buf); schedule(); continue; }
    if (port) port.postMessage(buf, [buf.buffer]);
  }
}

// ---- stdin (terminal hosts) -----------------------------------------------------------------------
let rl: Interface | undefined;
const lineWaiters: Array<{ req: number; pid: string }> = [];
const bufferedLines: string[] = [];
let stdinClosed = false;

function answer(req: number, pid: string, value: string | null): void {
  incoming.push(encodeValue(['rep', pid, req, value ?? undefined]));
  schedule();
}

function stdinRead(req: number, pid: string): void {
  if (bufferedLines.length > 0) { answer(req, pid, bufferedLines.shift()!); return; }
  if (stdinClosed) { answer(req, pid, null); return; }
  lineWaiters.push({ req, pid });
  if (!rl) {
    rl = createInterface({ input: process.stdin, terminal: false });
    rl.on('line', (line) => {
      const w = lineWaiters.shift();
      if (w) answer(w.req, w.pid, line); else bufferedLines.push(line);
    });
    rl.on('close', () => {
      stdinClosed = true;
      for (const w of lineWaiters.splice(0)) answer(w.req, w.pid, null);
    });
  }
}

// ---- the kernel ---------------------------------------------------------------------------------
// IANA zones for the Lua `time` module, through Intl: offset in seconds and, when Intl has a
// proper one (EST, CET, ...), the zone abbreviation.
const tzCache = new Map<string, Intl.DateTimeFormat | null>();
function tzOffset(name: string, secs: number): [number, string | undefined] | undefined {
  let f = tzCache.get(name);
  if (f === undefined) {
    try {
      f = new Intl.DateTimeFormat('en-US', { timeZone: name, hourCycle: 'h23', year: 'numeric', month: '2-digit',
        day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', timeZoneName: 'short' });
    } catch { f = null; }
    tzCache.set(name, f);
  }
  if (!f) return undefined;
  const parts = f.formatToParts(new Date(secs * 1000));
  const get = (t: string) => Number(parts.find((p) => p.type === t)!.value);
  const asUtc = Date.UTC(get('year'), get('month') - 1, get('day'), get('hour'), get('minute'), get('second'));
  const abbr = parts.find((p) => p.type === 'timeZoneName')?.value;
  return [Math.round((asUtc - Math.floor(secs) * 1000) / 1000), abbr && /^[A-Z]{3,5}$/.test(abbr) ? abbr : undefined];
}

// Spawn placement: a new process stays on the spawner's worker unless that worker holds more than
// PLACE_SLACK processes above the least loaded worker of the host; then it goes there. Keeping
// small groups together keeps their messages inside one Lua state (no codec, no thread hop); the
// slack bounds the imbalance of a spawn burst (100k spawns from one process end up split ~50/50
// over 2 workers).
export const PLACE_SLACK = 16;
const hostTids = init.hostTids;
function place(): number {
  let best = tid;
  let bestLoad = dir.load(tid) - PLACE_SLACK;
  for (const t of hostTids) {
    if (t === tid) continue;
    const l = dir.load(t);
    if (l < bestLoad) { best = t; bestLoad = l; }
  }
  if (best !== tid) dir.addLoad(best, 1);
  return best;
}

const kernel = await LuaKernel.create({
  pidAlloc: (owner) => dir.alloc(owner),
  place,
  loadAdd: (d) => dir.addLoad(tid, d),
  pidDead: (u) => dir.dead(u),
  route: (u) => [dir.owner(u), dir.isAlive(u)],
  post: queueFrame,
  write: (fd, bytes) => queueFrame(0, encodeValue(['w', fd, bytes.slice()])),
  stdinRead: (req, pid) => stdinRead(req, pid),
  readFile: (path) => { try { return readFileSync(path); } catch { return undefined; } },
  tzOffset,
}, init.cfg, init.entries);

let incoming: Uint8Array[] = [];
let scheduled = false;
let timer: NodeJS.Timeout | undefined;
let timerAt = -1;
let shuttingDown = false;
let stopped = false;

function schedule(): void {
  if (scheduled || stopped) return;
  scheduled = true;
  setImmediate(runStep);
}

function concat(parts: Uint8Array[]): Uint8Array | null {
  if (parts.length === 0) return null;
  if (parts.length === 1) return parts[0]!;
  let total = 0;
  for (const p of parts) total += p.length;
  const out = new Uint8Array(total);
  let off = 0;
  for (const p of parts) { out.set(p, off); off += p.length; }
  return out;
}

function runStep(): void {
  scheduled = false;
  if (stopped) return;
  const batch = concat(incoming);
  incoming = [];
  let r: { next: number; more: boolean };
  dir.beat(true);
  try {
    r = kernel.step(batch);
    dir.beat(false);
  } catch (e) {
    // A kernel fault is a bug in the runtime, not in a process: report it and stop this worker.
    sendControl({ type: 'fatal', message: (e as Error).message });
    stopped = true;
    return;
  }
  flush();
  if (r.more || incoming.length > 0) schedule();
  if (r.next >= 0) armTimer(r.next);
  if (shuttingDown && kernel.count() === 0) {
    shuttingDown = false;
    sendControl({ type: 'down' });
  }
}

function armTimer(at: number): void {
  if (timer && timerAt <= at) return;
  if (timer) clearTimeout(timer);
  timerAt = at;
  timer = setTimeout(() => { timer = undefined; timerAt = -1; schedule(); }, Math.max(0, at - performance.now()));
}

function sendControl(msg: ControlFromWorker): void {
  parentPort!.postMessage(msg);
}

function onData(data: unknown): void {
  if (data instanceof Uint8Array) { incoming.push(data); schedule(); return; }
  const c = data as ControlToWorker;
  switch (c.type) {
    case 'shutdown':
      shuttingDown = true;
      incoming.push(encodeValue(['shutdown', c.graceMs]));
      schedule();
      break;
    case 'kill_all':
      incoming.push(encodeValue(['kill_all']));
      schedule();
      break;
    case 'stats':
      sendControl({ type: 'stats', id: c.id, processes: kernel.count(), heapBytes: kernel.heapBytes() });
      break;
  }
}

for (const port of ports.values()) port.on('message', onData);
parentPort!.on('message', onData);
sendControl({ type: 'ready' });
