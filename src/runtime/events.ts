// The runtime's event bus behind the Lua `events` module (src/lua/lib/events.lua): subscriptions
// by system pattern and optional kind, held on the main thread so every worker shares one bus.
//
// Frames (src/wire/spec.ts; read with its indices I, built with its constructors):
//   ["evsub", tid, pid, req, sub, system, kind]  register; answered ["rep", pid, req, true]
//   ["evunsub", tid, sub]                         forget
//   ["evsend", system, kind, path, data]          deliver ["ev", sub, system, kind, path, data]
//                                                 to each matching subscription's worker
// A subscription is keyed by its worker and the worker's number for it. Delivery order for one
// subscriber is the order the sends reached the main thread. Nothing is retried or stored (the
// bus is best effort by design): a subscriber that exited is reported by its worker on its next
// event ("evunsub"), and the subscriptions of a worker that died are dropped on the next send.
import { frame, I, type AnyFrame, type Frame } from '../wire/frames.js';

type Post = (tid: number, frame: AnyFrame) => void;
/** The frames the bus handles. */
export type BusFrame = Frame<'evsub'> | Frame<'evunsub'> | Frame<'evsend'>;

interface Sub { tid: number; sub: number; system: RegExp | string; kind?: string }

/** `*` matches any run of characters; everything else literally. */
function pattern(system: string): RegExp | string {
  if (!system.includes('*')) return system;
  return new RegExp(`^${system.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
}

export class EventBus {
  private readonly subs = new Map<string, Sub>();
  constructor(private readonly post: Post, private readonly isDown: (tid: number) => boolean) {}

  /** Handle one events frame. */
  handle(f: BusFrame): void {
    switch (f[0]) {
      case 'evsub': {
        const tid = f[I.evsub.reply_tid], sub = f[I.evsub.sub];
        const kind = f[I.evsub.kind];
        this.subs.set(`${tid}:${sub}`, {
          tid, sub, system: pattern(String(f[I.evsub.system])), ...(typeof kind === 'string' ? { kind } : {}),
        });
        this.post(tid, frame.rep(f[I.evsub.reply_pid], f[I.evsub.req], true, undefined));
        break;
      }
      case 'evunsub':
        this.subs.delete(`${f[I.evunsub.tid]}:${f[I.evunsub.sub]}`);
        break;
      case 'evsend': {
        const system = String(f[I.evsend.system]), kind = f[I.evsend.kind], path = f[I.evsend.path], data = f[I.evsend.data];
        for (const [key, s] of this.subs) {
          if (this.isDown(s.tid)) { this.subs.delete(key); continue; }
          if (typeof s.system === 'string' ? s.system !== system : !s.system.test(system)) continue;
          if (s.kind !== undefined && s.kind !== kind) continue;
          this.post(s.tid, frame.ev(s.sub, system, kind, path, data));
        }
        break;
      }
    }
  }

  /** Subscriptions currently held (for tests and stats). */
  get size(): number { return this.subs.size; }
}
