// A cross-worker send's "m" frame written from the values (native/lua/lmframe.c, lsend.c's remote
// send) against the Lua send's (WIPPY_CSCHED=0: pids.lua's send_frame with lcodec.c's
// encode_frame_out; wasmoon's module: codec.lua's encode): one worker kernel on this thread, a
// process sending one value at a time to a process of another worker (a PID of host "b", thread
// 2), every width of every plain shape (integers at each msgpack boundary, floats, booleans,
// strings of 0 to 70,000 bytes, on a short and a 40-byte topic), and the shapes lmframe.c leaves
// to lcodec.c (nil, tables, a frame past its bound). The bytes handed to the host for thread 2 must
// be the same on the three paths, and decode to the frames sent, in order.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LuaKernel } from '../src/lua/engine.js';
import { decodeValues, encodeValue } from '../src/codec/msgpack.js';
import { frame } from '../src/wire/frames.js';
import { formatPid } from '../src/runtime/pid.js';
import { LUA_PATHS, onPath, type LuaPath } from './helpers/lua-paths.js';

// [Lua expression, the value decoded] (a float that is integral is still a float: msgpack float 64)
const VALUES: Array<[string, unknown]> = [
  ...[0, 1, 127, 128, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, -1, -32, -33, -128, -129, -32768, -32769,
    -(2 ** 31), -(2 ** 31) - 1].map((n): [string, unknown] => [`${n}`, n]),
  ['math.maxinteger', 2n ** 63n - 1n], ['math.mininteger', -(2n ** 63n)], ['2^53 // 1 + 1', 2 ** 53 + 1],
  ['0.5', 0.5], ['-0.0', -0], ['1.0', 1], ['1e300', 1e300], ['-2.5e-300', -2.5e-300], ['1/0', Infinity], ['-1/0', -Infinity],
  ['true', true], ['false', false],
  ...[0, 1, 7, 8, 9, 31, 32, 33, 255, 256, 4000, 4100, 65535, 65536, 70000].map((n): [string, unknown] =>
    [`string.rep("ab", ${n >> 1}) .. string.rep("c", ${n & 1})`, 'ab'.repeat(n >> 1) + 'c'.repeat(n & 1)]),
  ['"\\0é"', '\0é'],
  // lcodec.c's: nil (below: its payload list { nil } is empty, an empty map), a table, an empty table
  ['nil', undefined], ['{ 1, "x", { y = 2 } }', [1, 'x', { y: 2 }]], ['{}', {}],
];
const LONG_TOPIC = 't'.repeat(40);
const SENDER = `return { main = function(recv)
  local send = process.send
  assert(send(recv, "m", "first")) -- pids.lua parses the PID on the first send; lsend.c sends the rest
  for _, topic in ipairs({ "m", "${LONG_TOPIC}" }) do
${VALUES.map(([lua]) => `    assert(send(recv, topic, ${lua}))`).join('\n')}
  end
  return true
end }`;

async function framesOn(path: LuaPath): Promise<Uint8Array> {
  const owner = new Map<number, number>([[50, 2]]);
  let nextUniq = 100;
  const chunks: Uint8Array[] = [];
  const route: [number, boolean] = [-1, false];
  const entries = encodeValue({ 'x:send': { kind: 'process.lua', source: SENDER, method: 'main', modules: [], imports: {}, file: 'send' } });
  const hosts = { a: { kind: 'process.host', tids: [1] }, b: { kind: 'process.host', tids: [2] } };
  const k = await onPath(path, () => LuaKernel.create({
    pidAlloc: (o?: number) => { const u = nextUniq++; owner.set(u, o ?? 1); return u; }, place: () => 1, loadAdd() {},
    taskPush: () => false, taskTake: () => undefined, taskListed: () => false, pidDead() {},
    route: (u: number) => { route[0] = owner.get(u) ?? -1; route[1] = owner.has(u); return route; },
    setRunner() {}, diesWith: () => false, killRequested: () => false,
    post: (to: number, b: Uint8Array) => { if (to === 2) chunks.push(b.slice()); },
    postRange: (to: number, heap: Uint8Array, s: number, e: number) => { if (to === 2) chunks.push(heap.slice(s, e)); },
    write() {}, stdinRead() {}, readFile: () => undefined, tzOffset: () => undefined,
  }, encodeValue({ tid: 1, host: 'a', hosts, strict_mode: false, log_level: 50 }), entries));
  const recv = formatPid('b', 50);
  const pid = formatPid('a', 60);
  owner.set(60, 1);
  const start = encodeValue(frame.sp(pid, 60, 'x:send', 'a', false, false, false, [recv]));
  let more = k.step(start);
  while (more) more = k.step(null);
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  chunks.reduce((at, c) => { out.set(c, at); return at + c.length; }, 0);
  return out;
}

test('a cross-worker send of one value: the same frame bytes on the three paths, decoding to what was sent', async () => {
  const bytes = new Map<string, Uint8Array>();
  for (const path of LUA_PATHS) bytes.set(path.name, await framesOn(path));
  const c = bytes.get('C')!;
  const recv = formatPid('b', 50);
  const from = formatPid('a', 60);
  const want = [frame.m(recv, from, 'm', 1, ['first']),
    ...['m', LONG_TOPIC].flatMap((topic) => VALUES.map(([lua, v]) => frame.m(recv, from, topic, 1, lua === 'nil' ? {} as unknown[] : [v])))];
  const got = decodeValues(c);
  assert.equal(got.length, want.length, 'one frame per send');
  got.forEach((f, i) => assert.deepEqual(f, want[i], `frame ${i}`));
  for (const [name, b] of bytes) assert.ok(Buffer.compare(Buffer.from(b), Buffer.from(c)) === 0, `${name}: the same bytes as the C path`);
});
