// The Prometheus endpoint of `wippy run`: GET /metrics on the address `.wippy.yaml` gives, off by
// default (Wippy's configuration:
//   prometheus:
//     enabled: true
//     address: "localhost:9090"
// and, as in Wippy, enabled without an address does not start the server).
//
// Owns: the runtime's metric definitions (RUNTIME_METRICS below: processes, spawns, exits,
// messages, mailboxes, run queues, rings, heaps, services), the HTTP server, and the scrape:
// one snapshot per scrape (src/ops/snapshot.ts) read by every metric's collect(). prom-client's
// default metrics add the Node process figures: CPU, memory, handles, GC, and the event loop
// (nodejs_eventloop_lag_seconds and its percentiles). The application's metrics (the Lua
// `metrics` module, src/ops/user-metrics.ts) are their own registry, appended to the same page.
//
// Counters. The workers count since they booted; a scrape sets each counter to that count
// (reset, then inc), so a replaced worker's counters start again from 0, which Prometheus's
// rate() reads as a counter reset.
//
// Alternatives rejected: the global prom-client registry (two runtimes or tests in one Node
// process would share it); a push to a gateway (Wippy exposes a pull endpoint).
import { createServer, type Server } from 'node:http';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { Snapshot } from './snapshot.js';
import { parseAddress } from './address.js';

export { parseAddress } from './address.js';

type Snap = () => Promise<Snapshot>;

/** The runtime's metrics in a registry of their own, reading one snapshot per scrape. */
export function runtimeRegistry(snapshot: Snap): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  // Every collect() of one scrape runs before any awaits resolve: they share one snapshot.
  let pending: Promise<Snapshot> | undefined;
  const snap = (): Promise<Snapshot> => {
    if (!pending) {
      pending = snapshot();
      const clear = () => { pending = undefined; };
      pending.then(() => setImmediate(clear), () => setImmediate(clear));
    }
    return pending;
  };
  // One metric: on each scrape, its series are what `read` finds in the snapshot. A counter is
  // set to the count by reset + inc (see the top: the workers count since they booted).
  type Series = Array<[Record<string, string>, number]>;
  const metric = (kind: 'gauge' | 'counter', name: string, help: string, labelNames: string[], read: (s: Snapshot) => Series) => {
    const cfg = {
      name, help, labelNames, registers: [registry],
      async collect(this: Gauge | Counter) {
        const series = read(await snap());
        this.reset();
        for (const [labels, v] of series) {
          if (kind === 'gauge') (this as Gauge).set(labels, v);
          else (this as Counter).inc(labels, v);
        }
      },
    };
    if (kind === 'gauge') new Gauge(cfg);
    else new Counter(cfg);
  };
  type WorkerView = Snapshot['workers'][number];
  const perWorker = (kind: 'gauge' | 'counter', name: string, help: string, read: (w: WorkerView) => number) =>
    metric(kind, name, help, ['host', 'worker'], (s) => s.workers.map((w) => [{ host: w.host, worker: String(w.tid) }, read(w)]));
  perWorker('gauge', 'wippy_processes', 'Live processes per worker', (w) => w.processes);
  perWorker('counter', 'wippy_processes_started_total', 'Processes started per worker since it booted', (w) => w.started);
  perWorker('counter', 'wippy_processes_exited_total', 'Processes exited per worker since it booted', (w) => w.exited);
  perWorker('counter', 'wippy_messages_delivered_total', 'Messages delivered to processes per worker since it booted', (w) => w.delivered);
  perWorker('gauge', 'wippy_mailbox_unread', 'Unread mailbox records of the processes of a worker', (w) => w.unread);
  perWorker('gauge', 'wippy_mailbox_largest', 'Unread records in the largest mailbox of a worker', (w) => w.largestMailbox);
  perWorker('gauge', 'wippy_run_queue_depth', 'Spawns waiting on a worker\'s run queues (deque and inject queue)', (w) => w.queued);
  perWorker('gauge', 'wippy_ring_backlog_frames', 'Frames waiting for room in a worker\'s full outgoing rings', (w) => w.ringBacklog);
  perWorker('gauge', 'wippy_lua_heap_bytes', 'Lua heap in use on a worker (all its processes)', (w) => w.luaHeapBytes);
  perWorker('gauge', 'wippy_wasm_memory_bytes', 'Wasm linear memory of a worker\'s Lua state', (w) => w.wasmBytes);
  metric('counter', 'wippy_run_queue_spawns_total',
    'Queued spawns per worker: queued (pushed), started from its own queues, from the global queue, stolen from siblings',
    ['host', 'worker', 'source'], (s) => s.workers.flatMap((w) => (['pushed', 'own', 'global', 'stolen'] as const)
      .map((src): [Record<string, string>, number] => [{ host: w.host, worker: String(w.tid), source: src }, w.queue[src]])));
  metric('gauge', 'wippy_run_queue_global_depth', 'Spawns waiting on a host\'s global run queue', ['host'],
    (s) => s.hosts.map((h) => [{ host: h.id }, h.globalQueue]));
  metric('gauge', 'wippy_workers', 'Live worker threads per host', ['host'], (s) => s.hosts.map((h) => [{ host: h.id }, h.workers.length]));
  metric('gauge', 'wippy_service_up', 'A supervised service is running (1) or not (0)', ['service', 'state'],
    (s) => s.services.map((v) => [{ service: v.id, state: v.state }, v.state === 'running' ? 1 : 0]));
  metric('counter', 'wippy_service_restarts_total', 'Restarts of a supervised service after failures', ['service'],
    (s) => s.services.map((v) => [{ service: v.id }, v.restarts]));
  return registry;
}

/** The text a scrape returns: the runtime's registry, then each further one (the app's metrics). */
export async function scrape(registries: Registry[]): Promise<string> {
  const parts = await Promise.all(registries.map((r) => r.metrics()));
  return parts.filter((p) => p.length > 0).map((p) => (p.endsWith('\n') ? p : `${p}\n`)).join('');
}

/** Serve GET /metrics on `address`; resolves with the server once it listens (its port when 0 was asked). */
export function servePrometheus(address: string, registries: Registry[], onError: (e: Error) => void): Promise<{ server: Server; url: string }> {
  const { host, port } = parseAddress(address);
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' || path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: the metrics are at GET /metrics\n');
      return;
    }
    scrape(registries).then((text) => {
      res.writeHead(200, { 'content-type': registries[0]!.contentType }).end(text);
    }, (e: Error) => {
      onError(e);
      res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics failed: ${e.message}\n`);
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      server.on('error', onError);
      server.unref(); // the endpoint never keeps `wippy run` alive by itself
      const a = server.address();
      const p = a && typeof a === 'object' ? a.port : port;
      resolve({ server, url: `http://${host.includes(':') ? `[${host}]` : host}:${p}/metrics` });
    });
  });
}
