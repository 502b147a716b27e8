// npm run soak: a seeded churn run on two process hosts (stress/soak-app: `soak:main` with two
// workers, `soak:side` with one) that checks, as it goes and at the end, that nothing is lost,
// duplicated or reordered, that every watched exit is reported exactly once, and that resources
// come back to their baseline after every phase.
//
// Shape. The run is a sequence of phases (`--phase` seconds of churn each). A phase starts sinks
// on every worker; then the driver, on the main thread, draws operations from its seeded
// generator and hands them out: agents (one long-lived Lua process per worker) spawn victims
// under every watch form and end them every way (normal, error, CANCEL, terminate, after an
// upgrade), do name round trips and start traffic sources; the driver itself spawns and ends
// victims (rt.spawn / rt.send / rt.cancel / rt.terminate), sends numbered traffic, upgrades sinks
// mid-traffic, crashes supervised services and runs rt.exec jobs. Then the phase quiesces:
// victims are ended, sinks are told which sources to expect and report, agents report their
// open expectations, and the baseline is compared. Every decision comes from the seed, in one
// synchronous order (what happens in between only changes the timing, never the sequence).
//
// Checks.
// - Traffic: every (source, sink, stream) is numbered 1..n; the sink flags a repeat (duplicate or
//   reorder) or a jump (loss) at once, and at the end compares its counts with the source's fin.
//   The streams are the inbox and a listen channel ("L"): upgrades of a sink while L messages
//   are in flight test "upgrade keeps every buffered message, whatever channel it sat in".
// - Exits: a monitored victim gives exactly one EXIT with the value or error its fate implies;
//   a linked victim ending abnormally exactly one LINK_DOWN; its name is gone by the EXIT; JS
//   exit callbacks fire exactly once; sources end with the count they planned; jobs return the
//   right value; every service crash is followed by exactly one restart.
// - Baseline after each phase (exact): live processes per worker, thread loads in the directory,
//   live PID slots, registered names, JS watchers, pending replies, queued frames and ring
//   backlogs of every thread. Memory (noisy, so by the growth rule in soak-lib.ts), sampled once
//   per quiesced phase: the Lua heap of every worker, the JS heap of every thread after a full
//   collection, the workers' wasm memories, and RSS (with a wide bound: allocators keep freed
//   pages).
//
// Options: soak-lib.ts USAGE. The curve has one line per `--interval`. Helpers are in
// soak-lib.ts (generator, growth rule), soak-phases.ts (--kill-worker, --fuzz) and soak-fuzz.ts
// (the fuzz hook point); this file stays one piece (~520 lines) because a phase's operations and
// the checks that account for them have to be read together.
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { loadApp, Runtime, Supervisor, type ExitInfo } from '../src/index.js';
import type { HostEntry } from '../src/registry/types.js';
import { Rand, parseOptions, growth, mib, pad, MiB, type SoakOptions } from './soak-lib.js';
import { killWorkerPhase, fuzzPhase } from './soak-phases.js';
import { HOSTS, sleep, within, TIMEOUT } from './soak-util.js';

const APP = fileURLToPath(new URL('../../stress/soak-app', import.meta.url));
const SERVICES = ['svc_a', 'svc_b', 'svc_c'];
const FATES = ['normal', 'error', 'cancel', 'terminate', 'upgrade'] as const;
const WATCH = ['mon', 'link', 'both', 'mon_after', 'link_after', 'none'] as const;
const JS_FATES = ['normal', 'error', 'cancel', 'terminate'] as const;

/** What a driver draws, with its weight. */
const OPS = {
  victim: 24, end: 20, names: 8, source: 7, upgrade: 4, jsVictim: 5, jsEnd: 5, exec: 6, traffic: 5, svcCrash: 2,
};
type Op = keyof typeof OPS;

interface Snapshot {
  rss: number;
  heap: number[];
  /** JavaScript heap in use: the main thread's, then each worker's (V8 isolates). */
  jsHeap: number[];
  /** Each worker's wasm linear memory (the Lua state's address space; it never shrinks). */
  wasm: number[];
  procs: number[];
  ringBacklog: number[];
  names: number; namedPids: number; watchers: number; replies: number; outgoing: number; mainBacklog: number;
  liveSlots: number;
  load: Record<number, number>;
  staleNames: string[];
}

export class Soak {
  readonly rand: Rand;
  readonly ops: Record<string, number> = {};
  readonly violations: string[] = [];
  readonly notes: string[] = [];
  rt!: Runtime;
  sup!: Supervisor;
  agents: string[] = [];
  base!: Snapshot;
  quiesced: Snapshot[] = [];
  // per-phase state
  sinks: Array<{ pid: string; expect: Set<number>; report: Promise<unknown> }> = [];
  mainSrc = 0;
  mainSeq = new Map<string, number>();
  victims = new Map<number, { agent: number; fate: string }>();
  jsVictims = new Map<number, { fate: string; pid: Promise<string | undefined> }>();
  jsExits: Promise<void>[] = [];
  jobs: Promise<void>[] = [];
  // run-wide
  namedVictims = new Map<string, string>();
  nextK = 1;
  nextSrc = 1;
  crashed = new Set<string>();
  crashesSent = 0;
  listenLosses = 0;
  agentViol = 0;
  start = Date.now();

  constructor(readonly o: SoakOptions) { this.rand = new Rand(o.seed); }

  fail(s: string): void {
    this.violations.push(s);
    console.log(`VIOLATION ${s}`);
  }

  count(op: string, n = 1): void { this.ops[op] = (this.ops[op] ?? 0) + n; }

  // Crash reports (issue 9): only victims fail on purpose, so a report is expected only for a
  // victim whose fate was an error (those spawned unwatched: a watched one must not report), and
  // at most once per PID; any other crash report is a violation.
  private readonly reported = new Set<string>();
  restartsLogged = 0;
  /** Set by the --kill-worker phase: the worker death it causes is logged at level error. */
  killing = false;
  crashReport(rec: Record<string, unknown>, line: string): void {
    const pid = String(rec['pid']);
    if (rec['entry'] !== 'soak:victim' || !String(rec['message']).includes('soak victim error') || !rec['traceback']) {
      this.fail(`unexpected crash report: ${line.trim()}`);
    } else if (this.reported.has(pid)) {
      this.fail(`crash report twice for ${pid}`);
    }
    this.reported.add(pid);
    if (this.reported.size > 50_000) this.reported.clear();
    this.count('crash_report');
  }

  async setup(): Promise<void> {
    const registry = await loadApp(APP);
    (registry.get('soak:main') as HostEntry).host.workers = this.o.workers;
    const logger = pino({ level: 'info', base: undefined }, {
      write: (line: string) => {
        const rec = JSON.parse(line) as Record<string, unknown>;
        // counted as they come: the capped log above forgets old ones (a 10-minute run logs tens
        // of thousands of records, crash reports included)
        if (rec['msg'] === 'service failed; restarting') this.restartsLogged++;
        const msg = String(rec['msg']);
        if (msg === 'process crashed') { this.crashReport(rec, line); return; }
        if (msg === 'worker died' && this.killing) { this.count('worker_died'); return; } // --kill-worker
        if ((rec['level'] as number) >= 50 && !/^service failed|^process failed/.test(msg)) this.fail(`runtime logged an error: ${line.trim()}`);
      },
    });
    this.rt = new Runtime(registry, { logger });
    await this.rt.start();
    this.sup = new Supervisor(this.rt, logger, () => 0.5);
    await this.sup.start();
    // Agents: one per worker of soak:main (spawned in turn: round-robin) and one on soak:side.
    const plan = [...Array.from({ length: this.o.workers }, () => 'soak:main'), 'soak:side'];
    for (let i = 0; i < plan.length; i++) {
      this.agents.push(await this.rt.spawn('soak:agent', plan[i], [`agent${i}`], (e) => {
        if (!this.stopping) this.fail(`agent${i} exited: ${e.error?.message ?? String(e.value)}`);
      }));
    }
    await this.waitServices();
    this.tids = (await this.rt.stats()).map((s) => ({ tid: s.tid, host: s.host }));
    await sleep(300);
    this.base = await this.snapshot();
  }

  stopping = false;

  async snapshot(): Promise<Snapshot> {
    // live bytes, not V8's lazily collected heaps: a full collection on every thread first
    // (npm run soak starts node with --expose-gc; without it the figures are noisier)
    (globalThis as { gc?: () => void }).gc?.();
    const st = await this.rt.stats({ collect: true });
    const i = this.rt.internals();
    return {
      rss: process.memoryUsage().rss, heap: st.map((s) => s.heapBytes), procs: st.map((s) => s.processes),
      jsHeap: [process.memoryUsage().heapUsed, ...st.map((s) => s.jsHeapBytes)], wasm: st.map((s) => s.wasmBytes),
      ringBacklog: st.map((s) => s.ringBacklog), names: i.names, namedPids: i.namedPids, watchers: i.watchers,
      replies: i.replies, outgoing: i.outgoing, mainBacklog: i.ringBacklog, liveSlots: i.liveSlots, load: i.load, staleNames: i.staleNames,
    };
  }

  async waitServices(ms = 15_000): Promise<boolean> {
    const until = Date.now() + ms;
    while (Date.now() < until) {
      const st = this.sup.status();
      if (st.every((s) => s.state === 'running') && SERVICES.every((n) => this.rt.lookup(n) !== undefined)) return true;
      await sleep(50);
    }
    return false;
  }

  // ---- a phase ------------------------------------------------------------------------------

  /** FNV-1a over the phase's decisions: the same seed prints the same hashes. */
  hash = 0x811c9dc5;
  mix(s: string): void {
    for (let i = 0; i < s.length; i++) this.hash = Math.imul(this.hash ^ s.charCodeAt(i), 0x01000193) >>> 0;
  }

  async phase(n: number, steps: number): Promise<void> {
    // sinks: two per worker of every host (rt.spawn is round-robin within a host)
    this.sinks = [];
    for (const host of HOSTS) {
      const per = host === 'soak:main' ? this.o.workers * 2 : 2;
      for (let i = 0; i < per; i++) {
        let resolve!: (v: unknown) => void;
        const report = new Promise<unknown>((r) => { resolve = r; });
        const pid = await this.rt.spawn('soak:sink', host, [], (e) => resolve(e));
        this.sinks.push({ pid, expect: new Set(), report });
      }
    }
    this.count('spawn', this.sinks.length);
    this.mainSrc = this.nextSrc++;
    this.mainSeq.clear();
    for (const s of this.sinks) s.expect.add(this.mainSrc);
    // A fixed number of operations per phase, paced (about 400 a second at most): phase n makes
    // the same decisions on every run with the same seed; only its duration varies.
    this.hash = 0x811c9dc5;
    for (let i = 0; i < steps; i++) {
      this.step();
      if (i % 4 === 3) await sleep(10);
    }
    console.log(`-- phase ${n}: ${steps} operations drawn, decisions hash ${this.hash.toString(16).padStart(8, '0')}; quiescing`);
    await this.quiesce(n);
  }

  /** One operation, drawn from the seed. */
  step(): void {
    const op = this.rand.weighted(OPS);
    const agent = this.rand.int(0, this.agents.length - 1);
    this.mix(op); this.mix(String(agent));
    switch (op) {
      case 'victim': {
        const k = this.nextK++;
        const fate = this.rand.pick(FATES);
        const after = this.rand.pick(['normal', 'error'] as const);
        const watch = this.rand.pick(WATCH);
        const host = this.rand.pick(HOSTS);
        const named = this.rand.next() < 0.3;
        const unreg = this.rand.next() < 0.5;
        this.victims.set(k, { agent, fate });
        this.mix(`${fate}${after}${watch}${host}${named}${unreg}`);
        if (named) this.namedVictims.set(`v${k}`, `${fate}${fate === 'upgrade' ? '->' + after : ''}, watch ${watch}, on ${host}, agent${agent}`);
        this.cmd(agent, { op: 'victim', k, host, watch, fate, after, name: named ? `v${k}` : undefined, unreg });
        this.count('spawn'); this.count(`watch:${watch}`);
        if (named) this.count('name');
        break;
      }
      case 'end': {
        if (this.victims.size === 0) break;
        const keys = [...this.victims.keys()];
        const k = keys[this.rand.int(0, keys.length - 1)]!;
        this.mix(String(k));
        this.endVictim(k);
        break;
      }
      case 'names': this.cmd(agent, { op: 'names', k: this.nextK++ }); this.count('name', 4); break;
      case 'source': {
        const id = this.nextSrc++;
        const targets: Array<{ pid: string; d: number; l: number }> = [];
        const nt = this.rand.int(1, Math.min(4, this.sinks.length));
        const chosen = new Set<number>();
        while (chosen.size < nt) chosen.add(this.rand.int(0, this.sinks.length - 1));
        for (const i of [...chosen].sort((a, b) => a - b)) {
          targets.push({ pid: this.sinks[i]!.pid, d: this.rand.int(5, 60), l: this.rand.int(0, 20) });
          this.sinks[i]!.expect.add(id);
        }
        const host = this.rand.pick(HOSTS);
        this.mix(JSON.stringify(targets.map((t) => [t.d, t.l])) + host);
        this.cmd(agent, { op: 'source', host, plan: { id, seed: this.rand.int(1, 1 << 30), targets, pause: '1ms' } });
        this.count('spawn'); this.count('source');
        this.count('msg', targets.reduce((a, t) => a + t.d + t.l + 1, 0));
        break;
      }
      case 'upgrade': {
        const s = this.rand.pick(this.sinks);
        this.rt.send(s.pid, 'upgrade');
        this.count('upgrade');
        break;
      }
      case 'jsVictim': {
        const fate = this.rand.pick(JS_FATES);
        const host = this.rand.pick(HOSTS);
        let exited = 0;
        let done!: () => void;
        this.jsExits.push(new Promise<void>((r) => { done = r; }));
        this.count('spawn'); this.count('js_victim');
        const pid = this.rt.spawn('soak:victim', host, [{ fate }], (e) => { exited++; this.checkJsExit(fate, e, exited); done(); })
          .catch((err) => { this.fail(`rt.spawn of a victim failed: ${err}`); done(); return undefined; });
        this.jsVictims.set(this.nextK++, { fate, pid });
        break;
      }
      case 'jsEnd': {
        const keys = [...this.jsVictims.keys()];
        if (keys.length === 0) break;
        this.jsEnd(keys[this.rand.int(0, keys.length - 1)]!);
        break;
      }
      case 'exec': {
        const nterms = this.rand.int(1, 40);
        const via = this.rand.next() < 0.3 ? this.rand.pick(HOSTS) : undefined;
        const want = (nterms * (nterms + 1) * (2 * nterms + 1)) / 6;
        this.count('exec');
        this.jobs.push(this.rt.exec('soak:job', via ? [nterms, via] : [nterms]).then(
          (v) => { if (v !== want) this.fail(`rt.exec soak:job ${nterms} ${via ?? ''}: got ${String(v)}, want ${want}`); },
          (e) => this.fail(`rt.exec soak:job ${nterms} ${via ?? ''} failed: ${e}`)));
        if (via) this.count('exec_nested', nterms);
        break;
      }
      case 'traffic': {
        const s = this.rand.pick(this.sinks);
        const nmsg = this.rand.int(1, 20);
        let seq = this.mainSeq.get(s.pid) ?? 0;
        for (let i = 0; i < nmsg; i++) this.rt.send(s.pid, 'd', { src: this.mainSrc, seq: ++seq });
        this.mainSeq.set(s.pid, seq);
        this.count('msg', nmsg);
        break;
      }
      case 'svcCrash': {
        const name = this.rand.pick(SERVICES);
        const pid = this.rt.lookup(name);
        // Crash each life once: one crash, one restart (a second send could hit the dying one).
        if (!pid || this.crashed.has(pid)) { this.count('svc_crash_skipped'); break; }
        try { this.rt.send(pid, 'crash'); } catch { this.count('svc_crash_skipped'); break; }
        this.crashed.add(pid);
        this.crashesSent++;
        this.count('svc_crash');
        break;
      }
    }
  }

  cmd(agent: number, c: Record<string, unknown>): void { this.rt.send(this.agents[agent]!, 'cmd', c); }

  endVictim(k: number): void {
    const v = this.victims.get(k)!;
    this.victims.delete(k);
    this.cmd(v.agent, { op: 'end', k });
    this.count(v.fate === 'cancel' ? 'cancel' : v.fate === 'terminate' ? 'terminate' : v.fate === 'error' ? 'exit_error' : 'exit_normal');
    if (v.fate === 'upgrade') this.count('upgrade');
  }

  /** End a victim the driver spawned; its rt.spawn may still be resolving (then right after). */
  jsEnd(k: number): void {
    const v = this.jsVictims.get(k)!;
    this.jsVictims.delete(k);
    void v.pid.then((pid) => {
      if (!pid) return;
      try {
        if (v.fate === 'cancel') this.rt.cancel(pid, 5000);
        else if (v.fate === 'terminate') this.rt.terminate(pid);
        else this.rt.send(pid, 'go');
      } catch (e) {
        this.fail(`ending JS victim ${pid} (${v.fate}): ${e}`);
      }
    });
    this.count(v.fate === 'cancel' ? 'cancel' : v.fate === 'terminate' ? 'terminate' : v.fate === 'error' ? 'exit_error' : 'exit_normal');
  }

  checkJsExit(fate: string, e: ExitInfo, times: number): void {
    if (times > 1) { this.fail(`JS exit callback of ${e.pid} called ${times} times`); return; }
    const msg = e.error?.message ?? '';
    const ok = fate === 'normal' ? e.value === 'ok'
      : fate === 'cancel' ? e.value === 'cancelled'
      : fate === 'error' ? msg.includes('soak victim error')
      : msg.includes('process terminated');
    if (!ok) this.fail(`JS victim ${e.pid} (${fate}) ended with ${e.error ? msg : JSON.stringify(e.value)}`);
  }

  // ---- quiesce and baseline -----------------------------------------------------------------

  async quiesce(n: number): Promise<void> {
    // End what the phase left alive, in key order (part of the seeded sequence).
    for (const k of [...this.victims.keys()].sort((a, b) => a - b)) this.endVictim(k);
    for (const k of [...this.jsVictims.keys()].sort((a, b) => a - b)) this.jsEnd(k);
    // Victims' and sources' exits first: once the sources are done, every fin is on its way.
    await this.checkAgents(n, true);
    for (const s of this.sinks) {
      this.rt.send(s.pid, 'fin', { src: this.mainSrc, d: this.mainSeq.get(s.pid) ?? 0, l: 0 });
      this.rt.send(s.pid, 'stop', { srcs: [...s.expect].sort((a, b) => a - b) });
    }
    // All sinks at once: one that waits for a lost message must not hold up the others.
    const reports = await Promise.all(this.sinks.map(async (s) => {
      let r = await within(s.report, 5_000);
      if (r === TIMEOUT) {
        try { this.rt.send(s.pid, 'report'); } catch { /* gone */ }
        r = await within(s.report, 10_000);
      }
      return r;
    }));
    for (const [i, r] of reports.entries()) {
      if (r === TIMEOUT) this.fail(`phase ${n}: sink ${i} ${this.sinks[i]!.pid} never reported`);
      else this.sinkReport(n, i, r as ExitInfo);
    }
    if ((await within(Promise.all(this.jsExits), 20_000)) === TIMEOUT) this.fail(`phase ${n}: JS victims without an exit callback`);
    this.jsExits = [];
    if ((await within(Promise.all(this.jobs), 30_000)) === TIMEOUT) this.fail(`phase ${n}: rt.exec jobs never finished`);
    this.jobs = [];
    await this.checkAgents(n, false);
    if (!(await this.waitServices())) this.fail(`phase ${n}: services not all running: ${JSON.stringify(this.sup.status())}`);
    const restarts = this.restartsLogged;
    if (restarts !== this.crashesSent) this.fail(`phase ${n}: ${this.crashesSent} service crashes sent, ${restarts} restarts logged`);
    await this.checkBaseline(n);
  }

  sinkReport(n: number, i: number, e: ExitInfo): void {
    if (e.error) { this.fail(`phase ${n}: sink ${i} crashed: ${e.error.message}`); return; }
    const r = e.value as { got: number; sources: number; nviol: number; viol: string[]; missing: string[]; upgrades: number; llost: number; final: boolean };
    this.count('received', r.got);
    this.count('sink_upgrades_done', r.upgrades);
    const lines = [...list(r.viol), ...list(r.missing)];
    if (lines.length === 0) return;
    const listenOnly = lines.every((l) => /^L |: L got /.test(l));
    if (listenOnly && this.o.allowListenLoss) {
      this.listenLosses += r.llost;
      this.notes.push(`phase ${n} sink ${i} (${r.upgrades} upgrades): ${lines.slice(0, 3).join('; ')}`);
      return;
    }
    this.fail(`phase ${n}: sink ${i} ${e.pid} (${r.upgrades} upgrades, got ${r.got}): ${r.nviol + list(r.missing).length} problems: ${lines.slice(0, 6).join('; ')}`);
  }

  async ask(agent: string, topic: string): Promise<any> {
    this.count('exec');
    return this.rt.exec('soak:ask', [agent, topic, null, '10s']);
  }

  /** Agents' open expectations and violations; with `settle`, wait until nothing is open. */
  async checkAgents(n: number, settle: boolean): Promise<void> {
    const until = Date.now() + 60_000;
    for (;;) {
      const answers = await Promise.all(this.agents.map((a) => this.ask(a, 'check')));
      let open = 0, nviol = 0;
      const viol: string[] = [];
      for (const a of answers) {
        if (a?.timeout) { this.fail(`phase ${n}: an agent did not answer`); return; }
        open += a.open + a.live; nviol += a.nviol; viol.push(...list(a.viol));
      }
      if (nviol > this.agentViol) {
        this.fail(`phase ${n}: agents found ${nviol - this.agentViol} problems: ${viol.slice(0, 6).join('; ')}`);
        this.agentViol = nviol;
      }
      if (!settle || open === 0) {
        if (settle) {
          let ex = 0, ld = 0;
          for (const a of answers) { ex += a.counts.exits; ld += a.counts.link_downs; }
          this.ops['EXIT'] = ex; this.ops['LINK_DOWN'] = ld;
        }
        return;
      }
      if (Date.now() > until) { this.fail(`phase ${n}: ${open} victim expectations still open (EXIT / LINK_DOWN never arrived)`); return; }
      await sleep(100);
    }
  }

  async checkBaseline(n: number): Promise<void> {
    const b = this.base;
    let s = await this.snapshot();
    let diff: string[] = [];
    const until = Date.now() + 10_000;
    for (;;) {
      diff = [];
      const cmp = (what: string, got: unknown, want: unknown) => { if (JSON.stringify(got) !== JSON.stringify(want)) diff.push(`${what} ${JSON.stringify(got)} (baseline ${JSON.stringify(want)})`); };
      // Per host, not per worker: a restarted service may start on a sibling worker.
      cmp('processes per host', this.perHost(s.procs), this.perHost(b.procs));
      cmp('thread loads per host', this.perHost(Object.values(s.load)), this.perHost(Object.values(b.load)));
      cmp('names held by dead PIDs', s.staleNames, []);
      cmp('live PID slots', s.liveSlots, b.liveSlots);
      cmp('names', s.names, b.names);
      cmp('named PIDs', s.namedPids, b.namedPids);
      cmp('JS watchers', s.watchers, b.watchers);
      cmp('pending replies', s.replies, 0);
      cmp('queued frames (main)', s.outgoing, 0);
      cmp('ring backlog (main)', s.mainBacklog, 0);
      cmp('ring backlog (workers)', s.ringBacklog, s.ringBacklog.map(() => 0));
      if (diff.length === 0 || Date.now() > until) break;
      await sleep(200);
      s = await this.snapshot();
    }
    if (diff.length) {
      const stale = s.staleNames.map((x) => `${x} (${this.namedVictims.get(x.split('=')[0]!) ?? '?'})`);
      this.fail(`phase ${n}: not back to baseline: ${diff.join('; ')}${stale.length ? `; stale names: ${stale.join(', ')}` : ''}`);
    }
    this.quiesced.push(s);
    // The driver's own bookkeeping must not grow with the run either (it is part of the main
    // thread's JS heap the growth rule judges): victims named in this phase are all gone now.
    this.namedVictims.clear();
    console.log(`-- phase ${n} quiesced: ${diff.length ? 'NOT at baseline' : 'baseline ok'} (processes ${s.procs.join('+')}, names ${s.names}, slots ${s.liveSlots}); RSS ${mib(s.rss)} MiB, Lua heap ${s.heap.map(mib).join('+')} MiB, JS heap ${s.jsHeap.map(mib).join('+')} MiB, wasm memory ${s.wasm.map(mib).join('+')} MiB`);
  }

  tids: Array<{ tid: number; host: string }> = [];
  /** Worker values (in stats() order) summed per host. */
  perHost(xs: number[]): Record<string, number> {
    const out: Record<string, number> = {};
    xs.forEach((x, i) => { const h = this.tids[i]!.host; out[h] = (out[h] ?? 0) + x; });
    return out;
  }

  // ---- curve --------------------------------------------------------------------------------

  private header = false;
  async curveLine(): Promise<void> {
    const s = await this.snapshot();
    await this.checkAgents(0, false);
    const keys = ['spawn', 'msg', 'received', 'exec', 'upgrade', 'cancel', 'terminate', 'exit_error', 'name', 'svc_crash'];
    if (!this.header) {
      this.header = true;
      console.log(`${pad('t(s)', 6)} ${keys.map((k) => pad(k, 9)).join(' ')} ${pad('RSS', 7)} ${pad('Lua heap MiB', 16)} ${pad('procs', 9)} ${pad('names', 6)}`);
    }
    console.log(`${pad(((Date.now() - this.start) / 1000).toFixed(0), 6)} ${keys.map((k) => pad(this.ops[k] ?? 0, 9)).join(' ')} ${pad(mib(s.rss), 7)} ${pad(s.heap.map(mib).join('+'), 16)} ${pad(s.procs.join('+'), 9)} ${pad(s.names, 6)}`);
  }

}

/** A Lua list as decoded on the main thread: an array, or an object when it was empty. */
function list(x: unknown): string[] {
  return Array.isArray(x) ? x : x && typeof x === 'object' ? Object.values(x) as string[] : [];
}

async function main(): Promise<number> {
  const o = parseOptions(process.argv.slice(2));
  console.log(`soak: seed ${o.seed}, ${o.minutes} min, soak:main ${o.workers} workers + soak:side 1, phases of ${o.phase} s, curve every ${o.interval} s, Node ${process.version}`);
  const s = new Soak(o);
  await s.setup();
  console.log(`baseline: processes ${s.base.procs.join('+')}, names ${s.base.names}, live PID slots ${s.base.liveSlots}, RSS ${mib(s.base.rss)} MiB, Lua heap ${s.base.heap.map(mib).join('+')} MiB`);
  const end = s.start + o.minutes * 60_000;
  let curveBusy = false;
  const curve = setInterval(() => {
    if (curveBusy) return;
    curveBusy = true;
    s.curveLine().finally(() => { curveBusy = false; });
  }, o.interval * 1000);
  let n = 0;
  while (n === 0 || Date.now() < end - 2000) {
    n++;
    await s.phase(n, Math.round(o.phase * 250));
  }
  clearInterval(curve);
  await s.curveLine();
  if (o.fuzz) await fuzzPhase(s, Date.now() + Math.max(10_000, o.minutes * 6_000));
  if (o.killWorker) await killWorkerPhase(s);
  // The growth rule over the quiesced samples (soak-lib.ts growth()).
  // Leaks are judged on live bytes: the Lua heaps (after a full Lua collection), the JS heaps of
  // every thread (after a full V8 collection) and the workers' wasm memories. RSS also counts
  // what allocators keep after a free (V8 pages, malloc arenas): a 10-minute run on Node 20 rose
  // 164 -> 194 MiB and then stayed flat while every live figure stayed flat, so RSS gets a wide
  // bound that still catches a real leak (one that keeps growing fails it within minutes).
  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
  const rss = growth(s.quiesced.map((q) => q.rss), 64 * MiB, 0.4);
  const heap = growth(s.quiesced.map((q) => sum(q.heap)), 2 * MiB, 0.25);
  const jsHeap = growth(s.quiesced.map((q) => sum(q.jsHeap)), 8 * MiB, 0.25);
  const wasm = growth(s.quiesced.map((q) => sum(q.wasm)), 16 * MiB, 0.25);
  const say = (what: string, g: ReturnType<typeof growth>) => g.n < 2
    ? `${what}: too few phases after warm-up (${g.n}) to judge growth`
    : `${what}: median of first third ${mib(g.first)} MiB, of last third ${mib(g.last)} MiB, limit ${mib(g.limit)} MiB over ${g.n} phases: ${g.ok ? 'ok' : 'GROWTH'}`;
  console.log(say('RSS', rss));
  console.log(say('Lua heap (all workers)', heap));
  console.log(say('JS heap (all threads, after GC)', jsHeap));
  console.log(say('wasm memory (all workers)', wasm));
  if (!rss.ok) s.fail(`RSS grows: ${say('RSS', rss)}`);
  if (!heap.ok) s.fail(`Lua heap grows: ${say('Lua heap', heap)}`);
  if (!jsHeap.ok) s.fail(`JS heap grows: ${say('JS heap', jsHeap)}`);
  if (!wasm.ok) s.fail(`wasm memory grows: ${say('wasm memory', wasm)}`);
  s.stopping = true;
  await s.sup.stop();
  await s.rt.stop(3000);
  const ops = Object.entries(s.ops).sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `${k}=${v}`).join(' ');
  console.log(`operations: ${ops}`);
  if (s.notes.length) {
    console.log(`known issue (--allow-listen-loss): ${s.listenLosses} listen-channel losses across upgrades:`);
    for (const l of s.notes.slice(0, 10)) console.log(`  ${l}`);
  }
  console.log(s.violations.length === 0 ? `soak: PASS (${n} phases, seed ${o.seed})` : `soak: FAIL, ${s.violations.length} violations (seed ${o.seed})`);
  return s.violations.length === 0 ? 0 : 1;
}

main().then((code) => process.exit(code), (e) => { console.error(e); process.exit(2); });
