// The Lua bridge: one wasmoon Lua 5.4 state per worker thread, driven through wasmoon's raw wasm
// exports.
//
// Why raw exports. wasmoon's convenience layer (global.set, automatic table conversion) costs
// 3-15 µs per call; the raw `_lua_*` exports cost ~0.004 µs and a raw C-style host function called
// from Lua ~0.08 µs (measured here on Node 20: 1M calls of a no-op host function in 83 ms). So the
// kernel (src/lua/kernel/*.lua) runs the scheduler in Lua and reaches JS only through the small
// set of host functions below, each a raw C closure that reads its arguments off the Lua stack.
// Byte strings cross as bytes (lua_tolstring pointer + HEAPU8), never through UTF-8 decoding, so
// binary payloads survive.
//
// The step's input. A worker's endpoint drains its rings straight into the kernel's input area
// (inputArea: memory of the wasm heap, malloc'd once and grown with realloc). On our Lua module
// the kernel decodes the frames where they lie (codec.decode_at, native/lua/lcodec.c): step()
// passes the area as its address and length, and the bytes of a frame, receiver
// side, are copied once, ring -> wasm heap (before: ring -> wasm heap -> a Lua string of the
// batch, two copies; before that ring -> a JS buffer -> a malloc'd copy per step -> Lua string,
// three, and a malloc and a free per step). On wasmoon's module (no decode_at: the kernel's
// __INPUT_AT is false) the batch is pushed as a Lua string from where it lies. A batch from
// anywhere else is copied in as a string as before.
//
// The step's entry and exit (session 8). On our module the arguments (the input mode, the area's
// address and length, the clock) and the results (the next deadline, "more", and the frames the
// step held for other workers, as thread id, address and length) go through the step block
// (native/lua/lstep.c): the host writes and reads it as doubles of HEAPF64, and enters the step
// with two calls into the module (lua_getglobal, lua_pcallk) where it made nine: an empty step
// 630-850 -> 460-510 ns of CPU (bench/step-entry.ts). The frames are copied into the endpoint's
// batches from the heap by address and length (KernelHost.postRange), so a step makes no call
// out of the VM for them (H.post before). On wasmoon's module, and with WIPPY_CSTEP=0, the same
// goes on the Lua stack: __step(batch, len, now) returns nxt, more, then groups of tid, n, frames.
//
// Size: ~650 lines. It is the one place that knows the raw exports' calling conventions (the
// stack, the step block, the host closures' argument reads), and the step entry, the host
// functions and the report globals share them; split apart, each file would re-wrap the module.
//
// Never call Lua unprotected from JS: a Lua error outside a pcall aborts the wasm module. The
// only entry points are `step` and the report globals (`count`, `mem`, `mbox`, `ps`), all called
// through lua_pcallk.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { luaFactory, loadChunk, setGlobalTable } from './module.js';
import { createEngineRaw } from './rawexports.js';
import { hostInt, hotHostCalls, lifeHostCalls } from './hostfns.js';
import { getRandomValues } from 'node:crypto';
import { stdlibHost } from './host-stdlib.js';

const KERNEL_DIR = join(dirname(fileURLToPath(import.meta.url)), 'kernel');
const LIB_DIR = join(dirname(fileURLToPath(import.meta.url)), 'lib');
const LUA_TNIL = 0;
const LUA_TNUMBER = 3;
const LUA_MULTRET = -1;
/**
 * The global `performance`, read once: on Node 24 the global is an accessor, so each
 * `performance.now()` runs its getter first (~100 against ~40 ns a call, measured in a loop; Node 20
 * reads the same either way). The C run loop's `now` host call reads the clock after every resume
 * (docs/design/native-core.md, "The cost of a spawn", session 12).
 */
const perf = performance;

/** Host functions the kernel calls, in JS terms. Arguments arrive already converted. */
export interface KernelHost {
  /** Allocate a process id (unique in the runtime), owned by thread `owner`, and mark it alive. */
  pidAlloc(owner?: number): number;
  /** Pick the worker of this host a new process goes to (counts it there if not this one). */
  place(): number;
  /** Adjust the live-process count of this thread (or of thread `tid`). */
  loadAdd(delta: number, tid?: number): void;
  /**
   * Queue a spawn descriptor on the host's run queues (src/scheduler/tasks.ts): this worker's
   * (target = its own tid) or a sibling's inject queue. False: not queued, start it another way.
   * `tag` (≥ 0): the kernel keeps the record; taskTake gives the tag back if this worker takes it.
   */
  taskPush(desc: Uint8Array, target: number, tag?: number): boolean;
  /**
   * The next queued spawn descriptor this worker should start (`steal`: rob busy siblings), or
   * the tag of one it pushed with a tag and took back (unless `copy`: the bytes of every one).
   */
  taskTake(steal: boolean, copy?: boolean): Uint8Array | number | undefined;
  /**
   * This worker's Lua-side list holds `n` spawns (published in the directory for the siblings'
   * weights); true when a sibling is lighter by more than half the backlog mark (the offer rule,
   * src/host/placement.ts).
   */
  taskListed(n: number): boolean;
  /** Mark a process id dead. */
  pidDead(uniq: number): void;
  /**
   * Owner thread of a process id (-1 if unknown) and whether it is alive. Read at once by the
   * caller, so the host may return the same array every time (the worker does: no allocation
   * per cross-worker send).
   */
  route(uniq: number): [number, boolean];
  /** This worker starts queued spawn `uniq` away from its home (worker recovery needs to know). */
  setRunner(uniq: number): void;
  /** Did process `uniq` die with dead thread `tid` (owned there, or started there)? */
  diesWith(uniq: number, tid: number): boolean;
  /** Has the main thread asked for process `uniq` to end now (a job's cancel deadline)? */
  killRequested(uniq: number): boolean;
  /** Queue one encoded frame for thread `tid` (copied; the view is only valid during the call). */
  post(tid: number, frame: Uint8Array): void;
  /**
   * post() of the bytes heap[start, end) (copied during the call), for the frames a step returns:
   * no view per frame. On our module a range is all of a step's `frames` frames for `tid`,
   * concatenated (the step's outbox, native/lua/lstep.c: a batch as the endpoint makes one).
   * Optional: without it they go to post() as views (a range of several frames as one view).
   */
  postRange?(tid: number, heap: Uint8Array, start: number, end: number, frames?: number): void;
  /** Terminal/print output. */
  write(fd: number, bytes: Uint8Array): void;
  /** Start a read from stdin for request `req` of process `pid` (mode 1 = line, 2 = up to n bytes). */
  stdinRead(req: number, pid: string, mode: number, n: number): void;
  /** Contents of a source file (for process.upgrade reloading from disk), or undefined. */
  readFile(path: string): Uint8Array | undefined;
  /** Offset in seconds of IANA zone `name` at unix time `secs` and its abbreviation, or undefined if unknown. */
  tzOffset(name: string, secs: number): [number, string | undefined] | undefined;
  /** The kernel's clock (ms) in place of performance.now(): the stage stamps' (src/host/stages.ts). */
  now?(): number;
}

type Module = any; // emscripten module of wasmoon (untyped raw exports)

function kernelSource(name: string): string {
  return readFileSync(join(KERNEL_DIR, `${name}.lua`), 'utf8');
}

/**
 * Every .lua file under `dir` (subfolders too), by module name: the path below `dir` without
 * `.lua`, with `/` between folders ("sched", "security/regex"). No hand-kept list: a new kernel or
 * library file is loadable by init.lua as soon as it exists. A name in both folders is an error.
 */
function luaSources(dir: string, into: Record<string, string | Uint8Array>, prefix = ''): void {
  for (const file of readdirSync(dir).sort()) {
    const path = join(dir, file);
    if (statSync(path).isDirectory()) { luaSources(path, into, `${prefix}${file}/`); continue; }
    if (!file.endsWith('.lua')) continue;
    const name = prefix + file.slice(0, -4);
    if (name in into) throw new Error(`Lua module "${name}" exists twice (src/lua/kernel and src/lua/lib): ${path}`);
    into[name] = readFileSync(path, 'utf8');
  }
}

/** The sources init.lua loads (read once per process: every worker boots from the same files). */
let moduleSources: Record<string, string | Uint8Array> | undefined;
function allSources(): Record<string, string | Uint8Array> {
  if (!moduleSources) {
    const mods: Record<string, string | Uint8Array> = {};
    luaSources(KERNEL_DIR, mods);
    luaSources(LIB_DIR, mods);
    delete mods.init; // the boot chunk itself (runChunk below)
    moduleSources = mods;
  }
  return moduleSources;
}

/** First size of the input area; it doubles as a step needs. */
const INPUT_START_BYTES = 64 * 1024;

/** The engine a kernel's Lua state is created with. */
const KERNEL_ENGINE = { openStandardLibs: true, injectObjects: false, enableProxy: false };

export class LuaKernel {
  private readonly m: Module;
  private readonly L: number;
  private readonly lenPtr: number;
  private readonly stepName: number;
  private readonly countName: number;
  private readonly memName: number;
  /** Keeps the host function pointers reachable for the life of the state. */
  private readonly fnPtrs: number[] = [];
  /** The input area (see the top): its address in the wasm heap and its capacity. */
  private inPtr = 0;
  private inCap = 0;
  /** The area's current view (inputArea.view), made again when the memory has grown. */
  private inView: Uint8Array | null = null;
  /** The kernel decodes the input area where it lies (its __INPUT_AT; see the top). */
  private inputAt = false;
  /**
   * The step block of our module (native/lua/lstep.c), as an index of HEAPF64 (its address / 8);
   * 0: none (wasmoon's module, or WIPPY_CSTEP=0), the step's arguments and results go on the Lua stack.
   */
  private block = 0;
  /** The host's post (KernelHost.post, or postRange): where step() hands the frames __step returns. */
  private postOut: (tid: number, heap: Uint8Array, start: number, end: number, frames?: number) => void = () => {};

  private constructor(m: Module, L: number) {
    this.m = m;
    this.L = L;
    this.lenPtr = m._malloc(8);
    this.stepName = m.stringToNewUTF8('__step');
    this.countName = m.stringToNewUTF8('__count');
    this.memName = m.stringToNewUTF8('__mem');
  }

  /**
   * Create a Lua state with the kernel booted. `cfg` and `entries` are codec-encoded blobs the
   * kernel decodes itself (see kernel/init.lua).
   */
  static async create(host: KernelHost, cfg: Uint8Array, entries: Uint8Array): Promise<LuaKernel> {
    const factory = luaFactory(); // our module, or wasmoon's with WIPPY_LUA=wasmoon (module.ts)
    // the module's exports without the glue's asserting wrappers (rawexports.ts; WIPPY_RAW_EXPORTS=0: with them, A/B)
    const { engine, module } = process.env.WIPPY_RAW_EXPORTS === '0'
      ? { engine: await factory.createEngine(KERNEL_ENGINE), module: undefined }
      : await createEngineRaw(factory, KERNEL_ENGINE);
    const m: Module = module ?? (engine.global as any).lua.module;
    const k = new LuaKernel(m, engine.global.address);
    k.installHost(host);
    const mods: Record<string, string | Uint8Array> = { ...allSources(), __cfg: cfg, __entries: entries };
    // WIPPY_CSCHED=0: the kernel's run loop in Lua on our module too (an A/B switch; kernel/init.lua)
    if (process.env.WIPPY_CSCHED === '0') mods.__csched = '0';
    // WIPPY_CSTEP=0: the step's arguments and results on the Lua stack on our module too (A/B)
    if (process.env.WIPPY_CSTEP === '0') mods.__cstep = '0';
    // WIPPY_GC=inc[:pause:stepmul:stepsize]|gen[:minor:major]: the collector's mode and parameters
    // (kernel/init.lua; default inc:400)
    const gc = process.env.WIPPY_GC;
    if (gc) {
      if (!/^(inc(:\d*){0,3}|gen(:\d*){0,2})$/.test(gc)) {
        throw new Error(`WIPPY_GC=${gc}: expected inc[:pause:stepmul:stepsize] or gen[:minor:major] (numbers)`);
      }
      mods.__gc = gc;
    }
    k.setGlobalTable('__MODS', mods);
    k.runChunk(kernelSource('init'), '@kernel/init.lua');
    k.inputAt = k.globalIsTrue('__INPUT_AT');
    const block = k.globalNumber('__STEP_BLOCK'); // an address of doubles: a multiple of 8
    k.block = block > 0 && block % 8 === 0 ? block / 8 : 0;
    return k;
  }

  // ---- raw stack helpers ------------------------------------------------------------------

  private bytesAt(L: number, idx: number): Uint8Array {
    const m = this.m;
    const p = m._lua_tolstring(L, idx, this.lenPtr);
    const len = m.HEAPU32[this.lenPtr >> 2];
    return m.HEAPU8.subarray(p, p + len);
  }

  /** A global number (0 if it is not one). */
  private globalNumber(name: string): number {
    const m = this.m;
    const cname = m.stringToNewUTF8(name);
    m._lua_getglobal(this.L, cname);
    m._free(cname);
    const r = m._lua_tonumberx(this.L, -1, 0);
    m._lua_settop(this.L, 0);
    return r;
  }

  private globalIsTrue(name: string): boolean {
    const m = this.m;
    const cname = m.stringToNewUTF8(name);
    m._lua_getglobal(this.L, cname);
    m._free(cname);
    const r = m._lua_toboolean(this.L, -1) !== 0;
    m._lua_settop(this.L, 0);
    return r;
  }

  private stringAt(L: number, idx: number): string {
    return Buffer.from(this.bytesAt(L, idx)).toString('utf8');
  }

  /**
   * The step's input area (see the top), an InputArea of src/transport/endpoint.ts, which drains
   * into it. A view is valid until the Lua state allocates (the wasm memory may grow and move).
   */
  readonly inputArea: { view(): Uint8Array; grow(need: number, keep: number): Uint8Array } = {
    view: () => {
      if (this.inCap === 0) return this.inputArea.grow(INPUT_START_BYTES, 0);
      // The same view until the memory grows (a new buffer): no view per drain.
      const heap: Uint8Array = this.m.HEAPU8;
      if (this.inView === null || this.inView.buffer !== heap.buffer) this.inView = heap.subarray(this.inPtr, this.inPtr + this.inCap);
      return this.inView;
    },
    grow: (need, keep) => {
      const m = this.m;
      const cap = Math.max(need, 2 * this.inCap, INPUT_START_BYTES);
      // realloc keeps the first inCap bytes, `keep` of which are wanted.
      const p = this.inCap === 0 || keep === 0 ? m._malloc(cap) : m._realloc(this.inPtr, cap);
      if (p === 0) throw new RangeError(`input area: cannot allocate ${cap} bytes`);
      if ((this.inCap === 0 || keep === 0) && this.inCap > 0) m._free(this.inPtr);
      this.inPtr = p;
      this.inCap = cap;
      return this.inView = m.HEAPU8.subarray(p, p + cap);
    },
  };

  private pushBytes(L: number, bytes: Uint8Array): void {
    const m = this.m;
    const p = m._malloc(bytes.length || 1);
    m.HEAPU8.set(bytes, p);
    m._lua_pushlstring(L, p, bytes.length);
    m._free(p);
  }

  /** An integer argument of a host call (hostfns.ts hostInt says how it is read). */
  private int(L: number, idx: number): number {
    return hostInt(this.m, L, idx);
  }

  private num(L: number, idx: number): number {
    return this.m._lua_tonumberx(L, idx, 0);
  }

  private def(name: string, fn: (L: number) => number): [string, number] {
    return [name, this.direct(fn, 'ii')];
  }

  private installHost(host: KernelHost): void {
    const m = this.m;
    const postRange = host.postRange;
    this.postOut = postRange !== undefined ? postRange : (to, heap, start, end) => host.post(to, heap.subarray(start, end));
    const L0 = this.L;
    const origin = performance.timeOrigin;
    // the hot ones in two forms: Lua-facing and direct (hostfns.ts)
    const hot = hotHostCalls(m, (u) => host.route(u), host.now === undefined ? () => perf.now() : () => host.now!(),
      (fn, sig) => this.direct(fn, sig));
    const life = lifeHostCalls(m, (owner) => host.pidAlloc(owner), (u) => host.pidDead(u), (d, tid) => host.loadAdd(d, tid),
      (fn, sig) => this.direct(fn, sig));
    const fns: Array<[string, number]> = [
      ['now', hot.nowCf],
      this.def('wall', (L) => {
        m._lua_pushinteger(L, BigInt(Math.round((origin + perf.now()) * 1e6)));
        return 1;
      }),
      // 256 bits for a process's math.random generator (kernel/random.lua), as four integers.
      this.def('entropy', (L) => {
        const w = getRandomValues(new BigInt64Array(4));
        for (let i = 0; i < 4; i++) m._lua_pushinteger(L, w[i]);
        return 4;
      }),
      this.def('newud', (L) => {
        m._lua_newuserdatauv(L, 0, 0);
        m._lua_pushvalue(L, 1);
        m._lua_setmetatable(L, -2);
        return 1;
      }),
      ['pid_alloc', life.pidAllocCf],
      this.def('place', (L) => { m._lua_pushinteger(L, BigInt(host.place())); return 1; }),
      ['load_add', life.loadAddCf],
      this.def('task_push', (L) => {
        const tag = m._lua_type(L, 3) === LUA_TNUMBER ? this.int(L, 3) : -1;
        m._lua_pushboolean(L, host.taskPush(this.bytesAt(L, 1), this.int(L, 2), tag) ? 1 : 0);
        return 1;
      }),
      this.def('task_listed', (L) => {
        m._lua_pushboolean(L, host.taskListed(this.int(L, 1)) ? 1 : 0);
        return 1;
      }),
      this.def('task_take', (L) => {
        const d = host.taskTake(m._lua_toboolean(L, 1) !== 0, m._lua_toboolean(L, 2) !== 0);
        if (d === undefined) m._lua_pushnil(L);
        else if (typeof d === 'number') m._lua_pushinteger(L, BigInt(d)); // a tag (taskq.lua's)
        else this.pushBytes(L, d);
        return 1;
      }),
      ['dead', life.deadCf],
      ['route', hot.routeCf],
      this.def('set_runner', (L) => { host.setRunner(this.int(L, 1)); return 0; }),
      this.def('dies_with', (L) => {
        m._lua_pushboolean(L, host.diesWith(this.int(L, 1), this.int(L, 2)) ? 1 : 0);
        return 1;
      }),
      this.def('kill_requested', (L) => {
        m._lua_pushboolean(L, host.killRequested(this.int(L, 1)) ? 1 : 0);
        return 1;
      }),
      // (by address and length, as step() hands its frames over: no view of the heap per frame —
      // a job's EXIT to the main thread is one post per job; session 10)
      this.def('post', (L) => {
        const p = m._lua_tolstring(L, 2, this.lenPtr);
        this.postOut(this.int(L, 1), m.HEAPU8, p, p + m.HEAPU32[this.lenPtr >> 2]!);
        return 0;
      }),
      // post_many(tid, frame, ...): the frames a step held for one destination (kernel/pids.lua)
      this.def('post_many', (L) => {
        const to = this.int(L, 1);
        const top = m._lua_gettop(L);
        for (let i = 2; i <= top; i++) host.post(to, this.bytesAt(L, i));
        return 0;
      }),
      this.def('write', (L) => { host.write(this.int(L, 1), this.bytesAt(L, 2)); return 0; }),
      this.def('stdin_read', (L) => {
        host.stdinRead(this.int(L, 1), this.stringAt(L, 2), this.int(L, 3), this.int(L, 4));
        return 0;
      }),
      this.def('read_file', (L) => {
        const bytes = host.readFile(this.stringAt(L, 1));
        if (bytes === undefined) m._lua_pushnil(L); else this.pushBytes(L, bytes);
        return 1;
      }),
      this.def('tz_offset', (L) => {
        const off = host.tzOffset(this.stringAt(L, 1), this.num(L, 2));
        if (off === undefined) { m._lua_pushnil(L); return 1; }
        m._lua_pushinteger(L, BigInt(off[0]));
        if (off[1] === undefined) return 1;
        this.pushBytes(L, Buffer.from(off[1]));
        return 2;
      }),
      this.def('local_offset', (L) => {
        const secs = this.num(L, 1);
        const off = host.tzOffset(Intl.DateTimeFormat().resolvedOptions().timeZone, secs);
        m._lua_pushinteger(L, BigInt(-new Date(secs * 1000).getTimezoneOffset() * 60));
        if (off?.[1] === undefined) return 1;
        this.pushBytes(L, Buffer.from(off[1]));
        return 2;
      }),
      // json, yaml, base64, uuid, hash (src/lua/host-stdlib.ts)
      ...stdlibHost(m).map(([name, fn]) => this.def(name, fn)),
    ];
    setGlobalTable(m, L0, '__H', fns, (ptr) => m._lua_pushcclosure(L0, ptr, 0));
    // The hot ones again for our C (lsend.c's remote send, lsched.c's clock after every resume,
    // lspawn.c's and lqspawn.c's PID, lexit.c's death, their count_load), as plain wasm
    // functions: one crossing each (native/lua/lhostfn.c has the protocol). Our module only:
    // wasmoon's has no setter, and without raw exports (WIPPY_RAW_EXPORTS=0) the glue does not
    // show it; the C then calls them through the Lua API as before.
    if (typeof m._luaW_set_hostfns === 'function') {
      m._luaW_set_hostfns(L0, hot.routeCf, hot.route, hot.nowCf, hot.now, life.pidAllocCf, life.pidAlloc, life.deadCf, life.dead,
        life.loadAddCf, life.loadAdd);
    }
  }

  /** A host function in the wasm table, kept for the state's life (sig: addFunction's letters). */
  private direct(fn: (...args: number[]) => number | void, sig: string): number {
    const ptr = this.m.addFunction(fn, sig);
    this.fnPtrs.push(ptr);
    return ptr;
  }

  private setGlobalTable(name: string, fields: Record<string, string | Uint8Array>): void {
    setGlobalTable(this.m, this.L, name, Object.entries(fields),
      (v) => this.pushBytes(this.L, typeof v === 'string' ? Buffer.from(v, 'utf8') : v));
  }

  private runChunk(src: string, name: string): void {
    const m = this.m;
    const L = this.L;
    const st = loadChunk(m, L, src, name);
    if (st !== 0) {
      const msg = this.stringAt(L, -1);
      m._lua_settop(L, 0);
      throw new Error(`kernel failed to load: ${msg}`);
    }
    this.pcall(0, 0, name);
  }

  private pcall(nargs: number, nres: number, what: string): void {
    const m = this.m;
    const L = this.L;
    const st = m._lua_pcallk(L, nargs, nres, 0, 0, 0);
    if (st !== 0) {
      const msg = m._lua_type(L, -1) === LUA_TNIL ? '(no message)' : this.stringAt(L, -1);
      m._lua_settop(L, 0);
      throw new Error(`kernel error in ${what}: ${msg}`);
    }
  }

  /**
   * The next timer deadline in ms of `performance.now()` (-1 if none), as of the last step(): a
   * field rather than part of step()'s result, so a step allocates no result object.
   */
  nextDeadline = -1;

  /**
   * One scheduling step with the given batch of incoming frames (concatenated codec values).
   * Returns whether runnable threads remain; the next timer deadline is `nextDeadline`.
   */
  step(batch: Uint8Array | null): boolean {
    // Read before anything allocates in the Lua state: a grown wasm memory detaches the view.
    const len = batch ? batch.length : 0;
    return this.stepWith(len, len > 0 && batch!.buffer === this.m.HEAPU8.buffer && batch!.byteOffset === this.inPtr, batch);
  }

  /** step() of the `len` bytes at the start of the input area (the endpoint drained them there). */
  stepInArea(len: number): boolean {
    return this.stepWith(len, len > 0, null);
  }

  private stepWith(len: number, inArea: boolean, batch: Uint8Array | null): boolean {
    const m = this.m;
    const L = this.L;
    const b = this.block;
    if (b !== 0) {
      // Through the step block (native/lua/lstep.c): the arguments written into it, two calls into
      // the module, the results and the frames' addresses read from it. (A batch outside the
      // input area, which the worker's endpoint never drains to, is passed as a string.)
      let f64: Float64Array = m.HEAPF64;
      m._lua_getglobal(L, this.stepName);
      if (len === 0 || (inArea && this.inputAt)) {
        f64[b] = len === 0 ? 0 : 1;
        f64[b + 1] = this.inPtr;
        f64[b + 2] = len;
        f64[b + 3] = perf.now();
        this.pcall(0, 0, 'step');
      } else {
        if (inArea) m._lua_pushlstring(L, this.inPtr, len); else this.pushBytes(L, batch!);
        m._lua_pushnil(L);
        m._lua_pushnumber(L, perf.now());
        this.pcall(3, 0, 'step');
      }
      f64 = m.HEAPF64; // the step may have grown the memory (a new buffer, new views)
      this.nextDeadline = f64[b + 4]!;
      // each range: thread id, address, length, frames in it (the step's outbox holds one range
      // per destination, its frames concatenated: native/lua/lstep.c)
      const n = f64[b + 6]!;
      for (let i = 0, at = b + 7; i < n; i++, at += 4) {
        const p = f64[at + 1]!;
        this.postOut(f64[at]!, m.HEAPU8, p, p + f64[at + 2]!, f64[at + 3]!);
      }
      return f64[b + 5] !== 0;
    }
    m._lua_getglobal(L, this.stepName);
    // __step(batch, len, now) (kernel/init.lua). Drained into the input area: decoded where it
    // lies (no copy), passed as its address and length — two numbers, where one integer
    // address << 32 | length cost three BigInts per step — or pushed from there (one copy, into
    // the Lua string). `now`: the step's clock, read here rather than by a host call (sched.lua).
    if (len === 0) { m._lua_pushnil(L); m._lua_pushnil(L); }
    else if (inArea && this.inputAt) { m._lua_pushnumber(L, this.inPtr); m._lua_pushnumber(L, len); }
    else { if (inArea) m._lua_pushlstring(L, this.inPtr, len); else this.pushBytes(L, batch!); m._lua_pushnil(L); }
    m._lua_pushnumber(L, perf.now());
    this.pcall(3, LUA_MULTRET, 'step');
    // __step returns nxt, more, then the step's frames for other workers (kernel/pids.lua
    // take_out): groups of tid, n, frame × n. Posted here, where a host call per destination
    // (H.post / H.post_many from inside the step) posted them before: one call into the VM per
    // step and none out for its frames.
    this.nextDeadline = this.num(L, 1);
    const more = m._lua_toboolean(L, 2) !== 0;
    const top = m._lua_gettop(L);
    for (let i = 3; i < top; ) {
      const to = this.int(L, i);
      const end = i + 2 + this.int(L, i + 1);
      for (i += 2; i < end; i++) {
        const p = m._lua_tolstring(L, i, this.lenPtr);
        this.postOut(to, m.HEAPU8, p, p + m.HEAPU32[this.lenPtr >> 2]);
      }
    }
    m._lua_settop(L, 0);
    return more;
  }

  /**
   * Test-only (Runtime.testFault 'abort'): raise a Lua error outside any protected call, which
   * aborts the wasm module the way a VM fault would. Throws; the state is unusable afterwards.
   */
  abortForTest(): void {
    const m = this.m;
    const msg = m.stringToNewUTF8('test fault: Lua error outside a protected call');
    m._lua_pushstring(this.L, msg);
    m._lua_error(this.L);
  }

  /** Number of live processes on this state. */
  count(): number {
    const m = this.m;
    const L = this.L;
    m._lua_getglobal(L, this.countName);
    this.pcall(0, 1, 'count');
    const n = this.int(L, -1);
    m._lua_settop(L, 0);
    return n;
  }

  /** Live processes here: how many, and up to `limit` of them as [pid, entry id], sorted by PID. */
  live(limit: number): { count: number; procs: Array<[string, string]> } {
    const m = this.m;
    const L = this.L;
    this.getGlobal('__live');
    m._lua_pushinteger(L, BigInt(limit));
    this.pcall(1, 2, 'live');
    const count = this.int(L, -2);
    const text = this.stringAt(L, -1);
    m._lua_settop(L, 0);
    const procs = text === '' ? [] : text.split('\n').map((l) => l.split('\t') as [string, string]);
    return { count, procs };
  }

  /** Push the kernel's global `name` (the cold report functions; the hot ones keep their name pointer). */
  private getGlobal(name: string): void {
    const p = this.m.stringToNewUTF8(name);
    this.m._lua_getglobal(this.L, p);
    this.m._free(p);
  }

  /** Unread mailbox messages of all processes here, and the largest mailbox with its PID. */
  mailboxes(): { unread: number; largest: number; largestPid?: string } {
    const m = this.m;
    const L = this.L;
    this.getGlobal('__mbox');
    this.pcall(0, 3, 'mbox');
    const out: { unread: number; largest: number; largestPid?: string } = { unread: this.int(L, -3), largest: this.int(L, -2) };
    if (m._lua_type(L, -1) !== LUA_TNIL) out.largestPid = this.stringAt(L, -1);
    m._lua_settop(L, 0);
    return out;
  }

  /**
   * The process table report (src/lua/kernel/ptable.lua): processes started here since boot,
   * messages delivered, live processes, and with `limit` >= 0 the codec-encoded list of "prow"
   * records of the `limit` first processes by `key` (0: all).
   */
  report(limit: number, key: string): { started: number; delivered: number; live: number; rows?: Uint8Array } {
    const m = this.m;
    const L = this.L;
    this.getGlobal('__ps');
    m._lua_pushinteger(L, BigInt(limit));
    this.pushBytes(L, Buffer.from(key, 'utf8'));
    this.pcall(2, 4, 'ps');
    const out: { started: number; delivered: number; live: number; rows?: Uint8Array } =
      { started: this.int(L, -4), delivered: this.int(L, -3), live: this.int(L, -2) };
    if (m._lua_type(L, -1) !== LUA_TNIL) out.rows = this.bytesAt(L, -1).slice();
    m._lua_settop(L, 0);
    return out;
  }

  /**
   * Queued spawns of this worker's Lua-side list (src/lua/kernel/taskq.lua): how many entered it,
   * left it for the shared run queues, were started from it, and wait in it now.
   */
  localQueue(): { queued: number; published: number; started: number; waiting: number } {
    const m = this.m;
    const L = this.L;
    this.getGlobal('__tq');
    this.pcall(0, 4, 'tq');
    const out = { queued: this.int(L, -4), published: this.int(L, -3), started: this.int(L, -2), waiting: this.int(L, -1) };
    m._lua_settop(L, 0);
    return out;
  }

  /** Size of the wasm linear memory holding this Lua state (it grows and never shrinks). */
  wasmBytes(): number {
    return this.m.HEAPU8.length;
  }

  /**
   * Bytes of Lua heap in use (collectgarbage("count")), after two full collections unless
   * `quick` (a live view polled every second must not stop the worker for a full collection).
   */
  heapBytes(quick = false): number {
    const m = this.m;
    const L = this.L;
    m._lua_getglobal(L, this.memName);
    m._lua_pushboolean(L, quick ? 1 : 0);
    this.pcall(1, 1, 'mem');
    const kb = this.num(L, -1);
    m._lua_settop(L, 0);
    return Math.round(kb * 1024);
  }
}

