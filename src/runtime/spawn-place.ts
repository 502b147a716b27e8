// Where a process spawned from JS goes (rt.spawn, the service supervisor: not jobs, whose rule is
// src/runtime/job-place.ts): the peer rule, as a pure function the control endpoint
// (src/runtime/control.ts pickTid) calls with what it reads of the shared memory.
//
// Owns: the choice between "next to its peer", "beside the fewest of its group" and round-robin.
// May call: nothing (its inputs are callbacks over the directory, the run queues and the groups:
// tests pass plain maps).
//
// The rule. A spawn whose arguments name a live process of the same host (a top-level argument
// that is a PID string: the receiver a sender will send to, the coordinator a worker reports to)
// goes to the worker that process belongs to (its owner in the directory), unless that worker is
// saturated: it already holds the backlog mark (src/host/placement.ts, STEAL_BACKLOG = 1,024) of
// spawns not yet started, in its shared queues and its Lua-side list together. Otherwise the
// host's round-robin cursor decides, as before (long-lived drivers spawned in turn land one per
// worker). A process never leaves the worker that starts it, so this is the only moment its
// messages to that peer can be kept inside one Lua state.
// The group (session 12). The spawns from JS that named the same peer, still alive, are its group
// (counted by src/runtime/peer-groups.ts). The peer's worker keeps GROUP_BESIDE (16) of them; past
// that each further member goes to the worker of the host holding the fewest of the group, the
// peer's worker's members counted BESIDE_WEIGHT (2) times (the peer's worker among equals), so a
// fan-in of 100 senders ends 34/66 on 2 workers: 16 beside the receiver, then 32 on the other,
// then one beside for every two there (session 14; 50/50 before, one for one). Pairs, rings and
// chains (each spawn naming a different process) and a coordinator with up to 16 workers never
// spread. The split (session 14, docs/design/scheduler.md "Session 14: fan-in on two workers, with
// margin"): with the cross-worker run's flat path working for unbounded mailboxes, a message from
// the other worker costs the receiver's worker ~0.1 µs less than a local one (0.23 against 0.33 µs
// per message, timed lap), and the other worker ~0.26 µs per message it sends; on two free cores
// the row is bound by the busier core, the receiver's worker at 0.33 − 0.1 f µs per message or the
// other core at 0.26 f + ~0.03 (V8's helpers, the main thread), f the share away: f = 2/3 puts the
// receiver's worker at ~0.26 and leaves the other core ~25% headroom (3/4 would leave ~10%, 1/2
// gains half as much). Session 12's figures, which put the optimum at ~0.6 and chose 1/2, are of
// both laps and of a flat path that never ran (the benches' hosts have no mailbox bound). Session
// 12's reasoning, measured on `fan-in` (100 senders × 4,000 messages to one receiver, 2
// workers, Node 24, per-thread CPU per message over both laps, BENCH_FANIN_LOCAL placing k% of
// the senders beside the receiver; the
// figures and the derivation: docs/design/scheduler.md, "Session 12: spreading a fan-in's
// senders"): with every sender beside it, the receiver's worker spends ~0.41 µs per message (the
// send and the receive); a message from the other worker costs the receiver's worker ~0.33 µs
// (drain, decode, deliver, receive) and the other worker ~0.34 µs (the send, encode, post), and
// the whole process ~60% more CPU (V8's helpers too). The receiver's worker is the bottleneck
// (one process receives everything), so moving senders away lowers its cost per message, at
// the price of more CPU in all: on 2 cores the best split keeps ~40–50% beside (the receiver's
// worker ~0.37 µs, the process's CPU per core ~0.35 µs), where 0% beside would be capped by the
// CPU of the whole process (session 14: ~2/3 away, above). Until session 11's cross-worker
// receive in C a crossing message cost the receiving side more than a local send + receive (3.6
// against ~3 µs), and no split paid.
// Only on Node 24 and later (groupBeside: on Node 20 the same 51/50 split read 0.86× of 1 worker in
// the quiet bench:compare, against 1.03× on Node 24; WIPPY_SPREAD_GROUPS=1/0 overrides).
// And only while SPREAD_CORES (2) of the machine's cores are free of other processes' work (the
// main thread's measure for the spin rule, src/transport/freecores.ts; not measured counts as
// free): with fewer, the second worker's thread takes its CPU from the receiver's or from another
// tenant, and the split's extra CPU per message buys nothing (measured at load average 8: the
// 50/50 split 1.16M messages/s against 1.19M all beside, the whole process's CPU per message
// 0.71 against 0.52 µs).
// Why a count and not a measure of saturation: the peer's worker is idle when the senders are
// spawned (they send after), and a started process cannot move, so what the counters say later
// (messages per peer, resume time) comes too late for it; the group's size is what the spawn
// knows. GROUP_BESIDE 16: past the handful of workers a coordinator keeps, below the hundreds of
// a fan-in; a group that small costs its peer's worker little even when all talk at once.
// Only top-level arguments are looked at (a PID inside a table is not: no walk of arbitrary
// arguments on every spawn), and only PIDs of the spawn's own host (a PID of another host runs on
// workers this spawn cannot go to). The owner, not the runner: a queued spawn that a sibling
// started away from its home is still reached through its home (frames go sender -> home ->
// runner), so home is where its messages arrive first.
//
// Rejected: every JS spawn to the lightest worker (job-place.ts's rule): it spreads a group that
// talks exactly as round-robin does. Deciding after the fact from messages per peer: a process
// cannot move once started (its coroutine lives in one worker's Lua state). Spreading the whole
// group evenly from its first member: a coordinator with a few workers would lose its locality.
import { parsePid } from './pid.js';

/** What the rule reads of a host's workers and the directory. */
export interface SpawnPlaceView {
  /** Owner thread of process slot `uniq` (-1 if unassigned). */
  owner(uniq: number): number;
  /** Is process `uniq` alive? */
  alive(uniq: number): boolean;
  /** Has worker `tid` died (not replaced yet)? */
  down(tid: number): boolean;
  /** Spawns waiting on worker `tid` (shared queues and Lua-side list), not yet started. */
  waiting(tid: number): number;
  /** The backlog mark: this many waiting spawns make a worker saturated. */
  readonly mark: number;
  /** Live members of `peer`'s group (JS spawns that named it) on worker `tid`. */
  members(peer: number, tid: number): number;
  /** The group size the peer's worker keeps before the group spreads (GROUP_BESIDE). */
  readonly group: number;
  /** The machine's cores other processes leave us (src/transport/freecores.ts); -1: not measured. */
  free(): number;
}

/** A group keeps this many members beside its peer before it spreads (the header's "The group"). */
export const GROUP_BESIDE = 16;
/**
 * Past GROUP_BESIDE, a member beside the peer counts this many times against the other workers'
 * (the header's "The split"): on 2 workers the group ends 1/3 beside, 2/3 on the other.
 */
export const BESIDE_WEIGHT = 2;
/** ... and spreads only while this many of the machine's cores are free of other processes' work. */
export const SPREAD_CORES = 2;

/**
 * The group size the peer's worker keeps on this Node (the view's `group`): GROUP_BESIDE where a
 * spread was measured to pay, no limit (the group never spreads) where it was measured to cost.
 * The quiet `bench:compare` at the end of session 12 (3 rounds each, load ~2, fan-in 100 × 4,000
 * senders split 51/50 by this rule): Node 24.21, 2 workers ÷ 1 worker 1.03× (0.98–1.03), the
 * receiver's worker 0.31–0.34 µs per message against 0.35–0.38 on 1 worker; Node 20.20, the same
 * split 0.86× (0.83–0.95) — so Node 24 and later spread, older Nodes keep every member beside its
 * peer. `WIPPY_SPREAD_GROUPS=1` / `0` overrides either way (tests, A/B runs).
 */
export function groupBeside(env: Record<string, string | undefined> = process.env, node: string = process.versions.node): number {
  const o = env['WIPPY_SPREAD_GROUPS'];
  if (o === '1') return GROUP_BESIDE;
  if (o === '0') return Infinity;
  if (o !== undefined && o !== '') throw new Error(`WIPPY_SPREAD_GROUPS must be 1 or 0, got "${o}"`);
  return Number(node.split('.')[0]) >= 24 ? GROUP_BESIDE : Infinity;
}

/**
 * The first live peer named in `args` (PID strings of `host`) owned by one of `tids` (a host's
 * worker thread ids): its uniq, or -1.
 */
export function namedPeer(args: readonly unknown[], host: string, tids: readonly number[], v: SpawnPlaceView): number {
  for (const a of args) {
    if (typeof a !== 'string' || a.charCodeAt(0) !== 123 /* { */) continue;
    const p = parsePid(a);
    if (!p || p.node !== '' || p.host !== host || !v.alive(p.uniq)) continue;
    if (tids.includes(v.owner(p.uniq))) return p.uniq;
  }
  return -1;
}

/**
 * The worker of `tids` for a new member of live `peer`'s group, or -1 (round-robin then): the
 * peer's worker while it holds fewer than `v.group` members of the group, or while fewer than
 * SPREAD_CORES cores are free (measured; not measured counts as free); past that the worker of
 * the host holding the fewest, the peer's worker's members counted BESIDE_WEIGHT times (the peer's
 * worker among equals, else the first in `tids`). -1 when the peer's worker is saturated or down;
 * a sibling saturated or down is never chosen.
 */
export function placeNear(peer: number, tids: readonly number[], v: SpawnPlaceView): number {
  const t = v.owner(peer);
  if (v.down(t) || v.waiting(t) >= v.mark) return -1;
  let best = t;
  const beside = v.members(peer, t);
  if (beside < v.group) return t;
  const free = v.free();
  if (free >= 0 && free < SPREAD_CORES) return t;
  let least = BESIDE_WEIGHT * beside;
  for (const s of tids) {
    if (s === t || v.down(s) || v.waiting(s) >= v.mark) continue;
    const n = v.members(peer, s);
    if (n < least) { best = s; least = n; }
  }
  return best;
}

/** namedPeer then placeNear: the worker for a spawn with `args`, or -1 (round-robin). */
export function peerWorker(args: readonly unknown[], host: string, tids: readonly number[], v: SpawnPlaceView): number {
  const peer = namedPeer(args, host, tids, v);
  return peer < 0 ? -1 : placeNear(peer, tids, v);
}
