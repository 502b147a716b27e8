// Text views of a snapshot (src/ops/snapshot.ts) for `wippy top`, `wippy ps` and `wippy stats`.
//
// Owns: the layout only. Pure functions of the snapshot (and the terminal width), so tests read
// the exact text for a known snapshot; the CLI (src/cli/ops.ts) prints them, and `top` redraws
// one in place every interval. Numbers: counts with thousands separators, rates with one
// decimal below 100, bytes in KiB/MiB/GiB, milliseconds with one decimal.
import type { Snapshot } from './snapshot.js';
import type { ProcessRow } from '../runtime/stats.js';

type Align = 'l' | 'r';

/** Columns padded to their widest cell; the last column is not padded; lines trimmed on the right. */
export function table(header: string[], rows: string[][], align: Align[]): string[] {
  const w = header.map((h) => h.length);
  for (const r of rows) r.forEach((c, i) => { if (c.length > w[i]!) w[i] = c.length; });
  const line = (r: string[]) => r.map((c, i) => (i === r.length - 1 && align[i] === 'l' ? c
    : align[i] === 'r' ? c.padStart(w[i]!) : c.padEnd(w[i]!))).join('  ').trimEnd();
  return [line(header), ...rows.map(line)];
}

export function count(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

export function rate(n: number): string {
  return n >= 100 ? count(n) : n.toFixed(1);
}

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) { v /= 1024; u++; }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[u]}`;
}

export function duration(sec: number): string {
  const d = Math.floor(sec / 86400);
  const h = Math.floor((sec % 86400) / 3600);
  const m = Math.floor((sec % 3600) / 60);
  const s = Math.floor(sec % 60);
  if (d > 0) return `${d}d${h}h`;
  if (h > 0) return `${h}h${String(m).padStart(2, '0')}m`;
  if (m > 0) return `${m}m${String(s).padStart(2, '0')}s`;
  return `${s}s`;
}

/** Cut to `width` columns (a terminal line), marking the cut. */
function fit(line: string, width: number): string {
  return line.length <= width ? line : `${line.slice(0, Math.max(0, width - 1))}…`;
}

/** The summary lines every view starts with. */
function header(s: Snapshot): string[] {
  const t = s.totals;
  const up = s.services.filter((v) => v.state === 'running').length;
  const restarts = s.services.reduce((n, v) => n + v.restarts, 0);
  const el = s.eventLoop;
  return [
    `app ${s.app}  pid ${s.pid}  up ${duration(s.uptimeSec)}  node ${s.node}`,
    `processes ${count(t.processes)}  started ${count(t.started)} (${rate(t.spawnsPerSec)}/s)  exited ${count(t.exited)}  `
      + `messages ${count(t.delivered)} (${rate(t.messagesPerSec)}/s)  unread ${count(t.unread)}  queued ${count(t.queued)}`,
    `services ${up}/${s.services.length} running, ${count(restarts)} restart${restarts === 1 ? '' : 's'}  `
      + `main event loop: delay p50 ${el.delayP50Ms} ms, p99 ${el.delayP99Ms} ms, max ${el.delayMaxMs} ms; busy ${Math.round(el.utilization * 100)}%`,
  ];
}

function workersTable(s: Snapshot): string[] {
  return table(
    ['HOST', 'WORKER', 'PROCS', 'STARTED', 'EXITED', 'MSGS', 'MSGS/S', 'UNREAD', 'LARGEST', 'QUEUED', 'RING', 'LUA HEAP'],
    s.workers.map((w) => [w.host, `#${w.tid}`, count(w.processes), count(w.started), count(w.exited), count(w.delivered),
      rate(w.messagesPerSec), count(w.unread), count(w.largestMailbox), count(w.queued), count(w.ringBacklog), bytes(w.luaHeapBytes)]),
    ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
  );
}

function servicesTable(s: Snapshot): string[] {
  if (s.services.length === 0) return ['no services'];
  return table(['SERVICE', 'STATE', 'PID', 'RESTARTS', 'LAST ERROR'],
    s.services.map((v) => [v.id, v.state, v.pid ?? '-', count(v.restarts), (v.lastError ?? '').replace(/\s+/g, ' ')]),
    ['l', 'l', 'l', 'r', 'l']);
}

/** The process table: one row per process, in the order given. */
export function processTable(rows: ProcessRow[]): string[] {
  return table(['PID', 'ENTRY', 'NAME', 'WORKER', 'STATE', 'RUNS', 'CPU MS', 'HEAP', 'RECV', 'SENT', 'UNREAD'],
    rows.map((r) => [r.pid, r.entry, r.name || '-', `#${r.tid}`, r.status, count(r.runs), r.cpuMs.toFixed(1), bytes(r.heapBytes),
      count(r.received), count(r.sent), count(r.unread)]),
    ['l', 'l', 'l', 'r', 'l', 'r', 'r', 'r', 'r', 'r', 'r']);
}

/** `wippy top`'s screen: summary, workers, services, the top processes; cut to `width` columns and `height` lines. */
export function renderTop(s: Snapshot, width = 120, height = Infinity): string {
  const lines = [
    `wippy top  ${new Date(s.at).toISOString().slice(11, 19)} UTC  (q quits; order: c cpu, r runs, m received, h heap, s sent, u unread)`,
    ...header(s), '',
    ...workersTable(s), '',
    ...servicesTable(s), '',
    `top ${s.processes?.length ?? 0} processes by ${s.sort ?? 'cpu'}`,
    ...processTable(s.processes ?? []),
  ];
  return lines.slice(0, Math.max(1, height - 1)).map((l) => fit(l, width)).join('\n') + '\n';
}

/** `wippy ps`: the process table. */
export function renderPs(s: Snapshot): string {
  const rows = s.processes ?? [];
  if (rows.length === 0) return 'no processes\n';
  return processTable(rows).join('\n') + '\n';
}

/** `wippy stats`: summary, hosts, workers, services. */
export function renderStats(s: Snapshot): string {
  const hosts = table(['HOST', 'KIND', 'WORKERS', 'PROCS', 'GLOBAL QUEUE'],
    s.hosts.map((h) => [h.id, h.kind, h.workers.map((t) => `#${t}`).join(' '), count(h.processes), count(h.globalQueue)]),
    ['l', 'l', 'l', 'r', 'r']);
  return [...header(s), '', ...hosts, '', ...workersTable(s), '', ...servicesTable(s)].join('\n') + '\n';
}
