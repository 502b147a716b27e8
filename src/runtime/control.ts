// The `node:control` endpoint: how JS outside the processes (the embedding API, the CLI, the
// service supervisor) spawns processes, runs jobs to completion, sends, terminates and cancels,
// and hears EXITs — on the main thread. (Over 500 lines: a hundred of them this header's measured
// notes; the two spawn paths share the watchers, the placement state and the keep-alive.)
//
// Owns: the pending rpc replies, the JS exit watchers (a spawn by rpc: behind a control PID of
// host `node:control`, minted on the main thread, the EXIT of the watched process coming back as
// an "e" frame addressed to it; a spawn whose PID is minted here (spawnLua: the jobs, a Lua spawn
// with an EXIT callback): a watch number, see below), the round-robin cursor per host, and the keep-alive that holds
// Node's event loop open while JS awaits the runtime. May call: its ControlHost (post a frame,
// ring a parked worker, the registry, the shared process directory, the hosts' run queues, the
// name server's lookup). The runtime hands it the "rep" and "e" frames and tells it of a dead
// worker and of the stop.
//
// Spawns from JS (spawn()):
//   - with an EXIT callback (exec, run, the supervisor): the PID is minted here for the chosen
//     worker. A job (exec, run) on a multi-worker host goes to one worker of the host, which is
//     also its home (owner of the PID): the lightest worker, an awake one among equals (the rule
//     and its measurements: src/runtime/job-place.ts). So it runs at home: no "bound" / "unfwd"
//     frames between the workers. How it gets there is the admission below. No reply frame
//     either way: only the EXIT comes back, and a failure to start arrives as that EXIT's error.
//   - without (rt.spawn with no callback), and for entries that are not Lua (process.wasm; a
//     function.wasm / function.wat run as a job): an rpc ("s" -> "rep") to a round-robin worker,
//     which mints the PID and answers with it.
// Admission of a job on a multi-worker host. While its worker has fewer jobs sent by frame and
// not yet exited than its inject queue holds (`local_queue_size`: the bound, counted here per
// worker and released by the EXIT, whatever ended the job) and the host runs the budget hook
// (max_reductions or max_memory_mb), the job is an "spj" frame to it: the
// frames of one turn reach each worker as one ring frame and one wake-up (MainLoop post/flush) and
// are decoded there in one pass with the rest of the step's input. The worker queues each as it
// queues a spawn of its own (spawn.lua frame_spj) in its Lua-side list (taskq.lua; no encode, no
// copy), where it starts at its turn in the run queue and the sharing rule can still hand it to a
// sibling while a process before it computes. So a job behind a long one is not held there, as
// through the inject queue. (What the ring holds while its worker computes is not read until the
// resume ends: a job sent then waits, bounded by the budget, where through the inject queue the
// sharing rule could have handed it over; the weight rule of job-place.ts mostly sends it to the
// sibling, whose jobs end meanwhile.) Without the hook a sibling takes work from a computing
// worker only from its shared queues (the stuck rule, src/host/placement.ts), which a framed job
// never reaches, so there every job goes through the inject queue. The main thread counts it in
// the worker's load when it sends it (the weight job-place.ts reads, so a burst spreads), and the
// worker does not count it again when it starts it (uncounted if it leaves for the shared queues).
// Past the bound, the run queues as before: its inject queue (TaskQueues.push: record "task",
// src/wire/spec.ts; rung only if parked), else the host's global queue (any worker takes it; the
// first parked one is rung; a worker that takes it away from its home forwards as for any queued
// spawn), and when both are full spawnLua answers HOST_FULL and the job runner (jobs.ts) holds the
// job until there is room (the supervisor's and rt.spawn's spawns are placed). So the memory a
// burst of jobs takes on the workers stays bounded as before (bound + queues).
// Why frames first. Through the inject queue a job cost, per job, a descriptor encoded on its own
// (msgpackr) and copied into a task slot on the main thread, and on the worker a take (a host call
// that copies the descriptor out and into the Lua state), a decode of its own, the home's alive
// check (H.route) and the load count (H.load_add): 8 host calls per job, against 5 for a
// one-worker host's "sp" and 5.1 for "spj" (counted, Node 24, 2 workers, 64 in flight, 20k jobs:
// now 1, wall 1, load_add 2, task_take 1, dead 1, route 1, post 1 -> now 1, wall 1, load_add 1,
// dead 1, post 1, and for "spj" the list's own task_take and task_listed, 0.05). CPU per job,
// every thread of the process (/proc per-thread times around 40k jobs, 64 in flight, Node 24, 2
// workers, 4 interleaved rounds against the inject-queue path, load average 17-20), with the job
// started at once on its frame ("sp"): 34.3-42.5 -> 26.5-30.8 µs (medians 36.5 -> 27.8), of
// which the two workers 21.0-27.5 -> 16.3-18.8 and the main thread 6.5-8.3 -> 5.5-6.5 (the
// descriptor's encode and slot copy); with "spj" (the list's record, START slot and take: the
// price of keeping the sharing rule), 4 rounds at load average 19-23: 31.8-43.5 -> 28.5-46.3 µs,
// per-round ratios 0.90-1.18, median 1.10 (bench/results/ab-job2w-node24.md).
// The watch number. A spawnLua's watcher, in the "sp" frame or task record, is an integer (one
// counter on this thread), not a control PID: the process's worker sends its EXIT to the main
// thread as one "jx" frame {watch, error, stack, value} (lifecycle.lua post_jx), which onJobExit
// settles. Per job that is no directory slot to allocate and free, no PID string to format,
// encode and decode, and on the worker no event record and no route lookup (a host call). The
// watch knows the PID it watches, so the frame does not carry it. Measured (Node 24, 2 workers,
// 64 in flight, 100k jobs, load-independent counts): host calls per job on the worker 10 -> 8
// (1 worker: 7 -> 5); with the allocation cuts of the same change (crossing.ts, the codec's
// frame scan), the main thread's minor GCs per 100k jobs with a 1 MB semi-space 498 -> 258.
// The watches are kept in a WatchTable (src/runtime/watch-table.ts: a numbered watch in a slot of
// a fixed array, so no Map insert/delete and no rehash per job), and placeJob reads the workers'
// weights once per turn (TurnView, src/runtime/job-place.ts), not 2 x 7 Atomics.loads per job.
// rt.spawn keeps the round-robin placement even with a callback: long-lived processes spawned in
// turn land one per worker (what long-lived drivers want; from the queue the first free worker
// took them all) — except a spawn whose arguments name a live process of the host: it goes next
// to that process (the peer rule, src/runtime/spawn-place.ts), unless it is one of a large group
// of such spawns (peer-groups.ts counts them), which spreads over the host's workers.
import { WippyError } from '../codec/msgpack.js';
import { frame, record, I, type AnyFrame, type Frame } from '../wire/frames.js';
import { CONTROL_HOST, EV_EXIT, ZERO_PID, fnHost, type CtxRecord, type EventRecord } from '../wire/spec.js';
import { encodeValue } from '../codec/msgpack.js';
import type { Directory } from '../shm/directory.js';
import type { TaskQueues } from '../scheduler/tasks.js';
import type { Registry } from '../registry/registry.js';
import type { HostEntry } from '../registry/types.js';
import { WASM_KINDS } from '../registry/schema.js';
import { formatPid, parsePid, pidHead, pidOf } from './pid.js';
import { factoryNotFound, hostNotFound } from './not-found.js';
import { placeJob, TurnView } from './job-place.js';
import { WatchTable } from './watch-table.js';
import { groupBeside, namedPeer, placeNear, type SpawnPlaceView } from './spawn-place.js';
import { PeerGroups } from './peer-groups.js';
import { STEAL_BACKLOG } from '../host/placement.js';

/** What a process exit looks like from JS: the EXIT event's result. */
export interface ExitInfo {
  pid: string;
  value?: unknown;
  error?: WippyError;
}

/**
 * What a process started from JS runs under: context values (`ctx.get`) and a security block in
 * the shape of a service's `lifecycle.security` (actor, groups, policies; ids fully qualified).
 */
export interface SpawnContext {
  values?: Record<string, unknown>;
  security?: { actor?: { id: string; meta?: Record<string, unknown> }; groups?: string[]; policies?: string[] };
}

/**
 * Who hears a watched process's EXIT: a callback, or an object whose exited(e) is called (a job's
 * record, src/runtime/jobs.ts: no closure per job).
 */
export type ExitReceiver = ((e: ExitInfo) => void) | { exited(e: ExitInfo): void };

/** What the control endpoint needs from the runtime. */
export interface ControlHost {
  readonly registry: Registry;
  readonly dir: Directory;
  /** Per host: its workers' thread ids, index-aligned with its run queues. */
  readonly hostTids: Map<string, number[]>;
  /** The main thread's view of each multi-worker host's run queues. */
  readonly taskQueues: Map<string, TaskQueues>;
  /** Queue a frame for thread `tid`. */
  post(tid: number, f: AnyFrame): void;
  /** Ring the first parked worker among `tids` (a job waits on their global queue). */
  wakeOne(tids: number[]): void;
  /** Ring worker `tid` if it is parked (a job waits in its inject queue). */
  ring(tid: number): void;
  /** Is worker `tid` parked (a snapshot of its doorbell state)? */
  isParked(tid: number): boolean;
  /** The cores other processes leave us (src/transport/freecores.ts), -1 when not measured. */
  freeCores(): number;
  /** The holder of a registered name. */
  lookup(name: string): string | undefined;
  /** Throws when the runtime is not started, or stopping. */
  assertRunning(): void;
}

/** spawnLua's answer when the host's global run queue is full (the caller pushes back). */
export const HOST_FULL = Symbol('host queue full');

interface PendingReply { resolve: (v: [unknown, unknown]) => void; tid: number }

/**
 * A JS exit watcher, keyed by its control PID or its watch number (the header): the directory
 * slot of that PID (freed with it; NO_SLOT for a watch number), the PID it watches (undefined
 * while a spawn rpc's answer is on its way) and the callback. One plain record per watch, no
 * closure: a job's watch is on the hot path.
 */
/** `peer`, `peerTid`: a member of that peer's group on that worker (peer-groups.ts), counted until its EXIT; -1 none. */
interface Watch { ctlUniq: number; target: string | undefined; onExit: ExitReceiver; framed: number; peer: number; peerTid: number }

/** A Watch's ctlUniq when it has no control PID (a numbered watch: its EXIT is a "jx" frame). */
const NO_SLOT = -1;

export class ControlEndpoint {
  private readonly replies = new Map<number, PendingReply>();
  private reqSeq = 0;
  /**
   * Control PID, or watch number (spawnLua) -> its watch (a dead worker's watchers are failed
   * through `target`).
   */
  private readonly watchers = new WatchTable<Watch>();
  /** The last watch number spawnLua handed out (numbers and control PIDs never collide: types). */
  private watchSeq = 0;
  private readonly rr = new Map<string, number>();
  /** Per host: what a job's admission reads of it, looked up once per job (JobPlan). */
  private readonly jobPlans = new Map<string, JobPlan>();
  private readonly peerViews = new Map<string, SpawnPlaceView>();
  /** The peer rule's groups (peer-groups.ts), and the peer the last pickTid placed beside (-1: none). */
  private readonly groups = new PeerGroups((u) => this.rt.dir.isAlive(u));
  /** The peer rule's group size on this Node, read when the runtime is made (spawn-place.ts groupBeside). */
  private readonly groupSize = groupBeside();
  private peer = -1;
  /** Per worker thread id: jobs sent to it by "spj" frame whose EXIT has not come (their bound). */
  private readonly framed: number[] = [];

  constructor(private readonly rt: ControlHost) {}

  /** Host to run `entryId` on when none is given: meta.default_host, else the first process.host. */
  defaultHost(entryId: string): string {
    const e = this.rt.registry.get(entryId);
    const dh = e?.meta?.['default_host'];
    if (typeof dh === 'string') return dh;
    const h = this.rt.registry.hosts().find((x) => x.kind === 'process.host');
    if (!h) throw new WippyError('no process.host in the registry', 'NotFound', false);
    return h.id;
  }

  /** The worker a spawn on `host` goes to: next to a peer named in `args` (spawn-place.ts), else round-robin. */
  private pickTid(host: string, args?: readonly unknown[]): number {
    const tids = this.rt.hostTids.get(host);
    if (!tids || tids.length === 0) throw new WippyError(hostNotFound(this.rt.registry, host), 'NotFound', false);
    this.peer = -1;
    if (args && args.length > 0 && tids.length > 1) {
      const v = this.peerView(host, tids);
      const peer = namedPeer(args, host, tids, v);
      const t = peer < 0 ? -1 : placeNear(peer, tids, v);
      if (t >= 0) { this.peer = peer; return t; }
    }
    for (let k = 1; k <= tids.length; k++) {
      const i = ((this.rr.get(host) ?? -1) + k) % tids.length;
      if (this.rt.dir.isDown(tids[i]!)) continue; // dead, not replaced (yet)
      this.rr.set(host, i);
      return tids[i]!;
    }
    throw new WippyError('host has no running worker', 'Unavailable', false);
  }

  /**
   * What a job's admission on `host` reads (JobPlan), made at its first job: the host's run
   * queues and workers (undefined on a one-worker host), the placement view, the worker of the
   * previous job, whether it runs the budget hook. One Map lookup per job where there were six
   * (the queues, the workers, the view twice, the last worker, the hook).
   */
  private jobPlan(host: string): JobPlan {
    let p = this.jobPlans.get(host);
    if (!p) {
      const rt = this.rt;
      const q = rt.taskQueues.get(host);
      const tids = q ? rt.hostTids.get(host) : undefined;
      // Does the host run the budget hook (max_reductions or max_memory_mb set)? Only there is a
      // job framed ("Admission" above): without the hook, a sibling takes work from a computing
      // worker only from its shared queues (the stuck rule), which a framed job never reaches.
      const c = (rt.registry.get(host) as HostEntry | undefined)?.host;
      const hooked = c !== undefined && (c.maxReductions > 0 || c.maxMemoryMb > 0);
      // The worker (index in the host) a job goes to: its inject queue, and its home
      // (src/runtime/job-place.ts: the lightest, an awake one among equals). The weights are read
      // once per turn (TurnView); where each job went is reported to it (added).
      const view = q && tids ? new TurnView({
        n: tids.length,
        weight: (i) => rt.dir.load(tids[i]!) + q.queuedAt(i) + rt.dir.listed(tids[i]!),
        parked: (i) => rt.isParked(tids[i]!),
        down: (i) => rt.dir.isDown(tids[i]!),
      }) : undefined;
      p = { q: view ? q : undefined, tids: view ? tids : undefined, view, last: 0, hooked, hostHead: undefined, fnHeads: new Map() };
      // (kept only for a host of this runtime: a name that is none gets its not-found error from
      // pickTid, and a plan of its own each time rather than an entry here for ever)
      if (rt.hostTids.has(host)) this.jobPlans.set(host, p);
    }
    return p;
  }

  /**
   * The PID of `uniq` for `entryId` run by worker `tid` on the plan's host: formatPid's string,
   * its head ("{host|0x", pid.ts pidHead) kept in the plan — per (entry, worker) for a function,
   * whose PID's host part names both (src/wire/spec.ts fnHost), else the host's own.
   */
  private jobPid(plan: JobPlan, entryId: string, fn: boolean, host: string, tid: number, uniq: number): string {
    if (!fn) return pidOf(plan.hostHead ??= pidHead(host), uniq);
    let heads = plan.fnHeads.get(entryId);
    if (heads === undefined) {
      if (plan.fnHeads.size >= FN_HEADS_KEEP) plan.fnHeads.clear();
      plan.fnHeads.set(entryId, heads = []);
    }
    return pidOf(heads[tid] ??= pidHead(fnHost(entryId, tid)), uniq);
  }

  /** What the peer rule reads of `host`'s workers (spawn-place.ts). */
  private peerView(host: string, tids: number[]): SpawnPlaceView {
    let v = this.peerViews.get(host);
    if (!v) {
      const { dir } = this.rt;
      const q = this.rt.taskQueues.get(host);
      v = {
        owner: (u) => dir.owner(u),
        alive: (u) => dir.isAlive(u),
        down: (t) => dir.isDown(t),
        waiting: (t) => dir.listed(t) + (q ? q.queuedAt(tids.indexOf(t)) : 0),
        mark: Math.min(STEAL_BACKLOG, q ? q.localCapacity : STEAL_BACKLOG),
        members: (peer, t) => this.groups.members(peer, t),
        group: this.groupSize,
        free: () => this.rt.freeCores(),
      };
      this.peerViews.set(host, v);
    }
    return v;
  }

  /** A control PID on the main thread (host `node:control`). */
  private controlPid(): { pid: string; uniq: number } {
    const uniq = this.rt.dir.alloc();
    return { pid: formatPid(CONTROL_HOST, uniq), uniq };
  }

  /**
   * Spawn `entryId` on `host` with `args`; `onExit` (optional) gets its EXIT. Resolves to the PID.
   * `queued`: a job (exec, run), for the host's global run queue (see the header).
   */
  async spawn(entryId: string, host: string | undefined, args: unknown[], onExit: ExitReceiver | undefined,
    ctx: SpawnContext | undefined, queued: boolean): Promise<string> {
    if (onExit) {
      const pid = this.spawnLua(entryId, host, args, onExit, ctx, queued, false);
      if (typeof pid === 'string') return pid;
    }
    const rt = this.rt;
    rt.assertRunning();
    const h = host ?? this.defaultHost(entryId);
    const tid = this.pickTid(h, args);
    const peer = this.peer;
    const ctl = onExit ? this.controlPid() : undefined;
    if (ctl && onExit) {
      // WASM entries go by the rpc below, to the worker's WASM body (src/lua/kernel/wasm.lua)
      const entry = rt.registry.get(entryId);
      if (!entry || !(WASM_KINDS as readonly string[]).includes(entry.kind)) {
        rt.dir.dead(ctl.uniq);
        throw new WippyError(factoryNotFound(this.rt.registry, entryId), 'NotFound', false);
      }
      this.hold();
      this.watchers.set(ctl.pid, { ctlUniq: ctl.uniq, target: undefined, onExit, framed: -1, peer: -1, peerTid: -1 });
    }
    const replyPid = ctl?.pid ?? formatPid(CONTROL_HOST, 0);
    let reply: [unknown, unknown];
    try {
      reply = await this.rpc(tid, (req) =>
        frame.s(0, replyPid, req, entryId, h, ctl ? ctl.pid : false, false, ctx ? spawnCtx(ctx) : false, wireArgs(args)));
    } catch (e) {
      // args that cannot be encoded: nothing was sent
      if (ctl) { this.watchers.delete(ctl.pid); rt.dir.dead(ctl.uniq); this.release(); }
      throw e;
    }
    const [pid, err] = reply;
    if (typeof pid !== 'string') {
      if (ctl && this.watchers.delete(ctl.pid)) { rt.dir.dead(ctl.uniq); this.release(); }
      throw asError(err, `spawn of ${entryId} on ${h} failed`);
    }
    // (its EXIT may have come in the same batch as the reply: then the watcher is gone)
    const w = ctl && this.watchers.get(ctl.pid);
    if (w) w.target = pid;
    // A member of the peer's group from its reply on (spawns of the group in flight before it do
    // not count it: this path is rt.spawn without a callback and the WASM entries)
    if (peer >= 0) { const p = parsePid(pid); if (p) this.groups.add(peer, tid, p.uniq); }
    return pid;
  }

  /**
   * The synchronous spawn of a Lua entry with an EXIT callback (no reply frame: the PID is minted
   * here). Returns the PID; HOST_FULL when `pushBack` is set and the host's global run queue is
   * full (nothing was sent or held: the caller retries later instead of placing the spawn on a
   * worker past the queue's bound); undefined when the entry is not a Lua entry (use spawn()).
   * Throws, with nothing sent and nothing held, when the runtime is not running, the host is
   * unknown, or the arguments cannot be encoded.
   */
  spawnLua(entryId: string, host: string | undefined, args: unknown[], onExit: ExitReceiver,
    ctx: SpawnContext | undefined, queued: boolean, pushBack: boolean): string | typeof HOST_FULL | undefined {
    const rt = this.rt;
    const entry = rt.registry.get(entryId);
    if (!entry || (entry.kind !== 'process.lua' && entry.kind !== 'function.lua')) return undefined;
    rt.assertRunning();
    const h = host ?? this.defaultHost(entryId);
    const plan = this.jobPlan(h);
    const q = queued ? plan.q : undefined;
    const tids = plan.tids;
    let at = -1;
    if (q) {
      at = placeJob(plan.view!, plan.last);
      if (at >= 0) plan.last = at;
    }
    const tid = at >= 0 ? tids![at]! : this.pickTid(h, args);
    const peer = at >= 0 ? -1 : this.peer;
    // The watcher is a number, not a control PID (see the header): no directory slot, no PID
    // string to format and encode, and the EXIT comes back as a "jx" frame.
    const watch = ++this.watchSeq;
    const uniq = rt.dir.alloc(tid);
    const pid = this.jobPid(plan, entryId, entry.kind === 'function.lua', h, tid, uniq);
    // A job under its worker's bound goes by frame (the header's "Admission"); `counted`: the
    // worker whose bound it counts against, released at its EXIT.
    let counted = -1;
    try {
      const c = ctx ? spawnCtx(ctx) : false;
      args = wireArgs(args);
      let placed = true;
      if (q && at >= 0 && (this.framed[tid] ?? 0) < q.localCapacity && plan.hooked) counted = tid;
      else if (q) {
        const desc = encodeValue(record.task(pid, uniq, entryId, h, watch, false, c, args, tid));
        // Its home's inject queue (rung: a no-op unless parked), else the host's global queue
        // (any worker takes it; the first parked one is rung).
        if (at >= 0 && q.push(desc, at)) { rt.ring(tid); placed = false; plan.view!.added(at); }
        else if (q.pushGlobal(desc)) { rt.wakeOne(tids!); placed = false; }
        else if (pushBack && desc.length <= q.maxBytes) { rt.dir.dead(uniq); return HOST_FULL; }
        // else too large for a slot, or not a job: placed on the chosen worker
      }
      if (counted >= 0) rt.post(tid, frame.spj(pid, uniq, entryId, h, watch, false, c, args));
      else if (placed) rt.post(tid, frame.sp(pid, uniq, entryId, h, watch, false, c, args));
      if (placed) {
        rt.dir.addLoad(tid, 1);
        if (at >= 0) plan.view!.added(at);
      }
    } catch (e) {
      // args that cannot be encoded (too deep, too large): nothing was sent
      rt.dir.dead(uniq);
      throw e;
    }
    if (counted >= 0) this.framed[tid] = (this.framed[tid] ?? 0) + 1;
    if (peer >= 0) this.groups.join(peer, tid); // counted until its EXIT (unwatch)
    this.hold();
    this.watchers.set(watch, { ctlUniq: NO_SLOT, target: pid, onExit, framed: counted, peer, peerTid: tid });
    return pid;
  }

  /** Send a message from outside (the sender is the zero PID). */
  send(dest: string, topic: string, payloads: unknown[]): void {
    this.rt.assertRunning();
    if (topic.startsWith('@')) throw new WippyError('cannot send to @ topics', 'Invalid', false);
    const { pid, tid } = this.route(dest);
    this.rt.post(tid, frame.m(pid, ZERO_PID, topic, payloads.length, payloads));
  }

  /** Terminate a process (abnormal exit "process terminated"). */
  terminate(dest: string): void {
    this.rt.assertRunning();
    const { pid, tid } = this.route(dest);
    this.rt.post(tid, frame.t(pid, ZERO_PID));
  }

  /** Send CANCEL; terminated if it has not exited `deadlineMs` later. */
  cancel(dest: string, deadlineMs: number, reason: string | undefined): void {
    this.rt.assertRunning();
    const { pid, tid } = this.route(dest);
    this.rt.post(tid, frame.c(pid, ZERO_PID, Date.now() / 1000 + deadlineMs / 1000, reason));
  }

  /**
   * Ask the worker running `pid` to end it now, even inside a step (`on` false: withdraw, once its
   * EXIT is in). For a job past its cancel deadline that does not yield (Directory.requestKill).
   */
  kill(pid: string, on: boolean): void {
    const p = parsePid(pid);
    if (p) this.rt.dir.requestKill(p.uniq, on);
  }

  private route(dest: string): { pid: string; tid: number } {
    const pid = dest.startsWith('{') ? dest : this.rt.lookup(dest);
    if (!pid) throw new WippyError(`could not resolve '${dest}' as PID or registered name`, 'NotFound', false);
    const parsed = parsePid(pid);
    if (!parsed) throw new WippyError(`invalid pid format: ${pid}`, 'Invalid', false);
    const tid = this.rt.dir.owner(parsed.uniq);
    if (tid <= 0 || !this.rt.dir.isAlive(parsed.uniq)) throw new WippyError(`process not found: ${pid}`, 'NotFound', false);
    return { pid, tid };
  }

  private rpc(tid: number, f: (req: number) => AnyFrame): Promise<[unknown, unknown]> {
    const req = ++this.reqSeq;
    this.hold();
    return new Promise<[unknown, unknown]>((resolve) => {
      // Posted first: a frame that cannot be encoded throws here and leaves no pending reply (the
      // reply cannot come before this turn ends, so registering after the post loses nothing).
      this.rt.post(tid, f(req));
      this.replies.set(req, { resolve, tid });
    }).finally(() => this.release());
  }

  /** {"rep", pid, req, value, error}: the answer to one of our rpcs. */
  onReply(f: Frame<'rep'>): void {
    const req = f[I.rep.req];
    const p = this.replies.get(req);
    if (p) { this.replies.delete(req); p.resolve([f[I.rep.value], f[I.rep.error]]); }
  }

  /** {"e", pid, event}: an event for control PID `pid`; an EXIT goes to its watcher. Returns it decoded. */
  onEvent(f: Frame<'e'>): { kind: string; exit: ExitInfo } {
    const ev = decodeEvent(f[I.e.event]);
    const pid = f[I.e.pid];
    if (ev.kind === EV_EXIT) {
      const w = this.watchers.get(pid);
      if (w) this.unwatch(pid, w, ev.exit);
    }
    return ev;
  }

  /**
   * {"jx", watch, error, stack, value}: the EXIT of the process that watch number `watch` waits
   * for (spawnLua). Returns it decoded, as onEvent does, when `decoded` (someone listens).
   */
  onJobExit(f: Frame<'jx'>, decoded: boolean): { kind: string; exit: ExitInfo } | undefined {
    const watch = f[I.jx.watch];
    const w = this.watchers.get(watch);
    const error = f[I.jx.error];
    if (!w) {
      return decoded ? { kind: EV_EXIT, exit: { pid: '' } } : undefined; // a watch already failed (a dead worker, the stop)
    }
    let exit: ExitInfo;
    if (error !== false && error !== undefined) {
      const e = asError(error, 'process failed');
      const stack = f[I.jx.stack];
      if (typeof stack === 'string') e.traceback = stack; // where it was raised
      exit = { pid: w.target!, error: e };
    } else exit = f.length > I.jx.value ? { pid: w.target!, value: f[I.jx.value] } : { pid: w.target! }; // nil: no value, as for "e"
    this.unwatch(watch, w, exit);
    return decoded ? { kind: EV_EXIT, exit } : undefined;
  }

  /**
   * Worker `tid` died (recovery step 5): rpcs to it fail, and so do watchers of the PIDs that died
   * with it (their EXIT, with `err`).
   */
  workerDied(tid: number, err: () => WippyError): void {
    for (const [req, p] of [...this.replies]) {
      if (p.tid !== tid) continue;
      this.replies.delete(req);
      p.resolve([undefined, err()]);
    }
    for (const [ctl, w] of [...this.watchers]) {
      const p = w.target === undefined ? undefined : parsePid(w.target);
      if (!p || !this.rt.dir.diesWith(p.uniq, tid)) continue;
      if (this.watchers.get(ctl) === w) this.unwatch(ctl, w, { pid: w.target!, error: err() });
    }
  }

  /** The runtime stopped: whoever still waits hears `err`. */
  stopped(err: () => WippyError): void {
    for (const [ctl, w] of [...this.watchers]) {
      if (w.target !== undefined && this.watchers.get(ctl) === w) this.unwatch(ctl, w, { pid: w.target, error: err() });
    }
    for (const [req, p] of [...this.replies]) { this.replies.delete(req); p.resolve([undefined, err()]); }
    if (this.waiting === 0 && this.keepAlive) { clearInterval(this.keepAlive); this.keepAlive = undefined; }
  }

  /** The watch `ctl` ends with `e`: its control PID's slot (if any) is freed, the keep-alive released. */
  private unwatch(ctl: string | number, w: Watch, e: ExitInfo): void {
    this.watchers.delete(ctl);
    if (w.ctlUniq !== NO_SLOT) this.rt.dir.dead(w.ctlUniq);
    if (w.framed >= 0) this.framed[w.framed]!--;
    if (w.peer >= 0) this.groups.left(w.peer, w.peerTid);
    this.release();
    const r = w.onExit;
    if (typeof r === 'function') r(e); else r.exited(e);
  }

  /** JS exit watchers and pending rpc replies (leak checks). */
  sizes(): { watchers: number; replies: number } {
    return { watchers: this.watchers.size, replies: this.replies.size };
  }

  // While JS waits on the runtime (an rpc reply, an EXIT for exec/run/spawn with onExit), the
  // process must stay alive: the worker threads and ports alone do not keep Node's event loop
  // from exiting. A ref'd timer is held while anything is awaited. One timer, made once and
  // ref'd / unref'd (two flag writes): creating and clearing one per hold cost a timer-list insert
  // and removal on every job of a runner with one job in flight.
  private waiting = 0;
  private keepAlive: NodeJS.Timeout | undefined;
  /** Keep Node's event loop alive until the matching release() (the job runner holds while jobs wait). */
  hold(): void {
    if (this.waiting++ === 0) (this.keepAlive ??= setInterval(noop, 1 << 30)).ref();
  }
  release(): void {
    if (--this.waiting === 0) this.keepAlive!.unref();
  }
}

function noop(): void {}

/** What a job's admission reads of its host (ControlEndpoint.jobPlan). */
interface JobPlan {
  /** The host's run queues and workers (index-aligned); undefined on a one-worker host. */
  q: TaskQueues | undefined;
  tids: number[] | undefined;
  /** placeJob's view of the workers (src/runtime/job-place.ts); with q. */
  view: TurnView | undefined;
  /** The worker (index) of the previous job. */
  last: number;
  /** The host runs the budget hook (max_reductions or max_memory_mb). */
  hooked: boolean;
  /** The head of the host's own PIDs (pid.ts pidHead), and per function entry, per worker, of its PIDs. */
  hostHead: string | undefined;
  fnHeads: Map<string, string[]>;
}

/** Function entries whose PID heads a plan keeps; past it the cache starts again. */
const FN_HEADS_KEEP = 1024;

function spawnCtx(c: SpawnContext): CtxRecord {
  const out: CtxRecord = {};
  if (c.values) out.values = c.values;
  if (c.security) out.security_config = c.security;
  return out;
}

function asError(err: unknown, fallback: string): WippyError {
  if (err instanceof WippyError) return err;
  if (err instanceof Error) return new WippyError(err.message, 'Internal', false);
  return new WippyError(fallback, 'Internal', false);
}

/** Normalise an event record decoded on the main thread. */
function decodeEvent(ev: EventRecord | undefined): { kind: string; exit: ExitInfo } {
  const e = (ev ?? {}) as Partial<EventRecord>;
  const exit: ExitInfo = { pid: e.from ?? '' };
  if (e.result) {
    if (e.result.error !== undefined) {
      exit.error = asError(e.result.error, 'process failed');
      if (typeof e.result.stack === 'string') exit.error.traceback = e.result.stack; // where it was raised
    }
    else if ('value' in e.result) exit.value = e.result.value;
  }
  return { kind: e.kind ?? '', exit };
}

/**
 * A spawn's arguments as the kernel counts them (spawn.lua: `args.n or #args`). A list with a
 * null or undefined in it goes as table.pack's shape, a map {n = length, [i] = value} without the
 * nils: a msgpack array decoded into a Lua table loses its length at a nil (`#` of {nil, 2} may
 * be 0, and the process would see no arguments). Any other list goes as it is.
 */
export function wireArgs(args: unknown[]): unknown[] {
  for (let i = 0; i < args.length; i++) {
    if (args[i] === null || args[i] === undefined) {
      const m = new Map<unknown, unknown>([['n', args.length]]);
      for (let j = 0; j < args.length; j++) if (args[j] !== null && args[j] !== undefined) m.set(j + 1, args[j]);
      return m as unknown as unknown[]; // written as a msgpack map (src/codec/msgpack.ts)
    }
  }
  return args;
}
