// A spawned process's main thread starts with exactly its arguments: spawn.lua start_here hands
// up to two of them to the main function in the thread's first resume (sched.lua new_thread with
// n, a1, a2) instead of a closure over an argument table, and more than two through the closure.
// Checked through the runtime: the count select("#", ...) sees (trailing and inner nils count),
// the values, a table argument copied, and threads started that way parking, waking with a
// message or a timer, and exiting with their EXIT to the spawner; 1 and 2 workers.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { scenarioRuntime, main, type Scenario } from './helpers/lua-runtime.js';
import type { Runtime } from '../src/index.js';

const scenarios: Scenario[] = [
  // the arguments as text: "<count>:<v1>,<v2>,..." (a table argument as "t<its x>")
  { name: 'argv', source: main(`
    local n = select("#", ...)
    local out = {}
    for i = 1, n do
      local v = select(i, ...)
      out[i] = type(v) == "table" and ("t" .. tostring(v.x)) or tostring(v)
    end
    return n .. ":" .. table.concat(out, ",")`) },
  // parks in its inbox, then a timer, and returns its first argument joined with the message
  { name: 'parker', source: main(`
    local a = ...
    local m = process.inbox():receive()
    time.sleep("1ms")
    return tostring(a) .. "+" .. tostring(m:payload():data()) .. "/" .. select("#", ...)`) },
  { name: 'start_tests', source: main(`
    local ev = process.events()
    local cases = {
      { n = 0, want = "0:" },
      { n = 1, nil, want = "1:nil" },
      { n = 2, nil, nil, want = "2:nil,nil" },
      { n = 2, 1, nil, want = "2:1,nil" },
      { n = 2, nil, 2, want = "2:nil,2" },
      { n = 2, "a", "b", want = "2:a,b" },
      { n = 1, false, want = "1:false" },
      { n = 1, { x = 7 }, want = "1:t7" },
      { n = 3, 1, 2, 3, want = "3:1,2,3" },
      { n = 4, nil, nil, nil, 4, want = "4:nil,nil,nil,4" },
    }
    local want = {}
    for round = 1, 3 do -- (the later rounds run in coroutines kept from the earlier ones)
      for _, c in ipairs(cases) do
        local pid = assert(process.spawn_monitored("test:argv", "test:processes", table.unpack(c, 1, c.n)))
        want[pid] = c.want
      end
    end
    local parkers = {}
    for i = 1, 4 do
      local pid = assert(process.spawn_monitored("test:parker", "test:processes", "p" .. i, i))
      parkers[#parkers + 1] = pid
      want[pid] = "p" .. i .. "+" .. (i * 10) .. "/2"
    end
    for i, pid in ipairs(parkers) do assert(process.send(pid, "go", i * 10)) end
    local left = 0
    for _ in pairs(want) do left = left + 1 end
    while left > 0 do
      local e = ev:receive()
      eq(e.kind, process.event.EXIT, "event kind")
      local w = want[e.from]
      if w == nil then error("an EXIT from an unknown or repeated pid " .. tostring(e.from)) end
      eq(e.result.error, nil, "no error from " .. e.from)
      eq(e.result.value, w, "result of " .. e.from)
      want[e.from] = nil
      left = left - 1
    end
    return true`) },
];

for (const workers of [1, 2]) {
  describe(`main threads start with their arguments, ${workers} worker(s)`, () => {
    let rt: Runtime;
    before(async () => { rt = await scenarioRuntime(scenarios, { workers }); });
    after(async () => { await rt.stop(); });

    test('every argument count and value, from 0 to 4 arguments, nils included; parking and waking after such a start', async () => {
      assert.equal(await rt.exec('test:start_tests'), true);
    });

    test('a job from JS gets its arguments the same way', async () => {
      assert.equal(await rt.exec('test:argv', []), '0:');
      assert.equal(await rt.exec('test:argv', ['x']), '1:x');
      assert.equal(await rt.exec('test:argv', [false, 2]), '2:false,2');
      assert.equal(await rt.exec('test:argv', [1, 2, 3]), '3:1,2,3');
      // nulls count, wherever they are (a msgpack array with a nil loses its length in Lua)
      assert.equal(await rt.exec('test:argv', [null]), '1:nil');
      assert.equal(await rt.exec('test:argv', [null, 2]), '2:nil,2');
      assert.equal(await rt.exec('test:argv', [1, null]), '2:1,nil');
      assert.equal(await rt.exec('test:argv', [undefined, 'x', null, 4]), '4:nil,x,nil,4');
      assert.equal(await rt.exec('test:argv', [null, null, null, null, null, 6]), '6:nil,nil,nil,nil,nil,6');
    });

    test('rt.run and rt.spawn count nulls too', async () => {
      assert.equal((await rt.run('test:argv', [null, 2])).value, '2:nil,2');
      const exit = new Promise<unknown>((resolve) => {
        void rt.spawn('test:argv', undefined, [1, undefined, null], (e) => resolve(e.value));
      });
      assert.equal(await exit, '3:1,nil,nil');
    });
  });
}
