// A ping-pong across workers (two hosts of one worker each), counted: every echo comes back in
// order, and the doorbells' counters obey the wake-up protocol whatever the machine's load —
// a thread is sent at most one notify per park (the NOTIFIED state: only the producer whose
// compareExchange wins notifies, and only a parked thread), and a worker parks at most once per
// frame it is sent (a park ends with input or an interrupt, and each round trip brings each
// side one frame). Counts, not times: on a loaded machine the parks go up to that bound, on a
// quiet one (both sides spinning) towards none.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { availableParallelism } from 'node:os';
import { createRuntime } from '../src/index.js';

const N = 2_000;

test(`a ${N}-round-trip ping-pong across workers: order, and at most one park per frame and one notify per announced park`, async () => {
  const rt = await createRuntime({ entries: [
    { id: 'x:a', kind: 'process.host', host: { workers: 1 } },
    { id: 'x:b', kind: 'process.host', host: { workers: 1 } },
    { id: 'x:pong', kind: 'process.lua', method: 'main', source: `return { main = function(peer)
      local ch = process.listen("p")
      while true do
        local v = ch:receive()
        if v == false then return end
        process.send(peer, "p", v)
      end
    end }` },
    { id: 'x:ping', kind: 'process.lua', method: 'main', source: `return { main = function(n)
      local ch = process.listen("p")
      local peer = process.spawn("x:pong", "x:b", process.pid())
      for i = 1, n do
        process.send(peer, "p", i)
        local v = ch:receive()
        if v ~= i then error("echo " .. tostring(v) .. " for " .. i) end
      end
      process.send(peer, "p", false)
      return n
    end }` },
  ] });
  try {
    const [ta] = rt.workerTids('x:a');
    const [tb] = rt.workerTids('x:b');
    assert.ok(ta !== undefined && tb !== undefined && ta !== tb);
    const before = rt.doorbell();
    let done!: (v: unknown) => void;
    const result = new Promise((r) => { done = r; });
    await rt.spawn('x:ping', 'x:a', [N], (e) => done(e.error ?? e.value));
    assert.equal(await result, N);
    const after = rt.doorbell();
    // the free-cores measure (not measured: -1; else a count of this machine's cores)
    assert.ok(Number.isInteger(after.freeCores) && after.freeCores >= -1 && after.freeCores <= availableParallelism(), `freeCores ${after.freeCores}`);
    for (const t of [ta!, tb!]) {
      const parks = after.parks[t]! - before.parks[t]!;
      const wakes = after.wakes[t]! - before.wakes[t]!;
      const announced = after.announced[t]! - before.announced[t]!;
      // +1: the window's start can hold one announcement counted before `before` whose notify
      // comes after it (a thread has one announcement at a time). Not at its end: prepareToPark
      // counts the announcement before storing PARKED, and stats() reads it after the notifies.
      assert.ok(wakes <= announced + 1, `thread ${t}: ${wakes} notifies for ${announced} announced parks (${parks} slept)`);
      assert.ok(parks <= announced + 1, `thread ${t}: ${parks} parks for ${announced} announced`);
      // N frames each way, plus the spawn, its reply and the last "false" (a few control frames)
      assert.ok(parks <= N + 16, `thread ${t}: ${parks} parks for ${N} frames`);
    }
  } finally {
    await rt.stop(2000);
  }
});
