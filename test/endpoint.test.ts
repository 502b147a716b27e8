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
