// The groups of the peer rule (src/runtime/spawn-place.ts): for each live process that JS spawns
// named as their peer, how many live processes were spawned naming it on each worker — the counts
// placeNear reads (`members`). Main thread only (the control endpoint records every placed spawn).
//
// Owns: the counts and the member lists. May call: the `alive` callback it is made with (the
// shared directory's alive bit).
//
// Two kinds of member. A watched one (a Lua spawn with an EXIT callback: the supervisor's, the
// bench's, rt.spawn(..., onExit)) is counted by `join` and uncounted by `left` when its EXIT
// reaches the control endpoint: exact, O(1). An unwatched one (rt.spawn without a callback, a WASM
// entry: the rpc path, whose exit this thread never hears) is recorded by `add` with its uniq; the
// exited are dropped when the group's list has grown to twice its live members at the last count
// (+ COMPACT_SLACK), so a group that churns costs O(1) amortised per spawn rather than a walk of
// the list per spawn; between two counts such members may count after they exited (the rule then
// spreads a little early, never later). Groups whose peer has died are dropped when the table has
// doubled since its last sweep (+ SWEEP_SLACK): the table stays within about twice the live
// groups. PIDs are unique (the directory's uniq counter only grows), so no group is inherited.

const COMPACT_SLACK = 16;
const SWEEP_SLACK = 64;

interface Group {
  /** Watched members per worker thread id (join - left). */
  watched: Map<number, number>;
  /** Unwatched members: uniq and worker thread id, in pairs. */
  list: number[];
  /** Unwatched members per worker thread id (live at the last count, plus those added since). */
  listed: Map<number, number>;
  /** Pairs in `list` at which the exited are dropped next. */
  compactAt: number;
}

const bump = (m: Map<number, number>, k: number, d: number) => m.set(k, (m.get(k) ?? 0) + d);

export class PeerGroups {
  private readonly groups = new Map<number, Group>();
  private sweepAt = SWEEP_SLACK;

  constructor(private readonly alive: (uniq: number) => boolean) {}

  /** Live members of `peer`'s group on worker `tid`. */
  members(peer: number, tid: number): number {
    const g = this.groups.get(peer);
    return g ? (g.watched.get(tid) ?? 0) + (g.listed.get(tid) ?? 0) : 0;
  }

  /** A watched member, spawned naming `peer`, was placed on worker `tid` (until `left`). */
  join(peer: number, tid: number): void {
    bump(this.group(peer).watched, tid, 1);
  }

  /** A watched member of `peer`'s group on worker `tid` exited. */
  left(peer: number, tid: number): void {
    const g = this.groups.get(peer);
    if (g) bump(g.watched, tid, -1); // (none: swept after its peer died)
  }

  /** Unwatched process `member`, spawned naming `peer`, was placed on worker `tid`. */
  add(peer: number, tid: number, member: number): void {
    const g = this.group(peer);
    g.list.push(member, tid);
    bump(g.listed, tid, 1);
    if (g.list.length >> 1 >= g.compactAt) this.compact(g);
  }

  /** Groups kept (for leak checks). */
  get size(): number {
    return this.groups.size;
  }

  private group(peer: number): Group {
    let g = this.groups.get(peer);
    if (!g) {
      if (this.groups.size >= this.sweepAt) this.sweep();
      g = { watched: new Map(), list: [], listed: new Map(), compactAt: COMPACT_SLACK };
      this.groups.set(peer, g);
    }
    return g;
  }

  private compact(g: Group): void {
    const { list } = g;
    g.listed.clear();
    let w = 0;
    for (let r = 0; r < list.length; r += 2) {
      if (!this.alive(list[r]!)) continue;
      const tid = list[r + 1]!;
      list[w++] = list[r]!;
      list[w++] = tid;
      bump(g.listed, tid, 1);
    }
    list.length = w;
    g.compactAt = w + COMPACT_SLACK; // twice the live pairs
  }

  private sweep(): void {
    for (const [peer, g] of this.groups) {
      if (!this.alive(peer)) { this.groups.delete(peer); continue; }
      this.compact(g);
      let n = g.list.length;
      for (const c of g.watched.values()) n += c;
      if (n === 0) this.groups.delete(peer);
    }
    this.sweepAt = this.groups.size * 2 + SWEEP_SLACK;
  }
}
