// One side of the endpoint stress (test/endpoint-stress.test.ts), run in a worker thread: it sends
// `count` seeded frames to its peer through Endpoint.post/flush in bursts of random size, at most a
// random window ahead of what it received, with random pauses (so either side keeps running out of
// input and parks), and reads the peer's frames, checking their order and bytes. Its idle path is the worker loop's (src/host/loop.ts): spin, announce the
// park (Endpoint.prepareToPark), a brief blocking park (Doorbell.parkBriefly, of a seeded length),
// then a waitAsync park — never a brief one right after a wake-up that brought no ring input (the
// ring handover arrives on the port, through the event loop). A park that times out (parkTimeoutMs)
// means a lost wake-up: the producer published and rang, or the peer would not still be sending.
// Posts { ok, timeouts, frames, steps, announced, parks, wakes } or { ok: false, error }.
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { Endpoint, type RingHandover } from '../../src/transport/endpoint.js';
import { mulberry32 } from './prng.js';


export interface EndpointSide {
  bell: SharedArrayBuffer;
  self: number;
  peer: number;
  port: MessagePort;
  /** Seeds the lengths of this side's frames (and, mixed, its bursts and pauses). */
  seed: number;
  /** The peer's seed: the lengths of the frames it sends. */
  peerSeed: number;
  /** Frames to send; the peer sends as many. */
  count: number;
  /** Brief blocking park lengths to draw from (ms; 0 = waitAsync only). */
  blockMs: number[];
  minSpins: number;
  maxSpins: number;
  parkTimeoutMs: number;
}

/** A frame: u32 total length, u32 sequence number, then bytes that are a function of both. */
export function encodeFrame(seq: number, payload: number): Uint8Array {
  const f = new Uint8Array(8 + payload);
  const v = new DataView(f.buffer);
  v.setUint32(0, f.length, true);
  v.setUint32(4, seq, true);
  for (let i = 8; i < f.length; i++) f[i] = (seq * 31 + i) & 255;
  return f;
}

/** Payload length of the next frame: mostly small, sometimes past the ring's capacity (chunked). */
export function payloadLength(rng: () => number): number {
  const r = rng();
  if (r < 0.8) return Math.floor(rng() * 64);
  if (r < 0.98) return Math.floor(rng() * 4096);
  return 200_000 + Math.floor(rng() * 200_000);
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function side(d: EndpointSide): Promise<object> {
  const ports = new Map<number, MessagePort>([[d.peer, d.port]]);
  const ep = new Endpoint(d.self, d.bell, ports, { cores: 2, minSpins: d.minSpins, maxSpins: d.maxSpins });
  const bell = ep.bell;
  d.port.on('message', (h: RingHandover) => { ep.attach(h); bell.interrupt(); });
  const rng = mulberry32(d.seed ^ 0x5bd1e995);
  const lengths = mulberry32(d.seed);
  // The peer draws its frames' lengths from its seed the same way.
  const peerLengths = mulberry32(d.peerSeed);
  let sent = 0;
  let received = 0;
  let steps = 0;
  let timeouts = 0;
  let announced = 0;
  let asyncNext = false;
  const check = (bytes: Uint8Array): void => {
    const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
    for (let off = 0; off < bytes.length;) {
      const len = v.getUint32(off, true);
      const seq = v.getUint32(off + 4, true);
      if (seq !== received) throw new Error(`side ${d.self}: frame ${seq} arrived, expected ${received}`);
      const want = 8 + payloadLength(peerLengths);
      if (len !== want) throw new Error(`side ${d.self}: frame ${seq} has ${len} bytes, expected ${want}`);
      for (let i = 8; i < len; i++) {
        if (bytes[off + i] !== ((seq * 31 + i) & 255)) throw new Error(`side ${d.self}: frame ${seq} byte ${i} differs`);
      }
      received++;
      off += len;
    }
  };
  while (received < d.count || sent < d.count || ep.hasBacklog()) {
    steps++;
    const batch = ep.drain();
    if (batch) check(batch);
    // A window: at most 1..8 frames ahead of what the peer has sent us (both sides keep one of
    // at least 1, so one of them can always send), so both sides keep running out of input.
    const room = Math.min(d.count - sent, 1 + Math.floor(rng() * 8) - (sent - received));
    const burst = room > 0 ? Math.min(room, 1 + Math.floor(rng() * 8)) : 0;
    for (let i = 0; i < burst; i++, sent++) ep.post(d.peer, encodeFrame(sent, payloadLength(lengths)));
    ep.flush();
    if (burst > 0) {
      // A pause of the sender: long enough, often, for the peer to spin out and park.
      const r = rng();
      if (r < 0.3) await sleep(Math.floor(rng() * 3));
      else if (r < 0.4) { const until = performance.now() + rng() * 0.2; while (performance.now() < until); }
      continue;
    }
    if (received >= d.count && !ep.hasBacklog()) break;
    if (ep.hasInput() || bell.spin(ep.hasInput)) continue;
    announced++;
    if (!ep.prepareToPark()) continue;
    const block = d.blockMs[Math.floor(rng() * d.blockMs.length)]!;
    if (block > 0 && !asyncNext) {
      if (bell.parkBriefly(block) !== 'timed-out') { asyncNext = !ep.hasInput(); continue; }
    }
    asyncNext = false;
    if ((await bell.parkAsync(d.parkTimeoutMs)) === 'timed-out') timeouts++;
  }
  const s = bell.stats();
  ep.close();
  d.port.close();
  return { timeouts, frames: received, steps, announced, parks: s.parks[d.self], wakes: s.wakes[d.self] };
}

if (parentPort !== null && workerData?.role === 'endpoint-side') {
  side(workerData as EndpointSide).then(
    (r) => parentPort!.postMessage({ ok: true, ...r }),
    (e: Error) => parentPort!.postMessage({ ok: false, error: e.stack ?? e.message }),
  );
}
