// Where a process spawned from JS goes (rt.spawn, the service supervisor: not jobs, whose rule is
// src/runtime/job-place.ts): the peer rule, as a pure function the control endpoint
// (src/runtime/control.ts pickTid) calls with what it reads of the shared memory.
//
// Owns: the choice between "next to its peer", "on the worker with the fewest of its group" and
// round-robin.
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
// that every further member goes to whichever other worker of the host holds the fewest of the
// group (the first in `tids` among equals), so a fan-in of 100 senders ends 16/84 on 2 workers.
// Pairs, rings and chains (each spawn naming a different process) and a coordinator with up to
// 16 workers never spread.
// The split (session 15, docs/design/scheduler.md "Session 15: the split once more, after the
// crossing send and receive", and "… the fan-in split, measured again" before them; fan-in of
// 100 senders × 4,000 to one receiver on 2 workers, BENCH_FANIN_LOCAL placing k of the senders
// beside the receiver, 6 interleaved rounds, medians ÷ 1 worker, quiet machine), after the
// session's cheaper crossing send and receive:
//   k beside      0     10     17     25     34     42     50     58     66
//   Node 24.21  1.38   1.26   1.28   1.25   1.20   1.19   1.19   1.15     —
//   Node 20.20  1.45     —    1.28     —    0.95     —    1.01     —    1.08
// A pipeline: the receiver's worker receives (~0.18 µs of its CPU per crossing message, against
// ~0.28 for a local send and receive) while the other worker sends (~0.14 µs per message); every
// sender beside the receiver adds a send and a resume to the busier core. So past the handful a
// coordinator keeps, the rest go away. Before those two changes the optimum was 50/50 on Node 24
// (a crossing cost the receiver's worker ~0.22 µs and its sender ~0.28; 34 beside read 0.98, 50
// read 1.16) and 2/3 beside on Node 20 (50 read 0.93): session 14's 34/66 and this session's
// first rule (a weight per Node) were measured on that code.
// WIPPY_SPREAD_GROUPS=1/0 forces spreading on or off.
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
/** ... and spreads only while this many of the machine's cores are free of other processes' work. */
export const SPREAD_CORES = 2;

/**
 * The group size the peer's worker keeps (the view's `group`): GROUP_BESIDE, or no limit (the
 * group never spreads) with `WIPPY_SPREAD_GROUPS=0`; `1` or unset: GROUP_BESIDE. Until session 15
 * Nodes older than 24 never spread (the header's "The split").
 */
export function groupBeside(env: Record<string, string | undefined> = process.env): number {
  const o = env['WIPPY_SPREAD_GROUPS'];
  if (o === '0') return Infinity;
  if (o !== undefined && o !== '' && o !== '1') throw new Error(`WIPPY_SPREAD_GROUPS must be 1 or 0, got "${o}"`);
  return GROUP_BESIDE;
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
 * SPREAD_CORES cores are free (measured; not measured counts as free); past that the other
 * worker of the host holding the fewest (the first in `tids` among equals), or the peer's worker
 * when every other is saturated or down. -1 when the peer's worker is saturated or down.
 */
export function placeNear(peer: number, tids: readonly number[], v: SpawnPlaceView): number {
  const t = v.owner(peer);
  if (v.down(t) || v.waiting(t) >= v.mark) return -1;
  let best = t;
  if (v.members(peer, t) < v.group) return t;
  const free = v.free();
  if (free >= 0 && free < SPREAD_CORES) return t;
  let least = Infinity;
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
