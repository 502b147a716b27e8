// A drained backlog gives its memory back (src/lua/kernel/mailbox.lua bq_emptied, ldeliver.c's
// refill): a subscription's backlog emptied goes back to slot 1, and one whose array grew past
// BQ_KEEP slots is dropped, so a long-lived process that once took a burst does not keep the
// burst's array (a raw channel's flat backlog: six slots per message, ~96 MB after a million) for
// the rest of its life. Measured on the runtime's Lua heap (Runtime.stats: collectgarbage("count")
// after two full collections, the worker holding only this process): a holder process sends
// itself a burst of 200,000 values on a raw `listen` channel, all waiting in its backlog; the heap
// then holds the burst (checked: the measurement sees it); the holder drains every message,
// checking their order; the heap must come back near where it was before the burst. Run on each
// path: our module with its C steps (ldeliver.c's refill empties the backlog), with WIPPY_CSCHED=0
// (the Lua refill) and on wasmoon's module; the three must agree. Counts only: no timings.
// The record queues (a Message channel's backlog, the inbox's) are checked by their tables in
// test/kernel-mailbox.test.ts: on the heap their arrays (16 bytes a message) are within the noise
// of the Message objects' weak table (process.Message -> record), whose hash part a burst grows
// and the collector leaves as large as the last rehash made it (24 bytes a node).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { createRuntime, type Runtime } from '../src/index.js';
import { LUA_PATHS as PATHS, onPath } from './helpers/lua-paths.js';

/** Messages of the burst. */
const RAW = 200_000;
/** What the drained heap may keep over the heap before the burst. The burst leaves a 32 MB array
 * behind when it is kept (1.2 M slots, rounded up to 2^21 TValues); without it a few KB stay. */
const SLACK = 256 * 1024;
/** The burst must show: the raw backlog's slots at least (1.2 M × 16 bytes). */
const BURST_MIN = RAW * 6 * 16;

const lua = (id: string, body: string) => ({ id, kind: 'process.lua', method: 'main', modules: [],
  source: `return { main = function(...)\n${body}\nend }` });

// holder: listens on "raw"; answers commands on "cmd", { cmd, from }: "fill" sends itself the
// burst on "raw", "drain" receives all of it checking the order, and replies "done" with what it
// checked.
// ask(holder, cmd): sends the command, returns the holder's reply.
const ENTRIES = [
  { id: 'bm:host', kind: 'process.host', host: { workers: 1, max_mailbox: 1_000_000 } },
  lua('bm:holder', `
    local raw = process.listen("raw")
    local cmds = process.listen("cmd")
    local me = process.pid()
    local RAW = ...
    while true do
      local d = cmds:receive()
      local cmd, from = d[1], d[2]
      if cmd == "fill" then
        for i = 1, RAW do assert(process.send(me, "raw", i)) end
        process.send(from, "done", "filled")
      elseif cmd == "drain" then
        local bad = 0
        for i = 1, RAW do if raw:receive() ~= i then bad = bad + 1 end end
        process.send(from, "done", "drained " .. bad .. " out of order")
      end
    end`),
  lua('bm:ask', `
    local holder, cmd = ...
    local done = process.listen("done")
    assert(process.send(holder, "cmd", { cmd, process.pid() }))
    return done:receive()`),
];

const quiet = pino({ level: 'silent' });
const heap = async (rt: Runtime): Promise<number> => (await rt.stats()).reduce((n, w) => n + w.heapBytes, 0);

const outcomes: string[] = [];
for (const path of PATHS) {
  test(`a drained burst gives the Lua heap back (${path.name})`, async () => {
    const rt = await onPath(path, () => createRuntime({ entries: ENTRIES as any,
      root: mkdtempSync(join(tmpdir(), 'wippy-bm-')), logger: quiet }));
    try {
      const holder = await rt.spawn('bm:holder', 'bm:host', [RAW]);
      // a first fill and drain: what the first burst makes once (the kernel's lazily made tables,
      // the spare record, interned strings) is in the baseline, not in the difference; it must
      // not keep the burst's array either
      const initial = await heap(rt);
      assert.equal(await rt.exec('bm:ask', [holder, 'fill'], { host: 'bm:host' }), 'filled');
      assert.equal(await rt.exec('bm:ask', [holder, 'drain'], { host: 'bm:host' }), 'drained 0 out of order');
      const before = await heap(rt);
      assert.ok(before - initial < SLACK, `the first burst drained: ${initial} -> ${before} bytes (at most ${SLACK} more)`);
      assert.equal(await rt.exec('bm:ask', [holder, 'fill'], { host: 'bm:host' }), 'filled');
      const full = await heap(rt);
      assert.ok(full - before > BURST_MIN, `the burst is on the heap: ${before} -> ${full} bytes`);
      assert.equal(await rt.exec('bm:ask', [holder, 'drain'], { host: 'bm:host' }), 'drained 0 out of order');
      const drained = await heap(rt);
      assert.ok(drained - before < SLACK,
        `drained: ${before} -> ${full} -> ${drained} bytes (kept ${drained - before}, at most ${SLACK})`);
      outcomes.push('drained 0 out of order, heap back');
    } finally {
      await rt.stop(200);
    }
  });
}

test('the three paths agree', () => {
  assert.deepEqual(outcomes, PATHS.map(() => 'drained 0 out of order, heap back'));
});
