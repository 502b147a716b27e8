// Starting `process.service` entries marked `lifecycle.auto_start`, in dependency order
// (`lifecycle.requires`). This issue starts each service once and logs its exit; restart policies
// (backoff, jitter, max attempts, stable threshold) belong to the supervisor issue.
import type { Logger } from 'pino';
import type { Runtime, SpawnContext } from './runtime.js';
import type { ServiceEntry } from '../registry/types.js';

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

export async function startServices(rt: Runtime, log: Logger): Promise<Array<{ id: string; pid: string }>> {
  const started: Array<{ id: string; pid: string }> = [];
  // Plain process entries with lifecycle.auto_start (the supervision seed's pool) start once, on
  // meta.default_host or the first process.host.
  for (const e of rt.registry.entries.values()) {
    const lc = e.data['lifecycle'] as { auto_start?: boolean } | undefined;
    if (e.kind !== 'process.lua' || lc?.auto_start !== true) continue;
    const pid = await rt.spawn(e.id, undefined, [], (x) => {
      if (x.error) log.error({ entry: e.id, pid: x.pid, error: x.error.message }, 'process failed');
      else log.info({ entry: e.id, pid: x.pid }, 'process exited');
    });
    started.push({ id: e.id, pid });
  }
  for (const s of startOrder(rt.registry.services().filter((x) => x.lifecycle.autoStart))) {
    const security = s.lifecycle.security as SpawnContext['security'] | undefined;
    const pid = await rt.spawn(s.process, s.host, s.input, (e) => {
      if (e.error) log.error({ service: s.id, pid: e.pid, error: e.error.message }, 'service failed');
      else log.info({ service: s.id, pid: e.pid }, 'service exited');
    }, security ? { security } : undefined);
    log.info({ service: s.id, pid }, 'service started');
    started.push({ id: s.id, pid });
  }
  return started;
}
