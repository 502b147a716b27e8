// A process's start and end in C (native/lua/lspawn.c, `wippy.native`.spawn: spawner and exiter on
// our Lua module) against the Lua they stand for (process.lua's spawn variants, spawn.lua's
// spawn_from and start_here; lifecycle.lua's thread_done to deliver_event): the Lua is the path of
// wasmoon's module and of WIPPY_CSCHED=0. Two runtimes of one worker, one with the C and one with
// WIPPY_CSCHED=0, run the same seeded driver: spawns of every variant (plain, monitored, linked,
// both) with 0-3 arguments (scalars, tables, now and then a function, which cannot be sent) of
// children that return a scalar, nil, a table or two values, raise, raise or yield at their module's
// top level, lack their method, wait for a message (then are sent one or terminated), or spawn a
// monitored child of their own and return at once; interleaved with plain yields and non-blocking
// drains of the driver's events; then jobs from JS (rt.exec: a JS exit watcher) of the same
// children. The transcripts (every spawn's result, every event's kind, sender
// and result, in the order received, PIDs numbered by first appearance) must be equal, and contain
// what the checks below name, so the comparison is not of two empty logs.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { luaFactory } from '../src/lua/module.js';
import { CHILDREN, SHOWN, transcript } from './helpers/spawn-driver.js';

const ENTRIES: Array<Record<string, unknown>> = [
  { id: 'ns:w', kind: 'process.host', host: { workers: 1, crash_reports: false } },
  // the budget hook on: every process coroutine is hooked (the C count hook), reused ones again
  { id: 'ns:b', kind: 'process.host', host: { workers: 1, crash_reports: false, max_reductions: 5_000_000 } },
  ...CHILDREN,
];

after(() => { delete process.env.WIPPY_CSCHED; });

test('our module carries the C spawn and exit (wippy.native.spawn)', async () => {
  if (process.env.WIPPY_LUA === 'wasmoon') return; // wasmoon's module: the Lua only, compared below
  const e = await luaFactory('native').createEngine({ injectObjects: false, enableProxy: false });
  assert.equal(e.doStringSync(`local s = package.loaded["wippy.native"].spawn
    return type(s.spawner) .. " " .. type(s.exiter)`), 'function function');
});

for (const [seed, host] of [[7, 'ns:w'], [1234, 'ns:w'], [99991, 'ns:w'], [4242, 'ns:b']] as const) {
  test(`seeded spawns, exits, monitors, links and kills (seed ${seed}, ${host}): the C and the Lua give the same transcript`, async () => {
    const c = await transcript(ENTRIES, 1, false, seed, 200, host);
    const l = await transcript(ENTRIES, 1, true, seed, 200, host);
    const lines = c.split('\n');
    // what the driver must have done and seen, so the comparison is of real work
    for (const want of SHOWN) assert.ok(c.includes(want), `the transcript shows "${want}"\n${c}`);
    // the budget host's spinning children end by the count hook on their coroutines
    if (host === 'ns:b') assert.ok(c.includes('reduction budget exceeded'), `a child past its budget\n${c}`);
    assert.ok(lines.length > 120, `a transcript of ${lines.length} lines`);
    assert.equal(c, l);
  });
}
