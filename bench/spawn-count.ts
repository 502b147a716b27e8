// Per-spawn counts for issue 14's spawn path: VM instructions, calls and Lua heap bytes allocated
// per process started and ended, attributed to the function that ran, for one or two built
// checkouts. Load-free: counts, not time, so it reads the same on a loaded machine.
//
//   node dist/bench/spawn-count.js [--a DIR] [--b DIR] [--only spawn-exit|job-runner]
//                                  [--from 3000] [--n 2000] [--rows 40] [--node PATH]
//                                  [--workers 1|2] [--hook]
//
// `--workers 2 --hook` counts what a 2-worker host with the budget hook runs (the job runner's
// "spj" admission, the Lua-side list: src/runtime/control.ts "Admission"): the hosts keep their
// budget (no WIPPY_BENCH_HOOK=0), and the profiler's hook is set after the budget hook in
// sched.lua's `hook` (so it replaces it on the counted coroutines; nothing counted here runs long
// enough to need the budget). The counts are the last worker's to print (each worker's Lua
// state counts its own spawns); every worker's totals follow, each with its Lua-side list's
// counters over the window (taskq.lua: spawns queued in it, published from it, started from it).
//
// How. The kernel's Lua sources are read from `dist/src/lua/kernel/` of the checkout that runs
// (src/lua/engine.ts), so each checkout's `dist/`, `vendor/` and `package.json` are copied into a
// temporary directory (node_modules symlinked) and three lines are spliced into that copy's
// kernel, never into the checkout: init.lua gets the profiler below; sched.lua's `hook` (which
// every new process coroutine and every module chunk's coroutine passes) sets the profiler's hook
// on the coroutine, and so does copool.lua's coroutine.create (the C spawn takes a coroutine
// without sched.lua; a reused coroutine keeps its hook); sandbox.lua's make_env of a process's
// module (every process.lua process started on a worker, from Lua or from C) counts spawns (the
// C make_env of native/lua/lenv.c through a wrapper the profiler leaves out of the totals). What runs in C (native/lua/lspawn.c and the other hot paths) has no VM instructions and
// no hook calls of its own: its bytes are charged to the Lua function that ran before it, and
// the Lua it calls (add, arrive, make_env, ...) is counted as any Lua.
// Then `dist/bench/run.js --only W --workers 1 --quick` runs there with WIPPY_BENCH_HOOK=0 (no
// budget hook, which would replace ours). From the `from`-th spawn for `n` spawns, a count hook of
// 1 and a call hook on the worker's main Lua thread and every process thread charge each VM
// instruction and each call to the function running (debug.getinfo(2, "Sn")); the collector is
// stopped for the window and the growth of collectgarbage("count") between two hook calls is
// charged to the function that ran before it (the profiler's own allocations fall between its
// two readings of the count and are not charged). What C runs without a hook between two hook
// calls (the kernel's C run loop, a frame's decoding) is charged to the Lua function before it,
// and the profiler's own two functions are left out of the totals. Figures are per spawn; in the
// steady state of spawn-exit every spawn is one EXIT too, so per spawn is per spawn+exit.
// Host calls (calls out of the VM into JS, src/lua/engine.ts) are the "C <name>" rows of the
// host functions' names, summed on a line of their own.
// With two checkouts (--a, --b) the two tables are printed one after the other, and the totals
// side by side.
//
// Rejected: hooks in a committed kernel behind a flag (every spawn would pay the flag's test;
// the kernel stays free of measuring code), and sampling (`--cpu-prof`, which says where time goes
// in C but not which kernel function allocated or called).
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { checkBuilt, checkUnchanged, kernelDigest } from './checkout.js';

const argv = process.argv.slice(2);
const arg = (name: string, dflt: string | undefined): string | undefined => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1]! : dflt;
};
const ONLY = arg('only', 'spawn-exit')!;
const FROM = Number(arg('from', '3000'));
const N = Number(arg('n', '2000'));
const ROWS = Number(arg('rows', '40'));
const NODE = arg('node', process.execPath)!;
const WORKERS = arg('workers', '1')!;
const HOOK = argv.includes('--hook');
const sides = [arg('a', undefined), arg('b', undefined)].filter((x): x is string => x !== undefined);
if (sides.length === 0) sides.push('.');

const PROFILER = String.raw`
do -- spliced in by bench/spawn-count.ts (a copy of the kernel; never committed)
  local getinfo, sethook, gcount = debug.getinfo, debug.sethook, collectgarbage
  local FROM, N = ${FROM}, ${N}
  local instr, calls, bytes = {}, {}, {}
  local on, nsp, last, lastkey, tq0 = false, 0, 0, nil, nil
  local function key_of(info)
    if info.what == "C" then return "C " .. tostring(info.name) end
    return info.short_src .. ":" .. info.linedefined .. (info.name and (" " .. info.name) or "")
  end
  -- the C make_env (native/lua/lenv.c, session 12) is wrapped to count spawns (sandbox.lua, below);
  -- the wrapper's own instructions and calls are the profiler's (left out of the totals)
  local function h(ev)
    if not on then return end
    local m = gcount("count")
    if lastkey then bytes[lastkey] = (bytes[lastkey] or 0) + (m - last) end
    local info = getinfo(2, "Snf")
    local k = info and (info.func == __SPAWN_COUNT_ENV and "__SPAWN_COUNT_ENV" or key_of(info)) or ("(no frame at level 2: " .. ev .. ")")
    if ev == "count" then instr[k] = (instr[k] or 0) + 1 else calls[k] = (calls[k] or 0) + 1 end
    lastkey = k
    last = gcount("count")
  end
  __SPAWN_COUNT_HOOK = function(co) sethook(co, h, "c", 1) end
  sethook(h, "c", 1)
  __SPAWN_COUNT = function()
    nsp = nsp + 1
    if nsp == FROM then
      gcount("collect"); gcount("stop"); on = true; lastkey = "(window start)"; last = gcount("count")
      tq0 = __tq and { __tq() } or nil
    elseif nsp == FROM + N then
      on = false; gcount("restart")
      local keys, rows, ti, tc, tb = {}, {}, 0, 0, 0
      for k in pairs(instr) do keys[k] = true end
      for k in pairs(calls) do keys[k] = true end
      for k in pairs(bytes) do keys[k] = true end
      for k in pairs(keys) do
        local i, c, b = (instr[k] or 0) / N, (calls[k] or 0) / N, (bytes[k] or 0) * 1024 / N
        -- (the profiler's own functions are left out of the totals)
        if not k:find("__SPAWN_COUNT", 1, true) then ti, tc, tb = ti + i, tc + c, tb + b end
        rows[#rows + 1] = { k, i, c, b }
      end
      table.sort(rows, function(a, b) return a[2] + a[4] / 8 > b[2] + b[4] / 8 end)
      local out = { string.format("SPAWNCOUNT total %.1f %.1f %.1f", ti, tc, tb) }
      if tq0 then -- this worker's Lua-side list over the window (taskq.lua counters): queued, published, started from it
        local a, b, c = __tq()
        out[#out + 1] = string.format("SPAWNCOUNT queue %d %d %d", a - tq0[1], b - tq0[2], c - tq0[3])
      end
      for _, r in ipairs(rows) do
        out[#out + 1] = string.format("SPAWNCOUNT row %.1f %.2f %.1f %s", r[2], r[3], r[4], r[1])
      end
      -- which kernel counted: the mark spawn-count.ts put in this copy (see prepare)
      out[#out + 1] = "SPAWNCOUNT kernel " .. tostring(__SPAWN_COUNT_MARK)
      print(table.concat(out, "\n"))
    end
  end
end
`;

/**
 * Copy a checkout's runnable files into a temporary directory and splice the profiler in; -> the
 * directory and the mark its kernel prints. The checkout's kernel is checked first (bench/checkout.ts:
 * its dist built from its src), the copy is checked to be that kernel, and the mark (the kernel's
 * digest and a nonce) is spliced into the copy: measure() takes counts only from a run that
 * printed it, so no side's figures can come from another checkout's kernel unnoticed.
 */
function prepare(root: string): { dir: string; mark: string; digest: string } {
  const digest = checkBuilt(root);
  const dir = mkdtempSync(join(tmpdir(), 'spawn-count-'));
  for (const p of ['dist', 'vendor', 'package.json']) cpSync(join(root, p), join(dir, p), { recursive: true });
  symlinkSync(resolve(root, 'node_modules'), join(dir, 'node_modules'));
  const k = join(dir, 'dist', 'src', 'lua', 'kernel');
  if (kernelDigest(k) !== digest) throw new Error(`spawn-count: the copy of ${root}'s kernel is not its kernel (rebuilt while copied?)`);
  const mark = `${digest.slice(0, 16)}:${randomUUID().slice(0, 8)}`;
  const splice = (file: string, anchor: string, text: string, before = false): void => {
    const src = readFileSync(join(k, file), 'utf8');
    const i = src.indexOf(anchor);
    if (i < 0) throw new Error(`spawn-count: ${file} has no "${anchor.trim()}" to splice at`);
    const at = before ? i : i + anchor.length;
    writeFileSync(join(k, file), src.slice(0, at) + text + src.slice(at));
  };
  splice('init.lua', 'local step, count, mbox = sched.step', `__SPAWN_COUNT_MARK = "${mark}"\n${PROFILER}\n`, true);
  if (HOOK) {
    // after the budget hook is set (which would replace the profiler's), in hook and in new_thread's inline copy
    splice('sched.lua', '    return co\n  end\n  S.hook = hook', '    if __SPAWN_COUNT_HOOK then __SPAWN_COUNT_HOOK(co) end\n', true);
    splice('sched.lua', '        if chook then chook(co) else sethook(co, budget_hook, "", HOOK_EVERY) end\n      end\n    end\n',
      '    if __SPAWN_COUNT_HOOK then __SPAWN_COUNT_HOOK(co) end\n');
  } else {
    splice('sched.lua', '  local function hook(co, proc)\n', '    if __SPAWN_COUNT_HOOK then __SPAWN_COUNT_HOOK(co) end\n');
    // new_thread may make a coroutine without calling hook (sched.lua inlines it): hook it there too
    const sched = readFileSync(join(k, 'sched.lua'), 'utf8');
    if (sched.includes('co = take_co(fn, proc)\n')) {
      splice('sched.lua', 'co = take_co(fn, proc)\n', '      if __SPAWN_COUNT_HOOK then __SPAWN_COUNT_HOOK(co) end\n');
    }
  }
  // every coroutine copool.lua makes is hooked as it is made (a reused one keeps its hook): the C
  // spawn of native/lua/lspawn.c (our module, session 10) takes and hooks a process's coroutine
  // without sched.lua's new_thread
  splice('copool.lua', '  local co_create = coroutine.create\n', '  do local create = co_create; co_create = function(f) '
    + 'local co = create(f); if __SPAWN_COUNT_HOOK then __SPAWN_COUNT_HOOK(co) end; return co end end\n');
  // every process.lua process started on a worker gets its module's environment (sandbox.lua
  // make_env without `loaded`), from the Lua start_here or the C spawn
  splice('sandbox.lua', '  make_env = function(E, P, loaded)\n', '    if __SPAWN_COUNT and loaded == nil then __SPAWN_COUNT() end\n');
  // ... and when it is C (lenv.c), a counting wrapper around it
  if (readFileSync(join(k, 'sandbox.lua'), 'utf8').includes('deps.envmaker(')) {
    splice('sandbox.lua', '  M.make_env = make_env\n', '  if deps.envmaker then local c = make_env; make_env = function(E, P, loaded) '
      + 'if __SPAWN_COUNT and loaded == nil then __SPAWN_COUNT() end return c(E, P, loaded) end; __SPAWN_COUNT_ENV = make_env end\n', true);
  }
  return { dir, mark, digest };
}

interface Counts { total: [number, number, number]; rows: Array<[number, number, number, string]>; blocks: string[]; digest: string }

function measure(root: string): Counts {
  const { dir, mark, digest } = prepare(root);
  try {
    const r = spawnSync(NODE, ['dist/bench/run.js', '--only', ONLY, '--workers', WORKERS, '--quick'], {
      cwd: dir, env: HOOK ? process.env : { ...process.env, WIPPY_BENCH_HOOK: '0' }, encoding: 'utf8', maxBuffer: 64 << 20,
    });
    // With --workers 2 the 1-worker variant runs first and each worker prints its own block: the
    // last block is a worker of the last variant's.
    const all = `${r.stdout}\n${r.stderr}`;
    const out = all.slice(Math.max(0, all.lastIndexOf('SPAWNCOUNT total')));
    const total = out.match(/SPAWNCOUNT total (\S+) (\S+) (\S+)/);
    if (!total) throw new Error(`spawn-count: no counts from ${root} (fewer than ${FROM + N} spawns?)\n${all.slice(-2000)}`);
    // every block printed must be this copy's kernel's, and the checkout not rebuilt meanwhile
    const marks = [...all.matchAll(/SPAWNCOUNT kernel (\S+)/g)].map((m) => m[1]);
    if (marks.length === 0 || marks.some((m) => m !== mark)) {
      throw new Error(`spawn-count: the run for ${root} did not count the kernel copied from it (want ${mark}, printed ${marks.join(', ') || 'none'})`);
    }
    checkUnchanged(root, digest, 'while spawn-count measured it');
    const rows: Counts['rows'] = [];
    for (const m of out.matchAll(/SPAWNCOUNT row (\S+) (\S+) (\S+) (.*)/g)) rows.push([Number(m[1]), Number(m[2]), Number(m[3]), m[4]!]);
    // every block's totals, in print order (each worker of each variant), and its list's counters
    const blocks = [...all.matchAll(/SPAWNCOUNT total (.*)(?:\nSPAWNCOUNT queue (.*))?/g)].map((m) => `${m[1]}${m[2] ? ` · queued/published/started from lq ${m[2]}` : ''}`);
    return { total: [Number(total[1]), Number(total[2]), Number(total[3])], rows, blocks, digest };
  } finally {
    if (!process.env.SPAWN_COUNT_KEEP) rmSync(dir, { recursive: true, force: true });
  }
}

// The host calls (src/lua/engine.ts installHost: raw C functions into JS), by the name they are
// called under: charged as "C <name>" rows like any C function.
const HOST_CALLS = ['now', 'wall', 'entropy', 'newud', 'pid_alloc', 'place', 'load_add', 'task_push', 'task_listed',
  'task_take', 'dead', 'route', 'set_runner', 'dies_with', 'kill_requested', 'post', 'post_many', 'write',
  'stdin_read', 'read_file', 'tz_offset', 'local_offset'];
const hostCalls = (c: Counts): { total: number; by: string } => {
  let total = 0;
  const by: string[] = [];
  for (const [, cl, , k] of c.rows) {
    const name = k.startsWith('C ') ? k.slice(2) : '';
    if (!HOST_CALLS.includes(name) || cl === 0) continue;
    total += cl;
    by.push(`${name} ${cl.toFixed(2)}`);
  }
  return { total, by: by.join(', ') };
};

const fmt = (x: number, d = 1): string => x.toFixed(d).padStart(8);
const results = sides.map((root) => ({ root, c: measure(root) }));
for (const { root, c } of results) {
  console.log(`\n${root} (kernel ${c.digest.slice(0, 12)}) · ${ONLY}, per spawn (spawns ${FROM}..${FROM + N - 1}, ${WORKERS} worker(s), ${HOOK ? 'the hosts\' budget hook replaced by the counter' : 'no budget hook'})`);
  console.log(`${'instr'.padStart(8)} ${'calls'.padStart(8)} ${'bytes'.padStart(8)}  function`);
  for (const [i, cl, b, k] of c.rows.slice(0, ROWS)) console.log(`${fmt(i)} ${fmt(cl, 2)} ${fmt(b)}  ${k}`);
  console.log(`${fmt(c.total[0])} ${fmt(c.total[1], 2)} ${fmt(c.total[2])}  total`);
  const h = hostCalls(c);
  console.log(`host calls per spawn: ${h.total.toFixed(2)} (${h.by})`);
  console.log(`every worker's block (instr calls bytes per spawn started there), in print order:\n  ${c.blocks.join('\n  ')}`);
}
if (results.length === 2) {
  const [a, b] = results as [{ root: string; c: Counts }, { root: string; c: Counts }];
  console.log(`\n| per spawn | ${a.root} | ${b.root} |\n|---|---:|---:|`);
  ['VM instructions', 'calls', 'bytes allocated'].forEach((name, i) => {
    console.log(`| ${name} | ${a.c.total[i]!.toFixed(1)} | ${b.c.total[i]!.toFixed(1)} |`);
  });
  console.log(`| host calls | ${hostCalls(a.c).total.toFixed(2)} | ${hostCalls(b.c).total.toFixed(2)} |`);
}
