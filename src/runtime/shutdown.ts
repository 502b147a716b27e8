// Shutdown progress: while the runtime waits for its processes to exit after the shutdown CANCEL,
// it says for whom, so a stop that takes the whole grace period is not silent:
//
//   waiting for 3 processes: app:svc {app:processes|0x00003}, app:job {app:processes|0x00007},
//   app:job {app:processes|0x00009}; deadline in 8 s
//
// Owns: the progress timer and the questions in flight. May call: the workers' control ports
// ('live' both ways, src/host/protocol.ts; a worker answers from its kernel's process table between
// two steps) and the runtime's logger. Runtime.stop starts it after posting the shutdown and stops
// it when every worker is down; the runtime hands it the 'live' answers.
//
// Timing: the first line after FIRST_MS (a stop that finishes sooner says nothing), then one every
// EVERY_MS. A worker that does not answer within ANSWER_MS (wedged inside one step: the stall
// watchdog deals with it) is left out of that line rather than holding it up.
import type { Logger } from 'pino';
import type { ControlFromWorker, ControlToWorker } from '../host/protocol.js';

export const FIRST_MS = 1000;
export const EVERY_MS = 2000;
const ANSWER_MS = 500;
/** Processes named in one line; the rest are counted. */
const NAMED = 5;

type LiveAnswer = Extract<ControlFromWorker, { type: 'live' }>;

interface Thread { tid: number; worker: { postMessage(m: ControlToWorker): void } }

export class ShutdownProgress {
  private timer: NodeJS.Timeout | undefined;
  private readonly waiting = new Map<number, (m: LiveAnswer | undefined) => void>();
  private stopped = false;
  private readonly log: Logger;
  private readonly threads: () => Thread[];
  private readonly deadlineAt: number;

  /** `threads`: the workers to ask, now; `deadlineAt`: Date.now() when the shutdown grace ends. */
  constructor(log: Logger, threads: () => Thread[], deadlineAt: number) {
    this.log = log;
    this.threads = threads;
    this.deadlineAt = deadlineAt;
  }

  start(): void {
    this.timer = setTimeout(() => void this.tick(), FIRST_MS);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    for (const r of this.waiting.values()) r(undefined);
    this.waiting.clear();
  }

  /** Worker `tid`'s 'live' answer. */
  answer(tid: number, m: LiveAnswer): void {
    const r = this.waiting.get(tid);
    this.waiting.delete(tid);
    r?.(m);
  }

  private ask(th: Thread): Promise<LiveAnswer | undefined> {
    return new Promise((resolve) => {
      const t = setTimeout(() => { this.waiting.delete(th.tid); resolve(undefined); }, ANSWER_MS);
      this.waiting.set(th.tid, (m) => { clearTimeout(t); resolve(m); });
      th.worker.postMessage({ type: 'live', limit: NAMED });
    });
  }

  private async tick(): Promise<void> {
    const answers = await Promise.all(this.threads().map((th) => this.ask(th)));
    if (this.stopped) return;
    let count = 0;
    const named: string[] = [];
    for (const a of answers) {
      if (!a) continue;
      count += a.count;
      for (const [pid, entry] of a.procs) named.push(`${entry} ${pid}`);
    }
    if (count > 0) {
      const shown = named.slice(0, NAMED);
      const more = count - shown.length;
      const left = Math.max(0, Math.ceil((this.deadlineAt - Date.now()) / 1000));
      this.log.warn({ processes: count, deadlineS: left },
        `waiting for ${count} process${count === 1 ? '' : 'es'}: ${shown.join(', ')}${more > 0 ? ` and ${more} more` : ''}; deadline in ${left} s`);
    }
    this.timer = setTimeout(() => void this.tick(), EVERY_MS);
  }
}
