// The endpoint and doorbell protocol between two threads, under a seeded stress: both threads send
// each other seeded bursts of frames (0 B to past the ring's capacity) through Endpoint.post/flush,
// pause at random so the other side runs out of input, and go idle the way the worker loop does
// (spin, prepareToPark, a brief blocking park, then a waitAsync park). Asserted for every seed and
// park mix: every frame arrives, once, in order, with its bytes; no park ever times out (each one
// that ends is ended by a ring: a lost wake-up would sleep through the 5 s timeout); a thread is
// sent at most one notify per announced park (notifies ≤ prepareToPark calls).
// The sides run in test/helpers/endpoint-worker.ts. ENDPOINT_SEED=<n> reruns one seed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MessageChannel, Worker } from 'node:worker_threads';
import { Doorbell } from '../src/transport/doorbell.js';
import type { EndpointSide } from './helpers/endpoint-worker.js';

const WORKER = new URL('./helpers/endpoint-worker.js', import.meta.url);
const SEEDS = process.env.ENDPOINT_SEED !== undefined ? [Number(process.env.ENDPOINT_SEED)] : [1, 2, 3];

interface SideReport { ok: boolean; error?: string; timeouts: number; frames: number; steps: number; announced: number; parks: number; wakes: number }

function run(data: Omit<EndpointSide, 'port'> & { port: MessagePortLike }): Promise<SideReport> {
  const w = new Worker(WORKER, { workerData: { role: 'endpoint-side', ...data }, transferList: [data.port as never] });
  return new Promise((resolve, reject) => {
    w.once('error', reject);
    w.once('message', resolve);
  });
}
type MessagePortLike = EndpointSide['port'];

for (const [mix, blockMs] of [
  ['waitAsync parks only', [0]],
  ['brief blocking parks of 0.05-2 ms, then waitAsync', [0.05, 0.3, 1, 2]],
  ['both kinds', [0, 0.1, 1]],
] as const) {
  for (const seed of SEEDS) {
    test(`two endpoints, seed ${seed}, ${mix}: every frame once and in order, no lost wake-up, ≤ 1 notify per announced park`, async (t) => {
      const count = 3_000;
      const bell = Doorbell.create(3);
      const { port1, port2 } = new MessageChannel();
      // Short spins so that most idle spells end in a park: parks are what is under test.
      const common = { bell, count, blockMs: [...blockMs], minSpins: 0, maxSpins: 64, parkTimeoutMs: 5_000 };
      const [a, b] = await Promise.all([
        run({ ...common, self: 1, peer: 2, port: port1, seed, peerSeed: seed + 1000 }),
        run({ ...common, self: 2, peer: 1, port: port2, seed: seed + 1000, peerSeed: seed }),
      ]);
      for (const [name, r] of [['side 1', a], ['side 2', b]] as const) {
        assert.ok(r.ok, `${name}, seed ${seed}: ${r.error}`);
        assert.equal(r.frames, count, `${name}, seed ${seed}: frames received`);
        assert.equal(r.timeouts, 0, `${name}, seed ${seed}: a park timed out with the peer still sending: a lost wake-up`);
        // A ring between the announcement and the wait notifies a park that the re-check then
        // cancels: so at most one notify per announced park, not per park that slept.
        assert.ok(r.wakes <= r.announced, `${name}, seed ${seed}: ${r.wakes} notifies for ${r.announced} announced parks`);
      }
      assert.ok(a.parks + b.parks > 0, `seed ${seed}: nobody parked; the stress tested nothing`);
      t.diagnostic(`seed ${seed}: announced parks ${a.announced}/${b.announced}, slept ${a.parks}/${b.parks}, notifies ${a.wakes}/${b.wakes}, steps ${a.steps}/${b.steps} for ${count} frames each way`);
    });
  }
}
