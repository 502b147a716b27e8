/**
 * A minimal single-thread actor runtime on JS generators: the ceiling for
 * "processes as coroutines in one JS thread", with nothing in the way (no
 * Lua, no wasm, no threads, no codec).
 *
 * An actor is a generator plus a mailbox. `const msg = yield;` is receive:
 * the generator suspends and the scheduler resumes it with the next message.
 * `send` appends to the mailbox and puts the actor on the run queue if it is
 * not already there. `run` pops actors in FIFO order and drains each one's
 * mailbox, one generator resume per message, until the run queue is empty.
 *
 * Kept deliberately small and monomorphic: a ring-buffer run queue, an array
 * mailbox that is reset when drained, no per-message closures or promises.
 */

export interface Actor {
  gen: Generator<void, void, unknown>;
  /** Messages at [head, mailbox.length) are pending. */
  mailbox: unknown[];
  head: number;
  /** True while the actor sits on the run queue. */
  queued: boolean;
  done: boolean;
}

/** The body of an actor: `yield` receives the next message. */
export type ActorBody<A> = (sched: GenScheduler, self: Actor, arg: A) => Generator<void, void, unknown>;

/** Initial run-queue capacity (a power of two); the queue doubles when full. */
const RUN_QUEUE_CAPACITY = 1024;

export class GenScheduler {
  private runq: (Actor | undefined)[] = new Array<Actor | undefined>(RUN_QUEUE_CAPACITY);
  private mask = RUN_QUEUE_CAPACITY - 1;
  private head = 0;
  private tail = 0;

  /** Creates an actor and runs it to its first `yield` (its first receive). */
  spawn<A>(body: ActorBody<A>, arg: A): Actor {
    const actor: Actor = { gen: undefined as unknown as Actor['gen'], mailbox: [], head: 0, queued: false, done: false };
    actor.gen = body(this, actor, arg);
    actor.done = actor.gen.next().done === true;
    return actor;
  }

  send(to: Actor, msg: unknown): void {
    to.mailbox.push(msg);
    if (!to.queued && !to.done) {
      to.queued = true;
      if (this.tail - this.head === this.runq.length) this.grow();
      this.runq[this.tail & this.mask] = to;
      this.tail++;
    }
  }

  /** Runs until no actor has a pending message. */
  run(): void {
    while (this.head !== this.tail) {
      const slot = this.head & this.mask;
      const actor = this.runq[slot] as Actor;
      this.runq[slot] = undefined;
      this.head++;
      actor.queued = false;
      const box = actor.mailbox;
      while (actor.head < box.length) {
        const msg = box[actor.head];
        box[actor.head++] = undefined;
        if (actor.gen.next(msg).done === true) {
          actor.done = true;
          break;
        }
      }
      // Drained (or exited): reuse the array from the start.
      if (actor.head >= box.length) {
        box.length = 0;
        actor.head = 0;
      }
    }
  }

  private grow(): void {
    const size = this.runq.length;
    const next = new Array<Actor | undefined>(size * 2);
    for (let i = 0; i < size; i++) next[i] = this.runq[(this.head + i) & this.mask];
    this.runq = next;
    this.mask = size * 2 - 1;
    this.head = 0;
    this.tail = size;
  }
}
