// What `wippy run` serves for looking inside it: the control socket (always) and the Prometheus
// endpoint (when `.wippy.yaml` enables it), both answering from one Sampler (src/ops/snapshot.ts),
// and the application's own metrics (the Lua `metrics` module).
//
// Owns: the wiring of those parts for one runtime, and the operator's lines about them on stderr
// (where the socket is; where /metrics is). May call: socket.ts, prometheus.ts, snapshot.ts,
// user-metrics.ts, and the runtime's 'metric' event. Called once by the CLI right after the
// runtime started and before the services start (so no metric a service records is missed);
// `services` reads the supervisor once it exists.
//
// Nothing here keeps Node alive (unref'd servers and timers), so `wippy run` exits after its stop
// as before; the socket file is removed at exit (socket.ts).
import type { Logger } from 'pino';
import type { Runtime } from '../runtime/runtime.js';
import { ROW_SORT_KEYS, type RowSortKey } from '../runtime/stats.js';
import type { Frame } from '../wire/frames.js';
import { Sampler, type ServiceSource } from './snapshot.js';
import { RequestError, serveControl, socketPath } from './socket.js';
import { UserMetrics } from './user-metrics.js';
import { runtimeRegistry, servePrometheus } from './prometheus.js';
import type { PrometheusConfig } from './address.js';

export interface Ops {
  /** The control socket's path, or undefined when another live app of this root holds it. */
  socket?: string;
  /** The /metrics URL, when the endpoint is enabled. */
  metricsUrl?: string;
  sampler: Sampler;
  metrics: UserMetrics;
  close(): Promise<void>;
}

/** The largest process table one request may ask for per worker (0 = all is allowed too). */
const MAX_LIMIT = 100_000;

/** Serve the control socket and, if configured, /metrics for `rt`. `say` writes one operator line. */
export async function serveOps(rt: Runtime, log: Logger, services: () => ServiceSource | undefined,
  say: (line: string) => void = (l) => process.stderr.write(`wippy: ${l}\n`)): Promise<Ops> {
  const metrics = new UserMetrics(log);
  const onMetric = (f: Frame<'met'>) => metrics.record(f);
  rt.on('metric', onMetric);
  const sampler = new Sampler(rt, services);
  const closers: Array<() => Promise<void>> = [];
  const ops: Ops = {
    sampler, metrics,
    close: async () => {
      rt.off('metric', onMetric);
      sampler.close();
      await Promise.all(closers.map((c) => c()));
    },
  };
  const onError = (what: string) => (e: Error) => log.error({ error: e.message }, `${what}: ${e.message}`);

  const path = socketPath(rt.registry.root);
  try {
    const r = await serveControl(path, (req) => handle(req, sampler, metrics), onError('control socket'));
    if ('busy' in r) {
      say(`another running app answers on the control socket ${path}; \`wippy top\` attaches to that one (this run serves none)`);
    } else {
      ops.socket = path;
      closers.push(r.close);
      say(`control socket ${path} (wippy top | ps | stats)`);
    }
  } catch (e) {
    log.error({ path, error: (e as Error).message }, 'control socket not served');
    say(`control socket not served: ${(e as Error).message}`);
  }

  const prom = (rt.registry.config['prometheus'] ?? {}) as PrometheusConfig;
  if (prom.enabled === true) {
    if (!prom.address) {
      say('prometheus.enabled is true but prometheus.address is not set (.wippy.yaml): the metrics endpoint does not start');
    } else {
      try {
        const reg = runtimeRegistry(() => sampler.snapshot());
        const { server, url } = await servePrometheus(prom.address, [reg, metrics.registry], onError('metrics endpoint'));
        ops.metricsUrl = url;
        closers.push(() => new Promise((res) => { server.close(() => res()); server.closeAllConnections(); }));
        say(`metrics at ${url}`);
      } catch (e) {
        log.error({ address: prom.address, error: (e as Error).message }, 'metrics endpoint not served');
        say(`metrics endpoint not served: prometheus.address "${prom.address}" (.wippy.yaml): ${(e as Error).message}`);
      }
    }
  }
  return ops;
}

/** One control request (the protocol: src/ops/socket.ts). */
async function handle(req: Record<string, unknown>, sampler: Sampler, metrics: UserMetrics): Promise<unknown> {
  switch (req['op']) {
    case 'ping':
      return { ok: true, pid: process.pid };
    case 'snapshot': {
      const t = req['table'] as { limit?: unknown; sort?: unknown } | undefined;
      let table: { limit: number; sort: RowSortKey } | undefined;
      if (t !== undefined && t !== null) {
        const limit = t.limit ?? 0;
        const sort = t.sort ?? 'cpu';
        if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 0 || limit > MAX_LIMIT) {
          throw new RequestError(`table.limit must be an integer from 0 (all) to ${MAX_LIMIT}, got ${JSON.stringify(limit)}`);
        }
        if (!(ROW_SORT_KEYS as readonly unknown[]).includes(sort)) {
          throw new RequestError(`table.sort must be one of ${ROW_SORT_KEYS.join(', ')}, got ${JSON.stringify(sort)}`);
        }
        table = { limit, sort: sort as RowSortKey };
      }
      const snapshot = await sampler.snapshot(table);
      return { ok: true, snapshot: req['metrics'] === true ? { ...snapshot, metrics: await metrics.views() } : snapshot };
    }
    default:
      throw new RequestError(`unknown op ${JSON.stringify(req['op'])} (ops: ping, snapshot)`);
  }
}
