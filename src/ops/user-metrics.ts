// The application's own metrics: what processes record with the Lua `metrics` module
// (src/lua/lib/metrics.lua), kept in one prom-client registry on the main thread.
//
// Owns: that registry and the metric objects in it, created on a name's first use with the type
// and the label names of that use. May call: prom-client. Fed by the runtime's 'metric' event
// (one per "met" frame: [op, name, value, labels], src/wire/spec.ts), so it needs no hook in the
// runtime beyond that event.
//
// Rules. A name is one metric: the first use fixes its type (counter, gauge, histogram) and its
// label names. A later use with another type or other label names, or a name the runtime's own
// metrics use (RESERVED prefixes), is dropped and logged once per name and problem: the Lua side
// checks this per worker and returns an error, so only a clash between processes on different
// workers reaches here. Histograms use prom-client's default buckets (5 ms .. 10 s, for
// durations in seconds as the docs' example records).
//
// Alternatives rejected: prom-client's global registry (tests and two runtimes in one Node
// process would share it); summing on the workers and shipping totals (a frame per call costs
// the same as the logger's, and keeps the order of one process's calls).
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Logger } from 'pino';
import { I, type Frame } from '../wire/frames.js';

/** Prefixes of the runtime's own metric names (src/ops/prometheus.ts, prom-client's defaults). */
export const RESERVED = ['wippy_', 'process_', 'nodejs_'];

type Kind = 'counter' | 'gauge' | 'histogram';
const KIND_OF: Record<string, Kind> = { c: 'counter', g: 'gauge', ga: 'gauge', h: 'histogram' };

interface Def { kind: Kind; labelNames: string[]; metric: Counter | Gauge | Histogram }

/** One user metric and its current values, as `wippy stats --json` lists them. */
export interface UserMetricView {
  name: string;
  type: Kind;
  values: Array<{ labels: Record<string, string>; value?: number; count?: number; sum?: number }>;
}

export class UserMetrics {
  readonly registry = new Registry();
  private readonly defs = new Map<string, Def>();
  private readonly warned = new Set<string>();
  private readonly log: Logger;

  constructor(log: Logger) {
    this.log = log;
  }

  /** Apply one "met" frame. */
  record(f: Frame<'met'>): void {
    const op = f[I.met.op];
    const name = f[I.met.name];
    const value = f[I.met.value];
    const raw = f[I.met.labels];
    const kind = KIND_OF[op];
    if (kind === undefined || typeof name !== 'string' || typeof value !== 'number') return;
    const labels: Record<string, string> = {};
    if (raw && typeof raw === 'object') for (const [k, v] of Object.entries(raw as object)) labels[k] = String(v);
    const labelNames = Object.keys(labels).sort();
    const def = this.define(name, kind, labelNames);
    if (!def) return;
    if (op === 'c') (def.metric as Counter).inc(labels, value);
    else if (op === 'g') (def.metric as Gauge).set(labels, value);
    else if (op === 'ga') (def.metric as Gauge).inc(labels, value);
    else (def.metric as Histogram).observe(labels, value);
  }

  private define(name: string, kind: Kind, labelNames: string[]): Def | undefined {
    const def = this.defs.get(name);
    if (def) {
      if (def.kind !== kind) return this.refuse(name, `is a ${def.kind}, used as a ${kind}`);
      if (def.labelNames.join(',') !== labelNames.join(',')) {
        return this.refuse(name, `has labels {${def.labelNames.join(',')}}, used with {${labelNames.join(',')}}`);
      }
      return def;
    }
    if (RESERVED.some((p) => name.startsWith(p))) return this.refuse(name, `uses a prefix the runtime's metrics use (${RESERVED.join(', ')})`);
    const cfg = { name, help: `${name} (Lua metrics module)`, labelNames, registers: [this.registry] };
    const metric = kind === 'counter' ? new Counter(cfg) : kind === 'gauge' ? new Gauge(cfg) : new Histogram(cfg);
    const d: Def = { kind, labelNames, metric };
    this.defs.set(name, d);
    return d;
  }

  private refuse(name: string, why: string): undefined {
    const key = `${name}: ${why}`;
    if (!this.warned.has(key)) {
      this.warned.add(key);
      this.log.warn({ metric: name }, `metric ${name} ${why}; dropped`);
    }
    return undefined;
  }

  /** Every user metric and its values (histograms: count and sum per label set). */
  async views(): Promise<UserMetricView[]> {
    const out: UserMetricView[] = [];
    for (const m of await this.registry.getMetricsAsJSON()) {
      const def = this.defs.get(m.name);
      if (!def) continue;
      const v: UserMetricView = { name: m.name, type: def.kind, values: [] };
      if (def.kind !== 'histogram') {
        for (const x of m.values) v.values.push({ labels: strLabels(x.labels), value: x.value });
      } else {
        const by = new Map<string, { labels: Record<string, string>; count?: number; sum?: number }>();
        for (const x of m.values as Array<{ labels: Record<string, unknown>; value: number; metricName?: string }>) {
          const labels = strLabels(x.labels);
          delete labels['le'];
          const key = JSON.stringify(labels);
          let e = by.get(key);
          if (!e) { e = { labels }; by.set(key, e); }
          if (x.metricName === `${m.name}_count`) e.count = x.value;
          else if (x.metricName === `${m.name}_sum`) e.sum = x.value;
        }
        v.values.push(...by.values());
      }
      out.push(v);
    }
    return out.sort((a, b) => (a.name < b.name ? -1 : 1));
  }
}

function strLabels(l: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(l)) out[k] = String(v);
  return out;
}
