// The runtime's event bus behind the Lua `events` module (src/lua/lib/events.lua): subscriptions
// by system pattern and optional kind, held on the main thread so every worker shares one bus.
//
// Frames (Lua-side numbering, element 1 is the frame kind):
//   { "evsub", tid, pid, req, sub, system, kind }  register; answered { "rep", pid, req, true }
//   { "evunsub", tid, sub }                         forget
//   { "evsend", system, kind, path, data }          deliver { "ev", sub, system, kind, path, data }
//                                                   to each matching subscription's worker
// A subscription is keyed by its worker and the worker's number for it. Delivery order for one
// subscriber is the order the sends reached the main thread. Nothing is retried or stored (the
// bus is best effort by design): a subscriber that exited is reported by its worker on its next
// event ("evunsub"), and the subscriptions of a worker that died are dropped on the next send.
type Post = (tid: number, frame: unknown[]) => void;

interface Sub { tid: number; sub: number; system: RegExp | string; kind?: string }

/** `*` matches any run of characters; everything else literally. */
function pattern(system: string): RegExp | string {
  if (!system.includes('*')) return system;
  return new RegExp(`^${system.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
}

export class EventBus {
  private readonly subs = new Map<string, Sub>();
  constructor(private readonly post: Post, private readonly isDown: (tid: number) => boolean) {}

  /** Handle one events frame (f(i): its i-th element, 1-based). */
  handle(f: (i: number) => unknown): void {
    switch (f(1)) {
      case 'evsub': {
        const tid = f(2) as number;
        const kind = f(7);
        this.subs.set(`${tid}:${f(5) as number}`, {
          tid, sub: f(5) as number, system: pattern(String(f(6))), ...(typeof kind === 'string' ? { kind } : {}),
        });
        this.post(tid, ['rep', f(3), f(4), true]);
        break;
      }
      case 'evunsub':
        this.subs.delete(`${f(2) as number}:${f(3) as number}`);
        break;
      case 'evsend': {
        const [system, kind, path, data] = [String(f(2)), f(3), f(4), f(5)];
        for (const [key, s] of this.subs) {
          if (this.isDown(s.tid)) { this.subs.delete(key); continue; }
          if (typeof s.system === 'string' ? s.system !== system : !s.system.test(system)) continue;
          if (s.kind !== undefined && s.kind !== kind) continue;
          this.post(s.tid, ['ev', s.sub, system, kind, path, data]);
        }
        break;
      }
    }
  }

  /** Subscriptions currently held (for tests and stats). */
  get size(): number { return this.subs.size; }
}
