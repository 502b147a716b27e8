// The supervisor of `process.service` entries, on the main thread: it starts them, restarts them
// when they fail, and stops them in order.
//
// Model. Each service is a small state machine: unknown -> starting -> running, and on its
// process's EXIT: a normal exit -> exited (never restarted); an error explicitly marked
// non-retryable (`retryable = false`, which `return nil, "text"` produces) -> exited; any other
// error -> failed, and a restart is scheduled. Restart delays grow exponentially: initial_delay,
// then x backoff_factor per further retry, capped at max_delay, each randomised by +-jitter. The
// attempt counter goes back to 1 when the failed run lasted at least stable_threshold; with
// max_attempts > 0 the service stays failed once the counter reaches it.
//
// Order. Services start in dependency order (`lifecycle.requires`, cycles rejected) and stop in
// the reverse order: CANCEL with reason "service stopping" and the stop_timeout as deadline (the
// runtime terminates a process still alive at its deadline), then a wait for its EXIT. Each stop
// is logged ("service stopped", or with the error it ended with), and one still running a second
// after its CANCEL is named ("waiting for service app:db {pid} to stop; deadline in 9 s").
//
// Plain `process.lua` entries with `lifecycle.auto_start` (the supervision seed's pool) are started
// once, unsupervised.
import type { Logger } from 'pino';
import type { Runtime, ExitInfo, SpawnContext } from './runtime.js';
import type { ServiceEntry } from '../registry/types.js';

export const SERVICE_STATES = ['unknown', 'starting', 'running', 'stopping', 'stopped', 'exited', 'failed'] as const;
export type ServiceState = (typeof SERVICE_STATES)[number];

export interface ServiceStatus {
  id: string;
  state: ServiceState;
  pid?: string;
  /** Restarts so far (the attempt counter of the restart policy). */
  attempts: number;
  /** Restarts scheduled after failures since the supervisor started (never goes back to 0). */
  restarts: number;
  lastError?: string;
}

/** Services in an order where every service comes after what it requires. */
export function startOrder(services: ServiceEntry[]): ServiceEntry[] {
  const byId = new Map(services.map((s) => [s.id, s]));
  const out: ServiceEntry[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (s: ServiceEntry, path: string[]) => {
    const st = state.get(s.id);
    if (st === 'done') return;
    if (st === 'visiting') throw new Error(`service dependency cycle: ${[...path, s.id].join(' -> ')}`);
    state.set(s.id, 'visiting');
    for (const r of s.lifecycle.requires) {
      const dep = byId.get(r);
      if (dep) visit(dep, [...path, s.id]);
    }
    state.set(s.id, 'done');
    out.push(s);
  };
  for (const s of services) visit(s, []);
  return out;
}

/** The delay before restart number `attempt` (1-based), without jitter. */
export function backoffMs(p: ServiceEntry['lifecycle']['restart'], attempt: number): number {
  return Math.min(p.maxDelayMs, p.initialDelayMs * p.backoffFactor ** Math.max(0, attempt - 1));
}

/** A service still running this long after its stop's CANCEL is named in a warning. */
const SLOW_STOP_MS = 1000;

interface Slot {
  entry: ServiceEntry;
  status: ServiceStatus;
  startedAt: number;
  timer?: NodeJS.Timeout;
  exited?: () => void;
  /** The error its process exited with after the stop's CANCEL, if any. */
  stopError?: string;
}

export class Supervisor {
  private readonly slots = new Map<string, Slot>();
  private order: ServiceEntry[] = [];
  private stopping = false;

  constructor(private readonly rt: Runtime, private readonly log: Logger, private readonly random: () => number = Math.random) {}

  /** Start every auto_start service (and auto_start process entries), in dependency order. */
  async start(): Promise<ServiceStatus[]> {
    for (const e of this.rt.registry.entries.values()) {
      const lc = e.data['lifecycle'] as { auto_start?: boolean } | undefined;
      if (e.kind !== 'process.lua' || lc?.auto_start !== true) continue;
      const pid = await this.rt.spawn(e.id, undefined, [], (x) => {
        if (x.error) this.log.error({ entry: e.id, pid: x.pid, error: x.error.message }, 'process failed');
        else this.log.info({ entry: e.id, pid: x.pid }, 'process exited');
      });
      this.log.info({ entry: e.id, pid }, 'process started');
    }
    this.order = startOrder(this.rt.registry.services().filter((s) => s.lifecycle.autoStart));
    for (const s of this.order) {
      const slot: Slot = { entry: s, status: { id: s.id, state: 'unknown', attempts: 0, restarts: 0 }, startedAt: 0 };
      this.slots.set(s.id, slot);
      await this.launch(slot);
    }
    return this.status();
  }

  status(): ServiceStatus[] {
    return [...this.slots.values()].map((s) => ({ ...s.status }));
  }

  private async launch(slot: Slot): Promise<void> {
    const s = slot.entry;
    slot.status.state = 'starting';
    const security = s.lifecycle.security as SpawnContext['security'] | undefined;
    try {
      slot.startedAt = Date.now();
      slot.status.pid = await this.rt.spawn(s.process, s.host, s.input, (e) => this.onExit(slot, e), security ? { security } : undefined);
      slot.status.state = 'running';
      this.log.info({ service: s.id, pid: slot.status.pid, attempt: slot.status.attempts }, 'service started');
    } catch (err) {
      slot.status.lastError = (err as Error).message;
      this.log.error({ service: s.id, error: slot.status.lastError }, 'service failed to start');
      this.retry(slot, Date.now());
    }
  }

  private onExit(slot: Slot, e: ExitInfo): void {
    const s = slot.entry;
    slot.exited?.();
    if (this.stopping) { slot.status.state = 'stopped'; slot.stopError = e.error?.message; return; }
    if (!e.error) {
      slot.status.state = 'exited';
      this.log.info({ service: s.id, pid: e.pid }, 'service exited');
      return;
    }
    slot.status.lastError = e.error.message;
    if (e.error.retryable === false) {
      slot.status.state = 'exited';
      this.log.warn({ service: s.id, pid: e.pid, error: e.error.message }, 'service failed with a non-retryable error; not restarted');
      return;
    }
    this.retry(slot, slot.startedAt);
  }

  private retry(slot: Slot, startedAt: number): void {
    const s = slot.entry;
    const p = s.lifecycle.restart;
    slot.status.state = 'failed';
    // A run that lasted the stable threshold counts as a fresh start.
    if (Date.now() - startedAt >= s.lifecycle.stableThresholdMs) slot.status.attempts = 0;
    if (p.maxAttempts > 0 && slot.status.attempts >= p.maxAttempts) {
      this.log.error({ service: s.id, attempts: slot.status.attempts }, 'service failed; restart attempts exhausted');
      return;
    }
    slot.status.attempts++;
    slot.status.restarts++;
    const base = backoffMs(p, slot.status.attempts);
    const delay = Math.max(0, base * (1 + p.jitter * (2 * this.random() - 1)));
    this.log.warn({ service: s.id, attempt: slot.status.attempts, delayMs: Math.round(delay), error: slot.status.lastError }, 'service failed; restarting');
    slot.timer = setTimeout(() => { slot.timer = undefined; void this.launch(slot); }, delay);
  }

  /** Stop services in reverse dependency order: CANCEL "service stopping", wait up to stop_timeout. */
  async stop(): Promise<void> {
    this.stopping = true;
    for (const s of [...this.order].reverse()) {
      const slot = this.slots.get(s.id)!;
      if (slot.timer) { clearTimeout(slot.timer); slot.timer = undefined; }
      if (slot.status.state !== 'running' || !slot.status.pid) continue;
      slot.status.state = 'stopping';
      const gone = new Promise<void>((r) => { slot.exited = r; });
      try {
        this.rt.cancel(slot.status.pid, s.lifecycle.stopTimeoutMs, 'service stopping');
      } catch {
        slot.status.state = 'stopped';
        continue;
      }
      let timer: NodeJS.Timeout | undefined;
      // still running a second after its CANCEL: say whom the stop waits for (the shutdown
      // progress lines of src/runtime/shutdown.ts come after the services)
      const deadline = Date.now() + s.lifecycle.stopTimeoutMs;
      const slow = setTimeout(() => this.log.warn({ service: s.id, pid: slot.status.pid },
        `waiting for service ${s.id} ${slot.status.pid} to stop; deadline in ${Math.max(0, Math.ceil((deadline - Date.now()) / 1000))} s`), SLOW_STOP_MS);
      const timedOut = await Promise.race([gone.then(() => false),
        new Promise<boolean>((r) => { timer = setTimeout(() => r(true), s.lifecycle.stopTimeoutMs + 1000); })]);
      clearTimeout(timer);
      clearTimeout(slow);
      if (timedOut) {
        slot.status.state = 'failed';
        slot.status.lastError = `stop timeout after ${s.lifecycle.stopTimeoutMs}ms`;
        this.log.warn({ service: s.id, pid: slot.status.pid, stopTimeoutMs: s.lifecycle.stopTimeoutMs }, 'service did not stop in time');
      } else if (slot.stopError !== undefined) {
        // "process terminated": it ignored the CANCEL until its stop_timeout
        this.log.warn({ service: s.id, pid: slot.status.pid, error: slot.stopError }, 'service stopped with an error');
      } else {
        this.log.info({ service: s.id, pid: slot.status.pid }, 'service stopped');
      }
    }
  }
}

/** Start the app's services (kept for callers of the first version). */
export async function startServices(rt: Runtime, log: Logger): Promise<Supervisor> {
  const sup = new Supervisor(rt, log);
  await sup.start();
  return sup;
}
