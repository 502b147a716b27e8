// The endpoint's batching and park re-check (src/transport/endpoint.ts), with two endpoints in
// one thread joined by a MessageChannel: a step's frames for one destination travel as one ring
// frame, in post order; frames to oneself come back as local input after the rings; a dead peer's
// unflushed frames are dropped; prepareToPark refuses while anything is readable.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { once } from 'node:events';
import { Endpoint, type RingHandover } from '../src/transport/endpoint.js';
import { Doorbell } from '../src/transport/doorbell.js';

const bytes = (...xs: number[]) => Uint8Array.from(xs);

function pair() {
  const bell = Doorbell.create(4);
  const { port1, port2 } = new MessageChannel();
  const a = new Endpoint(1, bell, new Map<number, MessagePort>([[2, port1]]), { cores: 1, minSpins: 0, maxSpins: 0 });
  const b = new Endpoint(2, bell, new Map<number, MessagePort>([[1, port2]]), { cores: 1, minSpins: 0, maxSpins: 0 });
  const close = () => { a.close(); b.close(); port1.close(); port2.close(); };
  return { a, b, port2, close };
}

test('a step\'s frames for one destination arrive as one batch, in post order, after one flush', async () => {
  const { a, b, port2, close } = pair();
  try {
    a.post(2, bytes(1, 2));
    a.post(2, bytes(3));
    assert.equal(a.postedFrames(), 2);
    assert.equal(b.hasInput(), false, 'nothing published before flush');
    const handover = once(port2, 'message');
    a.flush();
    assert.equal(a.postedFrames(), 0);
    b.attach((await handover)[0] as RingHandover);
    assert.deepEqual(b.drain(), bytes(1, 2, 3), 'one ring frame: the batch');
    assert.equal(b.senderAt(0), 1);
    assert.equal(b.drain(), null);
    a.post(2, bytes(4));
    a.post(2, bytes(5, 6));
    a.flush();
    assert.deepEqual(b.drain(), bytes(4, 5, 6), 'the next step: the same ring, no handover');
  } finally { close(); }
});

test('frames to oneself and local input are read after the rings, in the order given', async () => {
  const { a, b, port2, close } = pair();
  try {
    const handover = once(port2, 'message');
    a.post(2, bytes(9));
    a.flush();
    b.attach((await handover)[0] as RingHandover);
    b.deliverLocal(bytes(20));
    b.post(2, bytes(21));
    b.post(2, bytes(22));
    b.flush();
    assert.equal(b.hasInput(), true);
    assert.equal(b.prepareToPark(), false, 'readable input: no park');
    assert.deepEqual(b.drain(), bytes(9, 20, 21, 22), 'ring first, then local input in order');
    assert.equal(b.senderAt(0), 1);
    assert.equal(b.senderAt(1), 2, 'local input is this thread\'s');
    assert.equal(b.hasInput(), false);
    assert.equal(b.prepareToPark(), true, 'nothing readable: park');
    b.bell.cancelPark();
  } finally { close(); }
});

test('a dead peer\'s unflushed frames are dropped, and so is everything sent to it later', async () => {
  const { a, close } = pair();
  try {
    a.post(2, bytes(1));
    assert.equal(a.dropPeer(2), null, 'it published nothing');
    assert.equal(a.postedFrames(), 0, 'the unflushed batch went with it');
    a.post(2, bytes(2));
    a.flush();
    assert.equal(a.hasBacklog(), false, 'sent nowhere');
  } finally { close(); }
});

test('post copies the frame at once: the caller may reuse its buffer before the flush', async () => {
  const { a, b, port2, close } = pair();
  try {
    const scratch = bytes(1, 2, 3);
    const handover = once(port2, 'message');
    a.post(2, scratch.subarray(0, 2));
    scratch.fill(9);
    a.post(2, scratch.subarray(0, 1));
    a.flush();
    b.attach((await handover)[0] as RingHandover);
    assert.deepEqual(b.drain(), bytes(1, 2, 9));
  } finally { close(); }
});

test('the batch buffer is reused and grows: seeded steps of 0..3000-byte frames arrive whole, in order', async () => {
  const { a, b, port2, close } = pair();
  try {
    let seed = 7;
    const rnd = () => { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return seed / 4294967296; };
    const handover = once(port2, 'message');
    let expected: number[] = [];
    let attached = false;
    for (let step = 0; step < 200; step++) {
      const frames = 1 + Math.floor(rnd() * 6);
      for (let f = 0; f < frames; f++) {
        const len = Math.floor(rnd() * (rnd() < 0.1 ? 3000 : 40));
        const frame = Uint8Array.from({ length: len }, (_, i) => (step * 7 + f * 13 + i) & 255);
        a.post(2, frame);
        expected.push(...frame);
      }
      a.flush();
      if (!attached) { b.attach((await handover)[0] as RingHandover); attached = true; }
      const got = b.drain();
      assert.deepEqual(got === null ? [] : [...got], expected, `step ${step}`);
      expected = [];
    }
  } finally { close(); }
});

test('a step\'s frames wake a parked receiver with one notify, and a running one with none', async () => {
  const { a, b, port2, close } = pair();
  try {
    const handover = once(port2, 'message');
    a.post(2, bytes(1));
    a.flush();
    b.attach((await handover)[0] as RingHandover);
    b.drain();
    const wakes = () => a.bell.stats().wakes[2];
    assert.equal(wakes(), 0, 'b was running: no notify');
    assert.equal(b.prepareToPark(), true);
    for (let i = 0; i < 10; i++) a.post(2, bytes(i));
    a.flush();
    assert.equal(wakes(), 1, 'ten frames, one step, one notify');
    a.post(2, bytes(10));
    a.flush();
    assert.equal(wakes(), 1, 'already notified: the next step sends none');
    assert.equal(b.bell.park(1000), 'not-equal', 'the notify came before the wait');
    assert.equal(b.drain()?.length, 11);
    a.post(2, bytes(11));
    a.flush();
    assert.equal(wakes(), 1, 'b is running again: none');
  } finally { close(); }
});

test('a brief blocking park that times out stays parked: a ring after it is seen by the park that follows', () => {
  const sab = Doorbell.create(3);
  const a = new Doorbell(sab, 1, { cores: 2 });
  const b = new Doorbell(sab, 2, { cores: 2 });
  b.prepareToPark();
  assert.equal(b.parkBriefly(1), 'timed-out');
  assert.equal(b.stats().awake, 1, 'b still counts as parked, not awake');
  assert.equal(a.ring(2), true, 'b is still parked: the ring notifies');
  assert.equal(b.park(5000), 'not-equal', 'the second wait sees NOTIFIED and returns at once');
  assert.equal(b.stats().parks[2], 1, 'one park, counted once');
  b.prepareToPark();
  assert.equal(a.ring(2), true);
  assert.equal(b.parkBriefly(5000), 'not-equal', 'rung before the brief wait');
  assert.equal(a.ring(2), false, 'b is running');
  assert.equal(b.stats().awake, 2);
  a.close();
  b.close();
});

/**
 * A fake of the kernel's input area (src/lua/engine.ts): a heap that moves when it grows, like
 * wasm memory, and can be moved from outside (the Lua state allocating between two steps).
 */
function fakeArea() {
  let heap = new Uint8Array(64);
  const base = 16; // the area starts inside the heap, as a malloc'd block does
  let cap = 8;
  const area = {
    grows: 0,
    heap: () => heap,
    view: () => heap.subarray(base, base + cap),
    grow: (need: number, keep: number) => {
      area.grows++;
      const next = new Uint8Array(base + Math.max(need, 2 * cap));
      next.set(heap.subarray(base, base + keep), base);
      heap = next;
      cap = next.length - base;
      return heap.subarray(base, base + cap);
    },
    /** The heap moves (memory.grow): views taken before are no longer where the area is. */
    move: () => { const next = new Uint8Array(heap.length + 64); next.set(heap); heap = next; },
  };
  return area;
}

test('drained into an input area: the batch is a view of the area (one copy from the ring), grown and moved areas lose nothing', async () => {
  const { a, b, port2, close } = pair();
  try {
    const area = fakeArea();
    b.useInputArea(area);
    const handover = once(port2, 'message');
    a.post(2, bytes(1, 2, 3));
    a.flush();
    b.attach((await handover)[0] as RingHandover);
    let got = b.drain()!;
    assert.deepEqual(got, bytes(1, 2, 3));
    assert.equal(got.buffer, area.heap().buffer, 'the batch lies in the area');
    assert.equal(got.byteOffset, 16, 'at its start');
    assert.equal(area.grows, 0);
    // Two senders' worth (a ring, then local input) past the area's 8 bytes: it grows once and
    // keeps what was already drained.
    a.post(2, Uint8Array.from({ length: 7 }, (_, i) => 10 + i));
    a.flush();
    b.deliverLocal(bytes(30, 31, 32));
    got = b.drain()!;
    assert.deepEqual([...got], [10, 11, 12, 13, 14, 15, 16, 30, 31, 32]);
    assert.equal(area.grows, 1);
    assert.equal(got.buffer, area.heap().buffer);
    assert.equal(b.senderAt(6), 1);
    assert.equal(b.senderAt(7), 2);
    // The heap moves between two drains: the next drain writes where the area is now.
    area.move();
    a.post(2, bytes(40, 41));
    a.flush();
    got = b.drain()!;
    assert.deepEqual(got, bytes(40, 41));
    assert.equal(got.buffer, area.heap().buffer, 'the view was fetched again');
    // A dead peer's last frames are read through the area too, and returned as a copy.
    a.post(2, bytes(50));
    a.flush();
    const last = b.dropPeer(1)!;
    assert.deepEqual(last, bytes(50));
    assert.notEqual(last.buffer, area.heap().buffer, 'a copy: the area is reused by the next drain');
  } finally { close(); }
});

test('flush() counts the other threads it sent a batch to (the worker loop\'s reply wait)', async () => {
  const { a, b, port2, close } = pair();
  try {
    const handover = once(port2, 'message');
    assert.equal(a.flush(), 0, 'nothing posted');
    a.post(1, bytes(1));
    assert.equal(a.flush(), 0, 'to itself only');
    a.post(2, bytes(2));
    a.post(2, bytes(3));
    a.post(1, bytes(4));
    assert.equal(a.flush(), 1, 'one other thread, however many frames');
    b.attach((await handover)[0] as RingHandover);
    assert.deepEqual(b.drain(), bytes(2, 3));
  } finally { close(); }
});
