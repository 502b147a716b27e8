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
  const W = ['host', 'worker'] as const;
  const perWorker = (name: string, help: string, kind: 'gauge' | 'counter', read: (w: Snapshot['workers'][number]) => number) => {
    const collect = async function (this: Gauge<'host' | 'worker'> | Counter<'host' | 'worker'>) {
      const s = await snap();
      this.reset();
      for (const w of s.workers) {
        const labels = { host: w.host, worker: String(w.tid) };
        if (kind === 'gauge') (this as Gauge<'host' | 'worker'>).set(labels, read(w));
        else (this as Counter<'host' | 'worker'>).inc(labels, read(w));
      }
    };
    if (kind === 'gauge') new Gauge({ name, help, labelNames: W, registers: [registry], collect });
    else new Counter({ name, help, labelNames: W, registers: [registry], collect });
  };
  perWorker('wippy_processes', 'Live processes per worker', 'gauge', (w) => w.processes);
  perWorker('wippy_processes_started_total', 'Processes started per worker since it booted', 'counter', (w) => w.started);
  perWorker('wippy_processes_exited_total', 'Processes exited per worker since it booted', 'counter', (w) => w.exited);
  perWorker('wippy_messages_delivered_total', 'Messages delivered to processes per worker since it booted', 'counter', (w) => w.delivered);
  perWorker('wippy_mailbox_unread', 'Unread mailbox records of the processes of a worker', 'gauge', (w) => w.unread);
  perWorker('wippy_mailbox_largest', 'Unread records in the largest mailbox of a worker', 'gauge', (w) => w.largestMailbox);
  perWorker('wippy_run_queue_depth', 'Spawns waiting on a worker\'s run queues (deque and inject queue)', 'gauge', (w) => w.queued);
  perWorker('wippy_ring_backlog_frames', 'Frames waiting for room in a worker\'s full outgoing rings', 'gauge', (w) => w.ringBacklog);
  perWorker('wippy_lua_heap_bytes', 'Lua heap in use on a worker (all its processes)', 'gauge', (w) => w.luaHeapBytes);
  perWorker('wippy_wasm_memory_bytes', 'Wasm linear memory of a worker\'s Lua state', 'gauge', (w) => w.wasmBytes);
  new Counter({
    name: 'wippy_run_queue_spawns_total', help: 'Queued spawns per worker: queued (pushed), started from its own queues, from the global queue, stolen from siblings',
    labelNames: ['host', 'worker', 'source'], registers: [registry],
    async collect() {
      const s = await snap();
      this.reset();
      for (const w of s.workers) {
        for (const src of ['pushed', 'own', 'global', 'stolen'] as const) this.inc({ host: w.host, worker: String(w.tid), source: src }, w.queue[src]);
      }
    },
  });
  new Gauge({
    name: 'wippy_run_queue_global_depth', help: 'Spawns waiting on a host\'s global run queue', labelNames: ['host'], registers: [registry],
    async collect() {
      const s = await snap();
      this.reset();
      for (const h of s.hosts) this.set({ host: h.id }, h.globalQueue);
    },
  });
  new Gauge({
    name: 'wippy_workers', help: 'Live worker threads per host', labelNames: ['host'], registers: [registry],
    async collect() {
      const s = await snap();
      this.reset();
      for (const h of s.hosts) this.set({ host: h.id }, h.workers.length);
    },
  });
  new Gauge({
    name: 'wippy_service_up', help: 'A supervised service is running (1) or not (0)', labelNames: ['service', 'state'], registers: [registry],
    async collect() {
      const s = await snap();
      this.reset();
      for (const v of s.services) this.set({ service: v.id, state: v.state }, v.state === 'running' ? 1 : 0);
    },
  });
  new Counter({
    name: 'wippy_service_restarts_total', help: 'Restarts of a supervised service after failures', labelNames: ['service'], registers: [registry],
    async collect() {
      const s = await snap();
      this.reset();
      for (const v of s.services) this.inc({ service: v.id }, v.restarts);
    },
  });
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
