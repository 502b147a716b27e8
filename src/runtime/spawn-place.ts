// Where a process spawned from JS goes (rt.spawn, the service supervisor: not jobs, whose rule is
// src/runtime/job-place.ts): the peer rule, as a pure function the control endpoint
// (src/runtime/control.ts pickTid) calls with what it reads of the shared memory.
//
// Owns: the choice between "next to its peer" and round-robin. May call: nothing (its inputs are
// callbacks over the directory and the run queues: tests pass plain maps).
//
// The rule. A spawn whose arguments name a live process of the same host (a top-level argument
// that is a PID string: the receiver a sender will send to, the coordinator a worker reports to)
// goes to the worker that process belongs to (its owner in the directory), unless that worker is
// saturated: it already holds the backlog mark (src/host/placement.ts, STEAL_BACKLOG = 1,024) of
// spawns not yet started, in its shared queues and its Lua-side list together. Otherwise the
// host's round-robin cursor decides, as before (long-lived drivers spawned in turn land one per
// worker). A process never leaves the worker that starts it, so this is the only moment its
// messages to that peer can be kept inside one Lua state. Why: `fan-in` (100 senders spawned from
// JS with the receiver's PID, 1,000 messages each) on 2 workers put half the senders on the other
// worker, so half the messages crossed threads; measured per message (Node 24, per-thread CPU):
// a send to another worker costs its sender ~5 µs (route, encode, post) and its receiver's
// worker ~3.6 µs (decode, deliver, receive), where send + receive inside one worker cost ~3 µs
// in all. The receiver's worker alone then spent more per message than one worker spends on the
// whole fan-in, so no split of the senders can beat keeping them with the receiver.
// Only top-level arguments are looked at (a PID inside a table is not: no walk of arbitrary
// arguments on every spawn), and only PIDs of the spawn's own host (a PID of another host runs on
// workers this spawn cannot go to). The owner, not the runner: a queued spawn that a sibling
// started away from its home is still reached through its home (frames go sender -> home ->
// runner), so home is where its messages arrive first.
//
// Rejected: every JS spawn to the lightest worker (job-place.ts's rule): it spreads a group that
// talks exactly as round-robin does. Deciding after the fact from messages per peer: a process
// cannot move once started (its coroutine lives in one worker's Lua state).
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
}

/** A group keeps this many members beside its peer before it spreads (session 12's rule above). */
export const GROUP_BESIDE = 16;

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
 * peer's worker while it holds fewer than `v.group` members of the group; past that the worker of
 * the host holding the fewest (the peer's worker among equals, else the first in `tids`). -1 when
 * the peer's worker is saturated or down; a sibling saturated or down is never chosen.
 */
export function placeNear(peer: number, tids: readonly number[], v: SpawnPlaceView): number {
  const t = v.owner(peer);
  if (v.down(t) || v.waiting(t) >= v.mark) return -1;
  let best = t;
  let least = v.members(peer, t);
  if (least < v.group) return t;
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
