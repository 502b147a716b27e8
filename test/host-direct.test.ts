// The hot host calls in one crossing (native/lua/lhostfn.c, src/lua/hostfns.ts): the direct
// forms our C calls (route(uniq: f64) -> tid * 2 + alive, now() -> f64) against the Lua-facing
// H.route and H.now they stand for, in one state of our module. wippy.native.hostcall(f, uniq)
// calls f as lsend.c and lsched.c do (directly when f is the host's own, else through the Lua
// API) and says which it took. Over a seeded directory whose entries are allocated, die and move
// between threads (a steal's new owner, thread ids past the preallocated BigInts, no owner), and
// arguments at the edges of what the direct form takes (integers up to 2^53 in magnitude; beyond,
// floats and strings go through the Lua API), both must give the same answer, the model's; the
// clock must be one clock, read once per call by either form, and never go back. A replaced
// H.route or H.now (a Lua function) is called through the Lua API. The C paths themselves:
// test/remote-send-c.test.ts (with and without the direct route), test/native-sched.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { luaFactory, setGlobalTable } from '../src/lua/module.js';
import { createEngineRaw } from '../src/lua/rawexports.js';
import { hotHostCalls } from '../src/lua/hostfns.js';
import { mulberry32 } from './helpers/prng.js';

const ENGINE = { openStandardLibs: true, injectObjects: false, enableProxy: false };
const K = 64; // directory entries: uniqs 1..K

/** A state of our module with H = { route, now } over `route` and `clock`, the setter called. */
async function world(route: (u: number) => [number, boolean], clock: () => number) {
  const { engine, module: m } = await createEngineRaw(luaFactory('native'), ENGINE);
  assert.equal(typeof m._luaW_set_hostfns, 'function', 'the setter is exported and reached through the raw exports');
  const L = engine.global.address;
  const hot = hotHostCalls(m, route, clock, (fn, sig) => m.addFunction(fn, sig));
  setGlobalTable(m, L, 'H', [['route', hot.routeCf], ['now', hot.nowCf]], (ptr) => m._lua_pushcclosure(L, ptr, 0));
  m._luaW_set_hostfns(L, hot.routeCf, hot.route, hot.nowCf, hot.now);
  await engine.doString(String.raw`
    hostcall = package.loaded["wippy.native"].hostcall
    -- the candidates: the directory's uniqs, then the edges
    U = {}
    for i = 1, ${K} do U[i] = i end
    EDGES = { 0, -1, 1 << 31, (1 << 40) + 5, 1 << 53, -(1 << 53), (1 << 53) + 1, math.maxinteger,
      math.mininteger, 1.5, 3.0, "7" }
    for _, e in ipairs(EDGES) do U[#U + 1] = e end
    -- check(i) -> "direct tid alive": H.route(U[i]) and hostcall(H.route, U[i]) agree, or raises
    function check(i)
      local u = U[i]
      local t1, a1 = H.route(u)
      local direct, t2, a2 = hostcall(H.route, u)
      if t1 ~= t2 or math.type(t1) ~= math.type(t2) or a1 ~= a2 then
        error(string.format("route(%s): H.route %s %s, direct form %s %s", tostring(u), tostring(t1), tostring(a1), tostring(t2), tostring(a2)))
      end
      return tostring(direct) .. " " .. tostring(t1) .. " " .. tostring(a1)
    end
  `);
  return { engine };
}

// (the engines are not closed: wasmoon's global.close traps on our module, before this change too)
test('route: the direct form answers as H.route over a seeded directory and at the edges', async () => {
  for (const seed of [1, 7, 2026]) {
    const rand = mulberry32(seed);
    const dir = new Map<number, [number, boolean]>();
    const asked: number[] = [];
    const pair: [number, boolean] = [-1, false]; // reused, as the worker's host does
    const route = (u: number): [number, boolean] => {
      asked.push(u);
      const e = dir.get(u);
      pair[0] = e === undefined ? -1 : e[0];
      pair[1] = e === undefined ? false : e[1];
      return pair;
    };
    const w = await world(route, () => 0);
    const lcheck = w.engine.global.get('check') as (i: number) => string;
    const check = (i: number): [boolean, number, boolean] => {
      const [d, t, a] = lcheck(i).split(' ');
      return [d === 'true', Number(t), a === 'true'];
    };
    const nEdges = Number(await w.engine.doString('return #EDGES'));
    let live = 0;
    let dead = 0;
    for (let step = 0; step < 400; step++) {
      const u = 1 + Math.floor(rand() * K);
      const r = rand();
      const e = dir.get(u);
      // allocate (small thread ids, ids past the preallocated BigInts, thread 0), die, move
      if (e === undefined || r < 0.2) dir.set(u, [rand() < 0.1 ? 300 + Math.floor(rand() * 5000) : Math.floor(rand() * 8), true]);
      else if (r < 0.5) e[1] = false;
      else if (r < 0.7) e[0] = Math.floor(rand() * 8);
      else if (r < 0.75) dir.delete(u);
      const i = 1 + Math.floor(rand() * K);
      asked.length = 0;
      const [direct, tid, alive] = check(i);
      const want = dir.get(i);
      assert.equal(direct, true, `uniq ${i}: the direct form`);
      assert.deepEqual([tid, alive], want === undefined ? [-1, false] : [want[0], want[1]], `uniq ${i}`);
      assert.deepEqual(asked, [i, i], 'each form asks the host once, with the same argument');
      if (alive) live++; else dead++;
    }
    assert.ok(live > 50 && dead > 50, `both answers seen (${live} live, ${dead} not)`);
    // the edges: integers of at most 2^53 in magnitude directly, the rest through the Lua API
    const directAt = [true, true, true, true, true, true, false, false, false, false, false, false];
    assert.equal(nEdges, directAt.length);
    for (let k = 0; k < nEdges; k++) {
      asked.length = 0;
      const [direct] = check(K + 1 + k);
      assert.equal(direct, directAt[k], `edge ${k + 1}`);
      assert.equal(asked.length, 2, `edge ${k + 1}: the host asked by both forms`);
      assert.equal(asked[0], asked[1], `edge ${k + 1}: the same argument`);
    }
  }
});

test('now: one clock read once per call by either form, never going back', async () => {
  // a counting clock: interleaved calls of the two forms take its values in turn
  let ticks = 0;
  const w = await world(() => [-1, false], () => 1000 + 0.25 * ticks++);
  const out = await w.engine.doString(String.raw`
    local seen = {}
    for k = 1, 200 do
      if k % 2 == 0 then
        seen[k] = H.now()
      else
        local direct, t = hostcall(H.now)
        assert(direct == true, "the direct form")
        seen[k] = t
      end
      assert(math.type(seen[k]) == "float", "a float")
    end
    return table.concat(seen, ",")
  `) as string;
  assert.deepEqual(out.split(',').map(Number), Array.from({ length: 200 }, (_, k) => 1000 + 0.25 * k));
  // the host's real clock: never back, across the two forms
  const r = await world(() => [-1, false], () => performance.now());
  const ok = await r.engine.doString(String.raw`
    local last = -math.huge
    for k = 1, 2000 do
      local t
      if k % 3 == 0 then t = H.now() else local d; d, t = hostcall(H.now); assert(d == true) end
      if t < last then return "back at " .. k .. ": " .. t .. " < " .. last end
      last = t
    end
    return "ok"
  `);
  assert.equal(ok, 'ok');
});

test('a replaced H.route or H.now is called through the Lua API', async () => {
  const w = await world(() => [3, true], () => 5);
  const out = await w.engine.doString(String.raw`
    local own_route, own_now = H.route, H.now
    local a = { hostcall(own_route, 9) }
    H.route = function(u) return 40 + u, false end
    H.now = function() return 77 end
    local b = { hostcall(H.route, 9) }
    local c = { hostcall(H.now) }
    local d = { hostcall(own_now) }
    local s = function(t) local o = {} for i = 1, #t do o[i] = tostring(t[i]) end return table.concat(o, " ") end
    return s(a) .. " | " .. s(b) .. " | " .. s(c) .. " | " .. s(d)
  `);
  assert.equal(out, 'true 3 true | false 49 false | false 77 | true 5.0');
});
