// `node dist/bench/stages.js DIR`: the per-stage table of a cross-worker round trip from the
// stage stamps two workers wrote (WIPPY_STAGES=DIR, src/host/stages.ts), e.g.
//
//   mkdir -p /tmp/st && WIPPY_STAGES=/tmp/st node dist/bench/run.js --quick --only ping-pong --no-write
//   node dist/bench/stages.js /tmp/st
//
// (the last run's files win: each worker writes stages-<tid>.json at its shutdown, so run one
// cross-worker variant — bench/run.ts runs the same-worker ones first, whose tids are reused;
// the table reads the two files with the most message steps.)
//
// A "message step" is a step that had input, called `H.route` (a send to another worker) and
// sent to another thread: one side of a ping-pong answering. The first quarter of them is
// dropped (warm-up). Figures are p10 / p50 in µs: p10 is the one with the least of other jobs
// in it on a loaded machine. "→ peer's drain" pairs this side's step end with the first step of
// the peer that began after it and had input (the stamps of two threads, ± 0.5 µs; see
// stages.ts). "came by" counts how each side's message steps were reached (busy: at once after
// the previous step; spin; the reply wait; a park; after a breathe) — a park split by why the spin
// before it ended: it ran out (its limit or the reply wait's window: "park"), the spin rule
// refused it at its start (no free core for one more spinner of ours), or the rule ended the
// reply wait (a thread of ours woke, or the free cores fell): Doorbell.spinEnd.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

interface Dump { tid: number; timeOrigin: number; fields: string[]; records: number[][] }
const [DRAIN, STEP, NOW, ROUTE, POST, STEP_END, FLUSH_END, BYTES, SENT, HOW, CPU] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
const HOWS = ['busy', 'spin', 'await', 'park', 'breathe', 'park (spin refused by the rule)', 'park (wait ended by the rule)'];

function pct(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}
const us = (ms: number) => ms * 1000;
const fmt = (xs: number[]) => `${pct(xs, 10).toFixed(1)} / ${pct(xs, 50).toFixed(1)}`;

function messageSteps(d: Dump): number[][] {
  const m = d.records.filter((r) => r[BYTES]! > 0 && r[ROUTE]! > 0 && r[SENT]! > 0);
  return m.slice(Math.floor(m.length / 4));
}

function main(): void {
  const dir = process.argv[2];
  if (!dir) { process.stderr.write('usage: node dist/bench/stages.js DIR\n'); process.exit(2); }
  const dumps: Dump[] = readdirSync(dir).filter((f) => /^stages-\d+\.json$/.test(f))
    .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as Dump)
    .sort((a, b) => messageSteps(b).length - messageSteps(a).length).slice(0, 2);
  if (dumps.length < 2) { process.stderr.write(`${dir}: need two workers' stamps\n`); process.exit(1); }
  const rows: Array<[string, string, string]> = [];
  const sides = dumps.map((d, i) => ({ d, peer: dumps[1 - i]!, steps: messageSteps(d) }));
  const col = (name: string, f: (r: number[]) => number) =>
    rows.push([name, fmt(sides[0]!.steps.map(f)), fmt(sides[1]!.steps.map(f))]);
  col('drain (rings → input area)', (r) => us(r[STEP]! - r[DRAIN]!));
  col('kernel step, of which:', (r) => us(r[STEP_END]! - r[STEP]!));
  // A kernel that reads the step's clock with H.now before its first resume (before the clock
  // came from JS): that split too.
  const nowFirst = sides.every(({ steps }) => steps.length > 0 && steps.every((r) => r[NOW]! > 0 && r[NOW]! <= r[ROUTE]!));
  col('· until H.route (deliver_batch: decode, handler, mailbox; resume, receive, process.send)', (r) => us(r[ROUTE]! - r[STEP]!));
  if (nowFirst) {
    col('  · deliver_batch until the first H.now', (r) => us(r[NOW]! - r[STEP]!));
    col('  · H.now → resume → receive → process.send until H.route', (r) => us(r[ROUTE]! - r[NOW]!));
  }
  // Since __step returns the step's frames for other workers (pids.lua take_out), the first post
  // is made in JS once the step has returned; before, by H.post from inside the step.
  col('· H.route, encode, the process yields, step end, until the first frame posted', (r) => us(r[POST]! - r[ROUTE]!));
  col('· the first frame posted → back in the loop', (r) => us(r[STEP_END]! - r[POST]!));
  col('flush (batch → ring, doorbell)', (r) => us(r[FLUSH_END]! - r[STEP_END]!));
  // this side's step end → the peer's next drain with input (absolute clocks)
  const transit = sides.map(({ d, peer, steps }) => {
    const off = d.timeOrigin - peer.timeOrigin;
    const pin = peer.records.filter((r) => r[BYTES]! > 0);
    const out: number[] = [];
    let j = 0;
    for (const r of steps) {
      const end = r[STEP_END]! + off; // in the peer's clock
      while (j < pin.length && pin[j]![DRAIN]! < end) j++;
      if (j < pin.length) out.push(us(pin[j]![DRAIN]! - end));
    }
    return out;
  });
  rows.push(['step end → the peer\'s drain (flush, transit, the peer coming to it)', fmt(transit[0]!), fmt(transit[1]!)]);
  const loopGap = sides.map(({ steps }) => {
    const out: number[] = [];
    for (let i = 1; i < steps.length; i++) out.push(us(steps[i]![DRAIN]! - steps[i - 1]![DRAIN]!));
    return out;
  });
  rows.push(['one message step to the next, same side (a round trip)', fmt(loopGap[0]!), fmt(loopGap[1]!)]);
  const came = sides.map(({ steps }) => {
    const c = HOWS.map(() => 0);
    for (const r of steps) c[r[HOW]!]!++;
    return HOWS.map((h, i) => `${h} ${(c[i]! / steps.length).toFixed(3)}`).join(', ');
  });
  const cpu = sides.map(({ steps }) => steps.map((r) => r[CPU] ?? 0));
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
  rows.push(['thread CPU of a message step, drain to flush end (mean; p50)', ...cpu.map((c) => `${mean(c).toFixed(1)}; ${pct(c, 50).toFixed(1)}`) as [string, string]]);
  rows.push(['came by (share of message steps)', came[0]!, came[1]!]);
  const w = Math.max(...rows.map((r) => r[0].length));
  process.stdout.write(`| stage, one message, one side | tid ${sides[0]!.d.tid} (${sides[0]!.steps.length} steps) µs p10 / p50 | tid ${sides[1]!.d.tid} (${sides[1]!.steps.length}) |\n|---|---|---|\n`);
  for (const [a, b, c] of rows) process.stdout.write(`| ${a.padEnd(w)} | ${b} | ${c} |\n`);
}

main();
