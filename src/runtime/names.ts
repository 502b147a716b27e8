// The name server: `process.registry` names, on the main thread, unique across every host and
// worker of the runtime.
//
// Owns: name -> holder PID, holder PID -> its names, and the registrations waiting for the
// holder's worker to take the name. May call: its NameHost (post a frame to a thread; the shared
// process directory's owner / alive / diesWith). The runtime hands it the name frames from the
// workers (src/runtime/runtime.ts onFrame) and tells it of a dead worker (recovery step 5).
//
// Why on the main thread: a name must resolve to one PID whichever worker asks, and every worker
// already has a ring to and from the main thread, so one table there costs one round trip per
// register / lookup / unregister and no agreement protocol. A worker caches the names its own
// processes hold (src/lua/kernel/names.lua local_names), which makes local lookups free.
//
// Protocol (frames: src/wire/spec.ts; W = the worker of the asking process, O = the holder's
// worker when the holder runs elsewhere):
//   register   W -> main {"nreg", W, pid, req, name, holder}. Taken by another holder: "rep" with
//              an AlreadyExists error. Else the name is recorded, and:
//                holder on W, on no worker, or dead: main -> W {"rep", pid, req, true};
//                holder owned by O ≠ W and alive:    main -> O {"nown", holder, name, token}, and
//                only on O's {"nok", token} main -> W {"rep", pid, req, true}.
//              O counts the name as its holder's (or, holder gone, releases it with an "x") before
//              it answers "nok", so once register() has returned, the holder's exit releases the
//              name: it cannot exit unaware of it.
//   lookup     W -> main {"nlook", W, pid, req, name}; main -> W {"rep", pid, req, holder or nil}.
//   unregister W -> main {"nunreg", W, pid, req, name}; main -> W {"rep", pid, req, existed}.
//   release    a process holding names exits: W -> main {"x", W, pid, req}; every name still held
//              by pid goes; main -> W {"xack", req}; only then does W send the EXIT events, so
//              nobody hears of the exit while its names still resolve.
//   worker D died (recovery step 5): every name whose holder dies with D goes (the directory says
//              which: diesWith), and a registration waiting for D's "nok" is answered (its holder
//              died with D, and its names were just released).
// Per-sender order makes the holder's "x" arrive after its "nreg" when both come from W; from O,
// the "x" comes after O's "nok" on O's ring, and the registration was recorded before "nown" went.
import { WippyError } from '../codec/msgpack.js';
import { frame, I, type AnyFrame, type Frame } from '../wire/frames.js';
import { parsePid } from './pid.js';

/** What the name server needs from the runtime. */
export interface NameHost {
  /** Queue a frame for thread `tid`. */
  post(tid: number, f: AnyFrame): void;
  /** Owner thread of PID slot `uniq` (-1 if none). */
  owner(uniq: number): number;
  isAlive(uniq: number): boolean;
  /** Does PID slot `uniq` die with dead thread `tid`? */
  diesWith(uniq: number, tid: number): boolean;
}

export class NameServer {
  /** name -> holder PID */
  private readonly names = new Map<string, string>();
  /** holder PID -> its names */
  private readonly held = new Map<string, Set<string>>();
  /** Registrations waiting for the holder's worker to take the name ("nown" -> "nok"), by token. */
  private readonly pending = new Map<number, { owner: number; done: () => void }>();
  private tokens = 0;

  constructor(private readonly host: NameHost) {}

  /** The holder of `name`, or undefined. */
  lookup(name: string): string | undefined {
    return this.names.get(name);
  }

  /** {"nreg", W, pid, req, name, holder}. */
  register(f: Frame<'nreg'>): void {
    const tid = f[I.nreg.reply_tid], pid = f[I.nreg.reply_pid], req = f[I.nreg.req];
    const name = f[I.nreg.name], holder = f[I.nreg.holder];
    const cur = this.names.get(name);
    if (cur !== undefined && cur !== holder) {
      this.host.post(tid, frame.rep(pid, req, undefined, new WippyError('name already registered', 'AlreadyExists', false)));
      return;
    }
    this.names.set(name, holder);
    let s = this.held.get(holder);
    if (!s) { s = new Set(); this.held.set(holder, s); }
    s.add(name);
    const p = parsePid(holder);
    const owner = p ? this.host.owner(p.uniq) : -1;
    if (owner > 0 && owner !== tid && p && this.host.isAlive(p.uniq)) {
      const token = ++this.tokens;
      this.pending.set(token, { owner, done: () => this.host.post(tid, frame.rep(pid, req, true, undefined)) });
      this.host.post(owner, frame.nown(holder, name, token));
    } else {
      this.host.post(tid, frame.rep(pid, req, true, undefined));
    }
  }

  /** {"nok", token}: the holder's worker took the name; answer the registration. */
  taken(f: Frame<'nok'>): void {
    const token = f[I.nok.token];
    const w = this.pending.get(token);
    if (w) { this.pending.delete(token); w.done(); }
  }

  /** {"nlook", W, pid, req, name}. */
  lookupFrame(f: Frame<'nlook'>): void {
    this.host.post(f[I.nlook.reply_tid], frame.rep(f[I.nlook.reply_pid], f[I.nlook.req], this.names.get(f[I.nlook.name]), undefined));
  }

  /** {"nunreg", W, pid, req, name}. */
  unregister(f: Frame<'nunreg'>): void {
    const name = f[I.nunreg.name];
    const holder = this.names.get(name);
    if (holder !== undefined) {
      this.names.delete(name);
      const s = this.held.get(holder);
      if (s) { s.delete(name); if (s.size === 0) this.held.delete(holder); }
    }
    this.host.post(f[I.nunreg.reply_tid], frame.rep(f[I.nunreg.reply_pid], f[I.nunreg.req], holder !== undefined, undefined));
  }

  /**
   * {"x", W, pid, req}: a process holding names exited; release them, then let W send its EXIT
   * events. req 0: nothing waits (a "nown" holder already gone), so no "xack".
   */
  released(f: Frame<'x'>): void {
    this.releaseAll(f[I.x.pid]);
    const req = f[I.x.req];
    if (req !== 0) this.host.post(f[I.x.reply_tid], frame.xack(req));
  }

  /** Worker `tid` died: release every name held by a process that died with it; answer registrations waiting for it. */
  workerDied(tid: number): void {
    for (const pid of [...this.held.keys()]) {
      const p = parsePid(pid);
      if (p && this.host.diesWith(p.uniq, tid)) this.releaseAll(pid);
    }
    for (const [token, w] of [...this.pending]) {
      if (w.owner !== tid) continue;
      this.pending.delete(token);
      w.done();
    }
  }

  /** Registered names, and PIDs holding any (leak checks). */
  sizes(): { names: number; namedPids: number } {
    return { names: this.names.size, namedPids: this.held.size };
  }

  /** "name=pid" for every name whose holder is no longer alive (a release that never happened). */
  stale(): string[] {
    const out: string[] = [];
    for (const [name, pid] of this.names) {
      const p = parsePid(pid);
      if (!p || !this.host.isAlive(p.uniq)) out.push(`${name}=${pid}`);
    }
    return out;
  }

  private releaseAll(pid: string): void {
    for (const n of this.held.get(pid) ?? []) if (this.names.get(n) === pid) this.names.delete(n);
    this.held.delete(pid);
  }
}
