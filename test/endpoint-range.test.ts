// The worker's allocation-free paths of the endpoint (src/transport/endpoint.ts), against the
// paths they stand beside, with two endpoints in one thread: postRange(to, heap, start, end) (a
// frame the kernel's step returned, as a range of the wasm heap: copied byte by byte up to 256
// bytes, through a view above) batches exactly what post(to, heap.subarray(start, end)) does —
// seeded frames of 0-600 bytes, interleaved with post() and spread over two destinations, arrive
// in post order with the same bytes and frame counts; drainLength() reads what drain() would, and
// lastBatch() is its batch; into an input area the bytes land at its start (the kernel reads them
// there: src/lua/engine.ts stepInArea).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { once } from 'node:events';
import { Endpoint, type RingHandover } from '../src/transport/endpoint.js';
import { Doorbell } from '../src/transport/doorbell.js';
import { mulberry32 } from './helpers/prng.js';

function trio() {
  const bell = Doorbell.create(4);
  const c12 = new MessageChannel();
  const c13 = new MessageChannel();
  const opts = { cores: 1, minSpins: 0, maxSpins: 0 };
  const a = new Endpoint(1, bell, new Map<number, MessagePort>([[2, c12.port1], [3, c13.port1]]), opts);
  const b = new Endpoint(2, bell, new Map<number, MessagePort>([[1, c12.port2]]), opts);
  const c = new Endpoint(3, bell, new Map<number, MessagePort>([[1, c13.port2]]), opts);
  const close = () => { a.close(); b.close(); c.close(); for (const p of [c12.port1, c12.port2, c13.port1, c13.port2]) p.close(); };
  return { a, b, c, toB: c12.port2, toC: c13.port2, close };
}

test('postRange batches what post of a view does: seeded frames, both copy paths, two destinations, in order', async () => {
  const { a, b, c, toB, toC, close } = trio();
  try {
    const rand = mulberry32(0x2a9e);
    const heap = Uint8Array.from({ length: 1 << 14 }, () => Math.floor(rand() * 256));
    const want = new Map<number, number[]>([[2, []], [3, []]]);
    let frames = 0;
    const handovers = [once(toB, 'message'), once(toC, 'message')];
    for (let step = 0; step < 40; step++) {
      const n = 1 + Math.floor(rand() * 6);
      for (let i = 0; i < n; i++) {
        const to = rand() < 0.5 ? 2 : 3;
        const len = rand() < 0.15 ? 0 : Math.floor(rand() * (rand() < 0.7 ? 256 : 600));
        const start = Math.floor(rand() * (heap.length - len));
        if (rand() < 0.5) a.postRange(to, heap, start, start + len); else a.post(to, heap.subarray(start, start + len));
        want.get(to)!.push(...heap.subarray(start, start + len));
        frames++;
      }
      a.flush();
      if (step === 0) {
        // the rings are handed over with the first batch for each destination
        b.attach((await handovers[0]!)[0] as RingHandover);
        c.attach((await handovers[1]!)[0] as RingHandover);
      }
    }
    const got = new Map<number, number[]>([[2, []], [3, []]]);
    for (const [ep, to] of [[b, 2], [c, 3]] as const) {
      for (let x = ep.drain(); x !== null; x = ep.drain()) got.get(to)!.push(...x);
    }
    assert.deepEqual(got.get(2), want.get(2), 'destination 2: the same bytes in the same order');
    assert.deepEqual(got.get(3), want.get(3), 'destination 3');
    assert.equal((a.sentFrames[2] ?? 0) + (a.sentFrames[3] ?? 0), frames, 'every frame counted once');
  } finally { close(); }
});

test('drainLength reads what drain would, lastBatch is its batch, and into an input area the bytes are at its start', async () => {
  const { a, b, toB, close } = trio();
  try {
    const area = new Uint8Array(64).fill(0xee);
    assert.equal(b.drainsToArea, false);
    const handover = once(toB, 'message');
    a.postRange(2, Uint8Array.of(9, 1, 2, 3, 9), 1, 4);
    a.flush();
    b.attach((await handover)[0] as RingHandover);
    assert.equal(b.drainLength(), 3);
    assert.deepEqual(b.lastBatch(3), Uint8Array.of(1, 2, 3));
    assert.equal(b.drainLength(), 0, 'nothing left');
    b.useInputArea({ view: () => area, grow: () => { throw new Error('no growth expected'); } });
    assert.equal(b.drainsToArea, true);
    a.postRange(2, Uint8Array.of(4, 5), 0, 2);
    a.post(2, Uint8Array.of(6));
    a.flush();
    assert.equal(b.drainLength(), 3);
    assert.deepEqual(area.subarray(0, 4), Uint8Array.of(4, 5, 6, 0xee), 'at the area\'s start, nothing past the batch');
    assert.equal(b.senderAt(0), 1);
  } finally { close(); }
});
