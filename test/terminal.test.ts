// Terminal I/O of a worker (src/host/terminal.ts) on its own, over a PassThrough stream instead
// of stdin: reads are answered in the order they were started, with input in the order it came;
// io.readline takes the rest of a line, io.read(n) at most n bytes of it (newline included, cut
// on a UTF-8 boundary); end of input answers every waiting read with no value.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { once } from 'node:events';
import { setImmediate as tick } from 'node:timers/promises';
import { Terminal } from '../src/host/terminal.js';
import { decodeValues } from '../src/codec/msgpack.js';
import { asFrame, I } from '../src/wire/frames.js';

const LINE = 1;
const BYTES = 2;

function setup() {
  const input = new PassThrough();
  const answers: Array<[string, number, unknown]> = [];
  const term = new Terminal((bytes) => {
    for (const raw of decodeValues(bytes)) {
      const f = asFrame(raw)!;
      assert.equal(f[0], 'rep');
      if (f[0] === 'rep') answers.push([f[I.rep.pid], f[I.rep.req], f[I.rep.value] ?? null]);
    }
  }, input);
  return { input, answers, term };
}

test('lines go to reads in the order the reads were started; input before a read is kept', async () => {
  const { input, answers, term } = setup();
  term.read(1, '{p|0x00001}', LINE, 0);
  term.read(2, '{p|0x00002}', LINE, 0);
  input.write('first\nsecond\nthird\n');
  await tick();
  assert.deepEqual(answers, [['{p|0x00001}', 1, 'first'], ['{p|0x00002}', 2, 'second']]);
  term.read(3, '{p|0x00001}', LINE, 0);
  assert.deepEqual(answers[2], ['{p|0x00001}', 3, 'third'], 'a buffered line answers at once');
});

test('read(n): at most n bytes, newline included, the rest stays for the next read', async () => {
  const { input, answers, term } = setup();
  input.write('abcdef\n');
  term.read(1, 'p', BYTES, 4);
  await tick();
  term.read(2, 'p', BYTES, 100);
  term.read(3, 'p', BYTES, 3);
  input.write('xy\n');
  await tick();
  assert.deepEqual(answers.map((a) => a[2]), ['abcd', 'ef\n', 'xy\n']);
});

test('read(n) cuts on a UTF-8 character boundary; a readline after it takes the rest of the line', async () => {
  const { input, answers, term } = setup();
  input.write('aé€z\n'); // a (1 byte) é (2) € (3) z (1)
  term.read(1, 'p', BYTES, 2); // "a" and half of é: cut before é
  await tick();
  term.read(2, 'p', BYTES, 4); // é (2) + half of €: only é
  term.read(3, 'p', LINE, 0);
  assert.deepEqual(answers.map((a) => a[2]), ['a', 'é', '€z']);
  term.read(4, 'p', BYTES, 0); // n smaller than one character: the whole character
  input.write('€\n');
  await tick();
  assert.equal(answers[3]![2], '€');
});

test('end of input answers waiting and later reads with no value', async () => {
  const { input, answers, term } = setup();
  term.read(1, 'p', LINE, 0);
  term.read(2, 'p', LINE, 0);
  input.end('last\n');
  await once(input, 'end');
  await tick();
  term.read(3, 'p', LINE, 0);
  assert.deepEqual(answers, [['p', 1, 'last'], ['p', 2, null], ['p', 3, null]]);
});

test('output frames carry fd and bytes', () => {
  const [raw] = decodeValues(Terminal.output(2, new TextEncoder().encode('oops')));
  const f = asFrame(raw)!;
  assert.equal(f[0], 'w');
  if (f[0] !== 'w') return;
  assert.equal(f[I.w.fd], 2);
  assert.equal(Buffer.from(f[I.w.bytes] as Uint8Array).toString(), 'oops');
});
