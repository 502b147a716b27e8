// The hot host calls in one crossing (native/lua/lhostfn.c, src/lua/hostfns.ts): the direct
// forms our C calls (route(uniq: f64) -> tid * 2 + alive, now() -> f64, pidAlloc(owner: f64) ->
// f64, dead(uniq: f64)) against the Lua-facing H.route, H.now, H.pid_alloc and H.dead they stand
// for, in one state of our module. wippy.native.hostcall(f, x) calls f as lsend.c, lsched.c,
// lspawn.c and lexit.c do (directly when f is the host's own, else through the Lua API) and says
// which it took. Over a seeded directory whose entries are allocated, die and move
// between threads (a steal's new owner, thread ids past the preallocated BigInts, no owner), and
// arguments at the edges of what the direct form takes (integers up to 2^53 in magnitude; beyond,
// floats and strings go through the Lua API), both must give the same answer, the model's; the
// clock must be one clock, read once per call by either form, and never go back. A replaced
// H.route or H.now (a Lua function) is called through the Lua API. pid_alloc, dead and load_add
// over real directories (src/shm/directory.ts): a seeded sequence of allocations (for this thread,
// for others, for a thread declared down: born dead), deaths and changes of this thread's count,
// made by the direct forms, by the Lua-facing ones and by the directory's own methods, must leave
// the three buffers byte for byte equal and hand out the same uniqs, as Lua integers. The C paths themselves:
// test/remote-send-c.test.ts (with and without the direct route), test/native-sched.test.ts,
// test/native-spawn.test.ts and test/native-spawn-multi.test.ts (the C spawn and exit against the
// Lua's, which calls H.pid_alloc and H.dead).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { luaFactory, setGlobalTable } from '../src/lua/module.js';
import { createEngineRaw } from '../src/lua/rawexports.js';
import { hotHostCalls, lifeHostCalls } from '../src/lua/hostfns.js';
import { Directory } from '../src/shm/directory.js';
import { newDirectory } from '../src/shm/layout.js';
import { mulberry32 } from './helpers/prng.js';

const ENGINE = { openStandardLibs: true, injectObjects: false, enableProxy: false };
const K = 64; // directory entries: uniqs 1..K

/** pid_alloc's, dead's and load_add's host functions (KernelHost.pidAlloc, pidDead, loadAdd) */
interface Life { pidAlloc: (owner?: number) => number; dead: (uniq: number) => void; loadAdd: (d: number, tid?: number) => void }

/**
 * A state of our module with H = { route, now, pid_alloc, dead, load_add } over `route`, `clock`
 * and `life` (none: fakes that throw), the setter called (`direct: false`: with the pid_alloc,
 * dead and load_add pairs as 0, as a host without them would).
 */
async function world(route: (u: number) => [number, boolean], clock: () => number, life?: Life, direct = true) {
  const { engine, module: m } = await createEngineRaw(luaFactory('native'), ENGINE);
  assert.equal(typeof m._luaW_set_hostfns, 'function', 'the setter is exported and reached through the raw exports');
  const L = engine.global.address;
  const add = (fn: (...a: number[]) => number | void, sig: string): number => m.addFunction(fn, sig);
  const hot = hotHostCalls(m, route, clock, add);
  const none = (): never => { throw new Error('no pid_alloc or dead in this world'); };
  const lc = lifeHostCalls(m, life?.pidAlloc ?? none, life?.dead ?? none, life?.loadAdd ?? none, add);
  setGlobalTable(m, L, 'H', [['route', hot.routeCf], ['now', hot.nowCf], ['pid_alloc', lc.pidAllocCf], ['dead', lc.deadCf],
    ['load_add', lc.loadAddCf]], (ptr) => m._lua_pushcclosure(L, ptr, 0));
  m._luaW_set_hostfns(L, hot.routeCf, hot.route, hot.nowCf, hot.now, lc.pidAllocCf, direct ? lc.pidAlloc : 0,
    lc.deadCf, direct ? lc.dead : 0, lc.loadAddCf, direct ? lc.loadAdd : 0);
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

/** The three ways of making the directory's calls: the direct forms, the Lua-facing ones, JS. */
type Way = 'direct' | 'lua' | 'js';

test('pid_alloc, dead and load_add: the direct forms leave a directory as H.pid_alloc, H.dead and H.load_add do, seeded', async () => {
  const TID = 3;
  for (const seed of [1, 7, 2026]) {
    const ways: Way[] = ['direct', 'lua', 'js'];
    const runs = await Promise.all(ways.map(async (way) => {
      const sab = newDirectory();
      const dir = new Directory(sab, TID);
      const asked: Array<[string, number | undefined]> = [];
      const life: Life = {
        pidAlloc: (o) => { asked.push(['alloc', o]); return dir.alloc(o); },
        dead: (u) => { asked.push(['dead', u]); dir.dead(u); },
        loadAdd: (d, t) => { asked.push(['load', d]); dir.addLoad(t ?? TID, d); },
      };
      const w = await world(() => [-1, false], () => 0, life);
      await w.engine.doString(String.raw`
        hostcall = package.loaded["wippy.native"].hostcall
        -- "direct uniq type": the C's way (hostcall) or the Lua-facing H.pid_alloc's
        function alloc(way, o)
          if way == "direct" then local d, u = hostcall(H.pid_alloc, o); return tostring(d) .. " " .. u .. " " .. math.type(u) end
          local u = H.pid_alloc(o)
          return "false " .. u .. " " .. math.type(u)
        end
        function dead(way, u)
          if way == "direct" then return tostring((hostcall(H.dead, u))) end
          H.dead(u)
          return "false"
        end
        function load(way, d)
          if way == "direct" then return tostring((hostcall(H.load_add, d))) end
          H.load_add(d)
          return "false"
        end
      `);
      const lalloc = w.engine.global.get('alloc') as (way: string, o: number) => string;
      const ldead = w.engine.global.get('dead') as (way: string, u: number) => string;
      const lload = w.engine.global.get('load') as (way: string, d: number) => string;
      return { way, sab, dir, asked, lalloc, ldead, lload };
    }));
    const rand = mulberry32(seed);
    const uniqs: number[][] = ways.map(() => []);
    let bornDead = 0;
    let diedHere = 0;
    let loads = 0;
    for (let step = 0; step < 1500; step++) {
      const r = rand();
      // a thread declared down now and then (allocations for it are born dead), the same in all
      const down = step === 500 ? 5 : step === 1000 ? 6 : -1;
      const owner = rand() < 0.6 ? TID : Math.floor(rand() * 8);
      const pick = Math.floor(rand() * 1e9);
      const delta = rand() < 0.5 ? 1 + Math.floor(rand() * 3) : -1 - Math.floor(rand() * 3);
      runs.forEach((run, i) => {
        if (down >= 0) run.dir.markDown(down);
        run.asked.length = 0;
        const mine = uniqs[i]!;
        if (r < 0.55 || mine.length === 0) {
          let u: number;
          if (run.way === 'js') u = run.dir.alloc(owner);
          else {
            const [d, us, type] = run.lalloc(run.way, owner).split(' ');
            assert.equal(d, String(run.way === 'direct'), `${run.way}: the form taken`);
            assert.equal(type, 'integer', 'the uniq is a Lua integer');
            u = Number(us);
            assert.deepEqual(run.asked, [['alloc', owner]], 'the host asked once, with the owner');
          }
          mine.push(u);
          if (i === 0 && owner >= 5 && owner <= 6 && step > (owner === 5 ? 500 : 1000)) bornDead++;
        } else if (r < 0.7) {
          // this thread's count, as count_load changes it (a spawn's +1, an exit's -1, a step's sum)
          if (run.way === 'js') run.dir.addLoad(TID, delta);
          else {
            assert.equal(run.lload(run.way, delta), String(run.way === 'direct'), `${run.way}: the form taken`);
            assert.deepEqual(run.asked, [['load', delta]], 'the host asked once, with the count');
          }
          if (i === 0) loads++;
        } else {
          const u = mine[pick % mine.length]!;
          if (run.way === 'js') run.dir.dead(u);
          else {
            assert.equal(run.ldead(run.way, u), String(run.way === 'direct'), `${run.way}: the form taken`);
            assert.deepEqual(run.asked, [['dead', u]], 'the host asked once, with the uniq');
          }
          if (i === 0) diedHere++;
        }
      });
    }
    assert.deepEqual(uniqs[0], uniqs[2], 'the direct forms hand out the uniqs the directory does');
    assert.deepEqual(uniqs[1], uniqs[2], 'the Lua-facing ones too');
    const bytes = runs.map((run) => new Uint8Array(run.sab));
    assert.ok(Buffer.from(bytes[0]!).equals(Buffer.from(bytes[2]!)), 'the direct forms leave the directory as JS does');
    assert.ok(Buffer.from(bytes[1]!).equals(Buffer.from(bytes[2]!)), 'the Lua-facing ones too');
    // real work: allocations for this thread and others, born dead, deaths; some alive at the end
    const d = runs[2]!.dir;
    const live = uniqs[2]!.filter((u) => d.isAlive(u)).length;
    assert.ok(bornDead > 20 && diedHere > 200 && loads > 100 && live > 50 && live < uniqs[2]!.length - 100,
      `born dead ${bornDead}, deaths ${diedHere}, counts ${loads}, alive ${live} of ${uniqs[2]!.length}`);
    assert.notEqual(d.load(TID), 0, 'the count moved');
    assert.ok(uniqs[2]!.some((u) => d.owner(u) === TID) && uniqs[2]!.some((u) => d.owner(u) !== TID), 'owners mixed');
  }
});

test('pid_alloc, dead and load_add: other arguments, a replaced function and a host without the pairs go through the Lua API', async () => {
  const log: string[] = [];
  const life: Life = { pidAlloc: (o) => { log.push(`alloc ${o}`); return 40 + log.length; }, dead: (u) => { log.push(`dead ${u}`); },
    loadAdd: (d, t) => { log.push(`load ${d} ${t}`); } };
  const w = await world(() => [-1, false], () => 0, life);
  const out = await w.engine.doString(String.raw`
    local hostcall = package.loaded["wippy.native"].hostcall
    local s = function(...) local t = table.pack(...) for i = 1, t.n do t[i] = tostring(t[i]) .. (math.type(t[i]) == "integer" and "i" or "") end return table.concat(t, " ", 1, t.n) end
    local own_alloc, own_dead = H.pid_alloc, H.dead
    local r = {
      s(hostcall(own_alloc, 2)), s(hostcall(own_alloc, 1 << 53)), s(hostcall(own_alloc, (1 << 53) + 1)),
      s(hostcall(own_alloc, 2.0)), s(hostcall(own_alloc, "2")),
      s(hostcall(own_dead, 9)), s(hostcall(own_dead, -(1 << 53))), s(hostcall(own_dead, 9.0)), s(hostcall(own_dead, math.mininteger)),
      s(hostcall(H.load_add, -1)), s(hostcall(H.load_add, 1.0)),
    }
    H.pid_alloc = function(o) return 7 end
    H.dead = function(u) return "replaced" end
    H.load_add = function(d) return "replaced too" end
    r[#r + 1] = s(hostcall(H.pid_alloc, 2))
    r[#r + 1] = s(hostcall(H.dead, 9))
    r[#r + 1] = s(hostcall(H.load_add, 1))
    return table.concat(r, " | ")
  `);
  assert.equal(out, ['true 41i', 'true 42i', 'false 43i', 'false 44i', 'false 45i', 'true', 'true', 'false', 'false',
    'true', 'false', 'false 7i', 'false replaced', 'false replaced too'].join(' | '));
  assert.deepEqual(log, ['alloc 2', `alloc ${2 ** 53}`, `alloc ${2 ** 53}`, 'alloc 2', 'alloc 2', 'dead 9', `dead ${-(2 ** 53)}`,
    'dead 9', `dead ${-(2 ** 63)}`, 'load -1 undefined', 'load 1 undefined']);
  // a host that gives no direct pair (0): the Lua-facing functions, called through the Lua API
  const log2: string[] = [];
  const v = await world(() => [-1, false], () => 0,
    { pidAlloc: (o) => { log2.push(`alloc ${o}`); return 5; }, dead: (u) => { log2.push(`dead ${u}`); },
      loadAdd: (d, t) => { log2.push(`load ${d} ${t}`); } }, false);
  const out2 = await v.engine.doString(String.raw`
    local hostcall = package.loaded["wippy.native"].hostcall
    local d1, u = hostcall(H.pid_alloc, 3)
    local d2 = hostcall(H.dead, 5)
    local d3 = hostcall(H.load_add, 2)
    return tostring(d1) .. " " .. u .. " " .. math.type(u) .. " " .. tostring(d2) .. " " .. tostring(d3)
  `);
  assert.equal(out2, 'false 5 integer false false');
  assert.deepEqual(log2, ['alloc 3', 'dead 5', 'load 2 undefined']);
});
