// Worker death and stall recovery: what the main thread does when a host worker dies or wedges.
//
// Failure model. A worker thread dies when its JS throws uncaught, when the Lua VM's wasm traps
// or aborts (a fault escaping `kernel.step`: the worker does not go on with a half-updated Lua
// state, it crashes), when the thread runs out of memory, or when it exits. It stalls when it
// stays inside one kernel step (busy word set, heartbeat word frozen) for `host.stall_timeout`
// (default 30 s): one long C call, or a loop on a host without a reduction budget. A stalled
// worker is terminated (Worker.terminate interrupts JS and wasm loops) and then handled as dead.
// Every process that died with it exits with kind "Internal" and the message
// "worker crashed: <reason>" or "worker stalled: <reason>" (retryable unset, so supervised
// services restart through their normal backoff).
//
// Which PIDs die with worker D (Directory.diesWith): those it owns (it minted or was sent them,
// or it is the home that routes every frame for them, even if they run elsewhere), and queued
// spawns of other homes that D started (the owner table's runner byte, set by the starting
// worker before the process exists: src/shm/layout.ts). Every thread evaluates the same
// predicate against the same shared words, so all agree on the set without exchanging it.
//
// Protocol (main thread M, dead worker D, every other live worker W, replacement R):
//   1. Detect. Worker 'exit' event not caused by stop() (an 'error' event or a 'fatal' control
//      message before it gives the reason), or the stall watchdog: D busy with the same
//      heartbeat for stall_timeout (Atomics.load of T_BUSY / T_HEARTBEAT pairs with the worker's
//      Atomics.add / Atomics.store in Directory.beat) -> terminate, then wait for 'exit' (until
//      then D may still write shared memory, so nothing below starts earlier).
//   2. M: Atomics.store(T_DOWN[D], 1) (Directory.markDown). Pairs with the Atomics.load(T_DOWN)
//      in Directory.alloc on every thread: a PID minted for D by a thread that has not heard yet
//      is born dead, or its stores precede the scan of step 4 (Dekker; all Atomics are SC).
//      Placement (src/host/placement.ts place()) and M's round-robin skip down threads from now on
//      (Directory.isDown's Atomics.load pairs with the same store).
//   3. M: reads D's ring to M one last time and handles those frames (EXITs and name releases
//      that made it out), then abandons D's rings and port (Endpoint.dropPeer; sends to D are
//      dropped); fixes the doorbell's AWAKE count (Doorbell.forget: Atomics.exchange of D's
//      state, pairs with D's own stores and producers' compareExchange).
//   4. M: Directory.reclaim(D) clears the alive bit of every PID that dies with D (Atomics.load
//      of each alive word and owner word, Atomics.and to clear; pairs with alloc's store/or and
//      every thread's isAlive load). Sends to them fail with "process not found" from now on.
//   5. M: releases the names those PIDs held; fails its own watchers of them (rt.exec / rt.run
//      reject, spawn-with-onExit callbacks get the EXIT with the error) and its pending rpcs to D.
//   6. M -> each W (control port): {type 'wdown', tid D, message, peer: R's tid, host slot and
//      W's port to R} (one message, so no kernel step sees the host without R). W reads D's ring
//      to W one last time (those frames first), drops D's rings, and queues the kernel frames
//      {"wdown", D, message} and {"wup", R, host} after them.
//   7. W's kernel (frames.lua handlers.wdown): synthesizes EXIT for every local P.monitoring entry
//      and LINK_DOWN for every P.links entry that dies with D, wakes process.exec waits on them,
//      fails rpcs to D, kills quietly the processes running here whose home was D (their watchers
//      do the same synthesis), drops frames held or forwarded for gone PIDs. An event that made it
//      out of D was read in step 6 before the frame and already cleared the watcher's entry; one
//      still on its way through a home's forwarding is dropped when it arrives (P.gone).
//      W then answers 'wdown-done' (after the step). The predicate (Directory.diesWith) is an
//      Atomics.load of the owner word; it pairs with alloc's Atomics.store and with the starting
//      worker's Atomics.or of the runner byte (Directory.setRunner), both done before D died.
//   8. R (a fresh thread id, or a reused one, step 9, whose directory line Directory.resetThread
//      cleared with Atomics.stores that the Worker constructor's message orders before R reads
//      them) is started with new MessageChannels to M
//      and every live W, the host's run-queue index of D (its deque and inject queue are in
//      shared memory and simply continue: descriptors whose PID died with D are dropped by
//      whoever takes them, since their alive bit is clear — spawn.lua start_task
//      asks H.route, an Atomics.load pairing with step 4's Atomics.and —; others start normally),
//      and the current host lists. W learns R from step 6's message (port, Placement.replaced) and the
//      kernel frame {"wup", R, host}; a ring W created for R before the port arrived is handed
//      over then (Endpoint.addPeer).
//   9. D's thread id returns to the pool once every W that was live in step 6 answered
//      'wdown-done' (or died): no thread still holds a ring to or from the old D, and none mints
//      PIDs for it. Fresh ids are used first. Ids are bytes in the owner table (≤ 254 threads).
//  10. Supervised services whose process died with D restart through their backoff: they hear
//      the EXIT like any other.
// No frame of D is delivered twice (each ring is read by one consumer, then dropped) or to a new
// PID (D's PIDs are never reused; a reused thread id starts with fresh rings and PIDs).
//
// What is not recovered (documented in docs/design/scheduler.md): frames D had not yet published
// are lost (messages in flight from D's processes, as in BEAM when a node goes down), and so are
// frames in a ring D created just before dying whose handover message had not reached the
// receiver yet (the port is closed with D); lost events are synthesized anyway; a spawn D
// placed on another worker with an "sp" frame it never published leaves that PID alive but
// never started; a thread that dies inside a queue operation's few-instruction window (only an
// out-of-memory can land there) may leak a task slot or, in an inject queue, block it.
//
// Alternatives rejected.
//   - Re-homing processes whose home died (changing their owner to the runner): frames to them
//     in flight through the dead home are lost silently; killing them is honest.
//   - Re-queueing D's deque on the global queue: the replacement takes D's index instead, so the
//     queues need no repair and a descriptor never sits in two queues.
//   - Reusing D's thread id at once: a worker that has not yet handled "wdown" would still write
//     to D's old ring or mint PIDs for it.
// Measured (Node 20, 2-vCPU VM shared with other jobs; Directory.reclaim over 4M slots, median of
// 15): 1.8 ms with no live PID, 5-8 ms with 10k-100k, 36 ms with 1M live PIDs. A watcher on
// another worker hears the EXIT of a process on a killed worker 12-30 ms after the worker's
// 'exit' event, 40-145 ms after the fault (mostly the thread's teardown; test/recovery.test.ts
// prints it).
import { MAX_THREADS } from '../shm/layout.js';

export { DEFAULT_STALL_TIMEOUT_MS } from '../registry/schema.js';

/** A dead worker, as the runtime's 'worker-down' event reports it. */
export interface WorkerDown {
  tid: number;
  host: string;
  /** The error message its processes exited with ("worker crashed: …" / "worker stalled: …"). */
  message: string;
  /** PIDs that died with it (alive bits the directory scan cleared). */
  processes: number;
  /** Time of the directory scan, ms. */
  scanMs: number;
  /** The replacement's thread id, if one was started. */
  replacement?: number;
}

/**
 * Thread ids for workers. Fresh ids first; a dead worker's id comes back only after every worker
 * that was told of its death has handled it (protocol step 9).
 */
export class TidPool {
  private nextFresh: number;
  private readonly recycled: number[] = [];
  /** dead tid -> workers that still have to answer 'wdown-done' for it */
  private readonly waiting = new Map<number, Set<number>>();

  constructor(firstFree: number) { this.nextFresh = firstFree; }

  /** An id for a new worker, or undefined if all MAX_THREADS - 1 are in use or in quarantine. */
  take(): number | undefined {
    if (this.nextFresh < MAX_THREADS) return this.nextFresh++;
    return this.recycled.shift();
  }

  /** Dead `tid` is reusable once every worker in `toldWorkers` has acknowledged it. */
  retire(tid: number, toldWorkers: Iterable<number>): void {
    const s = new Set(toldWorkers);
    if (s.size === 0) this.recycled.push(tid);
    else this.waiting.set(tid, s);
  }

  /** Worker `from` handled the death of `tid`. */
  ack(from: number, tid: number): void {
    const s = this.waiting.get(tid);
    if (!s) return;
    s.delete(from);
    if (s.size === 0) { this.waiting.delete(tid); this.recycled.push(tid); }
  }

  /** Worker `from` died: it owes no acknowledgements any more. */
  forget(from: number): void {
    for (const tid of [...this.waiting.keys()]) this.ack(from, tid);
  }
}

/** A worker stuck in one step this long (ms) is reported ('stall' event, a warning), once per stall. */
export const STALL_WARN_MS = 2000;

/** What the stall watchdog looks at of a worker thread. */
export interface WatchedThread {
  tid: number;
  host: string;
  ready: boolean;
  /** Set when the watchdog terminated it: the stall. */
  stalled?: string;
  /** stop() terminates it: not watched any more. */
  expectedExit?: boolean;
}

/**
 * The stall watchdog (protocol step 1): a worker inside one kernel step for longer than
 * STALL_WARN_MS (a process stuck in a long host call, or a Lua loop below its reduction budget)
 * is reported once per stall (`warn`); after its host's stall_timeout (`limits`) it is marked
 * stalled and handed to `terminate`, whose 'exit' event starts the recovery. Looks four times per
 * shortest timeout (so a stall is caught within 1.25 × the timeout), at most every 500 ms.
 * `beat(tid)`: the worker's heartbeat and busy words (Directory.heartbeat / busy: Atomics.loads
 * that pair with the Atomics.add(heartbeat) / Atomics.store(busy) of Directory.beat on the worker).
 */
export function watchStalls(stall: StallWatch, limits: Map<string, number>, threads: () => readonly WatchedThread[],
  beat: (tid: number) => [heartbeat: number, busy: boolean],
  on: { warn(th: WatchedThread, ms: number): void; terminate(th: WatchedThread, ms: number, limit: number): void }): NodeJS.Timeout {
  const tick = Math.max(5, Math.min(500, Math.floor(Math.min(...limits.values()) / 4)));
  const timer = setInterval(() => {
    const now = performance.now();
    for (const th of threads()) {
      if (!th.ready || th.stalled !== undefined || th.expectedExit) continue;
      const [hb, busy] = beat(th.tid);
      const ms = Math.round(stall.look(th.tid, hb, busy, now));
      if (ms === 0) continue;
      if (ms >= STALL_WARN_MS && stall.warnOnce(th.tid)) on.warn(th, ms);
      const limit = limits.get(th.host)!;
      if (ms >= limit) {
        th.stalled = `inside one step for ${ms} ms (host.stall_timeout ${limit} ms)`;
        on.terminate(th, ms, limit);
      }
    }
  }, tick);
  timer.unref();
  return timer;
}

/** Per-thread stall detection: busy with the same heartbeat for longer than a limit. */
export class StallWatch {
  private readonly last = new Map<number, { beat: number; since: number; warned: boolean }>();

  /**
   * Look at thread `tid` now. Returns how long (ms) it has been inside one step, 0 when it is
   * not busy or has moved on since the last look.
   */
  look(tid: number, beat: number, busy: boolean, now: number): number {
    const prev = this.last.get(tid);
    if (!prev || prev.beat !== beat || !busy) { this.last.set(tid, { beat, since: now, warned: false }); return 0; }
    return now - prev.since;
  }

  /** True the first time it is asked for the current stall of `tid` (log once per stall). */
  warnOnce(tid: number): boolean {
    const p = this.last.get(tid);
    if (!p || p.warned) return false;
    p.warned = true;
    return true;
  }

  forget(tid: number): void { this.last.delete(tid); }
}

/** The message processes that died with a worker exit with. */
export function deathMessage(stalled: boolean, reason: string): string {
  return `${stalled ? 'worker stalled' : 'worker crashed'}: ${reason}`;
}
