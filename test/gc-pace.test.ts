// The collector's pace (src/lua/kernel/init.lua, the end: incremental, pause 400) keeps a churning
// worker's heap bounded: a driver spawns CHURN monitored children that return at once, at most
// WINDOW alive, and receives every EXIT (checking their values' sum); then the worker's Lua heap
// as it stands (Runtime.stats quick: no collection) must be within BOUND times the heap after two
// full collections. The churn's garbage (about a kilobyte per spawn+exit) is many times BOUND
// times the live heap (checked), so a collector that did not keep pace fails the bound. With
// pause 400 a cycle starts at 4 times what the last one left, and the incremental cycle runs
// while the heap grows further: BOUND leaves room for that (measured: 3.0-3.6 times at pause 400,
// 1.2-1.8 at Lua's default 200, 6-8 at pause 1000, ~20 with no collection). Run on each Lua path
// (our module's C steps, WIPPY_CSCHED=0, wasmoon's module). Counts only: no timings.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { createRuntime, type Runtime } from '../src/index.js';
import { LUA_PATHS as PATHS, onPath } from './helpers/lua-paths.js';

/** Spawn+exits of the churn. */
const CHURN = 30_000;
/** Children alive at a time. */
const WINDOW = 100;
/** The heap as it stands may be at most this many times the heap after full collections. */
const BOUND = 6;
/** Garbage a spawn+exit leaves at least (the session-11 count is ~1,370 bytes). */
const PER_SPAWN = 1000;

const lua = (id: string, body: string) => ({ id, kind: 'process.lua', method: 'main', modules: [],
  source: `return { main = function(...)\n${body}\nend }` });

const ENTRIES = [
  { id: 'gp:host', kind: 'process.host', host: { workers: 1 } },
  lua('gp:child', `local i = ...; return i`),
  lua('gp:churn', `
    local n, window = ...
    local ev = process.events()
    local spawned, got, sum = 0, 0, 0
    for i = 1, window do assert(process.spawn_monitored("gp:child", "gp:host", i)); spawned = i end
    while got < n do
      local e = ev:receive()
      assert(e.kind == "pid.exit" and e.result.error == nil, "child failed")
      sum = sum + e.result.value
      got = got + 1
      if spawned < n then spawned = spawned + 1; assert(process.spawn_monitored("gp:child", "gp:host", spawned)) end
    end
    return got .. " " .. sum`),
];

const quiet = pino({ level: 'silent' });
const heap = async (rt: Runtime, quick: boolean): Promise<number> =>
  (await rt.stats({ quick })).reduce((n, w) => n + w.heapBytes, 0);

for (const path of PATHS) {
  test(`a churning worker's Lua heap stays within ${BOUND}x its live heap (${path.name})`, async () => {
    const rt = await onPath(path, () => createRuntime({ entries: ENTRIES as any,
      root: mkdtempSync(join(tmpdir(), 'wippy-gp-')), logger: quiet }));
    try {
      const out = await rt.exec('gp:churn', [CHURN, WINDOW], { host: 'gp:host' });
      assert.equal(out, `${CHURN} ${CHURN * (CHURN + 1) / 2}`);
      const standing = await heap(rt, true);
      const live = await heap(rt, false);
      assert.ok(live > 0 && standing >= live, `heap ${standing} standing, ${live} live`);
      // the check can fail: the churn made more garbage than the bound allows
      assert.ok(CHURN * PER_SPAWN > BOUND * live, `churn garbage ${CHURN * PER_SPAWN} vs ${BOUND} x ${live}`);
      assert.ok(standing <= BOUND * live, `heap ${standing} standing is over ${BOUND} x ${live} live`);
    } finally {
      await rt.stop(200);
    }
  });
}
