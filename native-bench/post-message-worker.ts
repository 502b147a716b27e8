/**
 * The worker side of the postMessage ceilings (js-ceilings.ts).
 *
 * mode "sink": counts incoming `{ seq }` messages and sums their seq; after
 * `n` of them it posts `{ count, sum }` back, once.
 * mode "echo": posts every message straight back.
 * Either way it posts "ready" first, so worker start-up is not timed.
 */

import { parentPort, workerData } from 'node:worker_threads';

interface Config {
  mode: 'sink' | 'echo';
  n: number;
}

const port = parentPort;
if (port === null) throw new Error('post-message-worker must run in a worker thread');
const { mode, n } = workerData as Config;

if (mode === 'sink') {
  let count = 0;
  let sum = 0;
  port.on('message', (m: { seq: number }) => {
    count++;
    sum += m.seq;
    if (count === n) port.postMessage({ count, sum });
  });
} else {
  port.on('message', (m: unknown) => port.postMessage(m));
}
port.postMessage('ready');
