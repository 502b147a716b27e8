// bench:compare (bench/compare.ts): what one round holds — our workloads' results and the
// references' — and the runners of the references that live in this process or a child of it
// (the JS generator actors, postMessage, the SharedArrayBuffer ring); BEAM and piscina run through
// native-bench/.
import { spawn } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Figure } from './harness.js';
import type { Failure } from './report.js';
import {
  generatorPingPong, generatorRing, generatorIdleMemory, postMessageOneWay, postMessagePingPong,
  JS_CEILING_COUNTS, type ErlangResult, type PiscinaResult,
} from '../native-bench/index.js';

/** dist/bench/ -> dist/native-bench/sab-ring.js */
const SAB_RING = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'native-bench', 'sab-ring.js');

/** Our workloads, in bench/run.ts's order (the names `--only` takes). */
export const OUR_WORKLOADS = [
  'spawn-exit', 'hold', 'ping-pong', 'ring', 'fan-in', 'ping-pong-table', 'ring-table', 'job-runner', 'transport',
  'cpu-scaling', 'spawn-burst', 'parallel',
] as const;
export type OurWorkload = (typeof OUR_WORKLOADS)[number];

/** One workload's run in its child process (bench/compare.ts --child NAME). */
export interface OursResult { figures: Figure[]; failures: Failure[] }


export type Beam = ErlangResult['results'];

export interface JsGenerators { pingPong: number; ring: number; idleBytes: number }
export interface PostMessage { oneWay: number; pingPong: number; pingPongP50Us: number }

/** sab-ring.js figures (median of its passes): msgs/s one-way, round trips/s ping-pong. */
export interface SabRing {
  oneWay16: SabCase;
  oneWay256: SabCase;
  pingPong16: SabCase;
}
export interface SabCase { plain: number; write: number; offer: number }

/** Everything measured in one round; a source that failed or was skipped has an entry in `errors`. */
export interface Round {
  ours: Partial<Record<OurWorkload, OursResult>>;
  beam?: Beam;
  gen?: JsGenerators;
  post?: PostMessage;
  piscina?: PiscinaResult;
  sab?: SabRing;
  errors: Partial<Record<RefSource, string>>;
}

export type RefSource = 'beam' | 'gen' | 'post' | 'piscina' | 'sab';

/** Runs `fn` twice and keeps the second, warm pass (the first compiles the hot loops). */
async function warm<T>(fn: () => T | Promise<T>): Promise<T> {
  await fn();
  return fn();
}

export async function runJsGenerators(div: number): Promise<JsGenerators> {
  const c = JS_CEILING_COUNTS;
  const pp = await warm(() => generatorPingPong({ n: c.generatorPingPong / div }));
  const ring = await warm(() => generatorRing({ size: c.ringSize, hops: c.ringHops / div }));
  // Always 100k actors, as js-ceilings.ts does: fewer make the heap delta noisier.
  const mem = generatorIdleMemory({ n: c.idleActors });
  return { pingPong: pp.ops, ring: ring.ops, idleBytes: mem.bytes_per_actor };
}

export async function runPostMessage(div: number): Promise<PostMessage> {
  const c = JS_CEILING_COUNTS;
  const oneWay = await postMessageOneWay({ n: c.postMessageOneWay / div });
  const pp = await postMessagePingPong({ n: c.postMessagePingPong / div });
  return { oneWay: oneWay.ops, pingPong: pp.ops, pingPongP50Us: pp.p50_us };
}

/** "3.96 M" / "480.1 k" -> a number. */
function parseRate(s: string): number {
  const m = /^([\d.]+) ([Mk])$/.exec(s.trim());
  if (!m) throw new Error(`sab-ring: cannot read rate "${s}"`);
  return Number(m[1]) * (m[2] === 'M' ? 1e6 : 1e3);
}

/**
 * sab-ring.ts exports nothing and prints a text report, so it runs as a child and its report is
 * parsed: a heading per case, then one line per kind with the median first.
 */
export async function runSabRing(quick: boolean): Promise<SabRing> {
  const text = await new Promise<string>((done, fail) => {
    const child = spawn(process.execPath, [SAB_RING, ...(quick ? ['--quick'] : [])], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => { out += s; });
    child.stderr.setEncoding('utf8').on('data', (s: string) => { err += s; });
    child.on('close', (code) => (code === 0 ? done(out) : fail(new Error(`sab-ring exited with ${code}: ${err.trim().slice(-500)}`))));
  });
  const cases: Record<string, Partial<SabCase>> = {};
  let current: Partial<SabCase> | undefined;
  for (const ln of text.split('\n')) {
    const head = /^(one-way, 16-byte|one-way, 256-byte|ping-pong, 16-byte) messages/.exec(ln);
    if (head) { current = cases[head[1]!] = {}; continue; }
    const row = /^\s+(plain SAB ring \(ceiling\)|SpscRing write\(\)|SpscRing offer\(\)\/pump\(\))\s+([\d.]+ [Mk])/.exec(ln);
    if (row && current) {
      const key = row[1]!.startsWith('plain') ? 'plain' : row[1]!.includes('offer') ? 'offer' : 'write';
      current[key] = parseRate(row[2]!);
    }
  }
  const get = (name: string): SabCase => {
    const c = cases[name];
    if (!c || c.plain === undefined || c.write === undefined || c.offer === undefined) {
      throw new Error(`sab-ring: case "${name}" missing from its output`);
    }
    return c as SabCase;
  };
  return { oneWay16: get('one-way, 16-byte'), oneWay256: get('one-way, 256-byte'), pingPong16: get('ping-pong, 16-byte') };
}

export const SOURCE_NAMES: Record<RefSource, string> = {
  beam: 'BEAM', gen: 'JS generator actors', post: 'postMessage', piscina: 'piscina', sab: 'SAB ring',
};
