/**
 * Runs the BEAM reference benchmarks (`erlang/bench.escript`) and returns its
 * JSON, or `{ skipped }` when Erlang is not installed.
 *
 * The number of schedulers is set with `ERL_FLAGS="+S N:N"`, which escript
 * passes to the emulator; the escript reports the schedulers it actually ran
 * with and a mismatch is an error, not a silently wrong figure.
 *
 * As a script: node dist/native-bench/run-erlang.js [--quick] [--schedulers 1,2] [--runs N]
 * prints a JSON array, one element per scheduler count.
 */

import { execFile } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { argValue, isMain } from './common.js';

const execFileAsync = promisify(execFile);

/** One workload's figure; `runs` holds every pass, the top-level figures are the median pass. */
export interface ErlangWorkload {
  ops: number;
  n: number;
  runs: number[];
}

export interface ErlangLatencyWorkload extends ErlangWorkload {
  p50_us: number;
  p99_us: number;
}

export interface ErlangIdleMemory extends ErlangWorkload {
  /** erlang:memory(processes) delta over N processes, after GC. */
  bytes_per_process: number;
  /** Mean of process_info(P, memory) (PCB + heap + stack). */
  process_info_bytes: number;
  /** Processes spawned and run to their first receive, per second. */
  spawn_rate: number;
  spawn_rate_runs: number[];
}

export interface ErlangResult {
  runtime: 'beam';
  otp: string;
  erts: string;
  schedulers: number;
  quick: boolean;
  runs: number;
  results: {
    spawn_exit: ErlangWorkload & { batch: number };
    spawn_exit_serial: ErlangWorkload & { batch: number };
    idle_memory: ErlangIdleMemory;
    ping_pong: ErlangLatencyWorkload;
    ring: ErlangWorkload & { size: number };
    fan_in: ErlangWorkload & { senders: number };
    ping_pong_map: ErlangLatencyWorkload;
    ring_map: ErlangWorkload & { size: number };
  };
}

export interface RunErlangOptions {
  schedulers: number;
  quick: boolean;
  /** Passes per workload, median reported (escript default: 3). */
  runs?: number;
  /** Path to bench.escript; found next to the sources by default. */
  escript?: string;
  /** Kill the escript after this long (default 10 minutes). */
  timeoutMs?: number;
}

export const ERLANG_MISSING = 'erl not found: apt-get install erlang-nox';

/** Full path of an executable on PATH, or undefined. */
export function which(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

/**
 * Locates bench.escript whether this module runs from its source folder or
 * from the compiled one (dist/native-bench/), since tsc does not copy it.
 */
function defaultEscriptPath(): string {
  const here = fileURLToPath(new URL('.', import.meta.url));
  const candidates = [
    join(here, 'erlang', 'bench.escript'),
    join(here, '..', '..', 'native-bench', 'erlang', 'bench.escript'),
  ];
  const found = candidates.find((p) => existsSync(p));
  if (found === undefined) throw new Error(`bench.escript not found; looked in ${candidates.join(', ')}`);
  return found;
}

export async function runErlang(opts: RunErlangOptions): Promise<ErlangResult | { skipped: string }> {
  const escript = which('escript');
  if (escript === undefined || which('erl') === undefined) return { skipped: ERLANG_MISSING };

  const args = [opts.escript ?? defaultEscriptPath()];
  if (opts.quick) args.push('--quick');
  if (opts.runs !== undefined) args.push('--runs', String(opts.runs));

  // Our +S goes last so it wins over a +S the caller may have in ERL_FLAGS.
  const erlFlags = [process.env.ERL_FLAGS, `+S ${opts.schedulers}:${opts.schedulers}`]
    .filter((f) => f !== undefined && f !== '')
    .join(' ');
  const { stdout } = await execFileAsync(escript, args, {
    env: { ...process.env, ERL_FLAGS: erlFlags },
    maxBuffer: 16 * 1024 * 1024,
    timeout: opts.timeoutMs ?? 10 * 60_000,
  });
  const result = JSON.parse(stdout) as ErlangResult;
  if (result.schedulers !== opts.schedulers) {
    throw new Error(`asked BEAM for ${opts.schedulers} schedulers, it ran with ${result.schedulers}`);
  }
  return result;
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const quick = argv.includes('--quick');
  const runsArg = argValue(argv, '--runs');
  const schedulers = (argValue(argv, '--schedulers') ?? '1,2').split(',').map(Number);
  const out = [];
  for (const s of schedulers) {
    out.push(await runErlang({ schedulers: s, quick, runs: runsArg === undefined ? undefined : Number(runsArg) }));
  }
  process.stdout.write(JSON.stringify(out, null, 2) + '\n');
}

if (isMain(import.meta.url)) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
}
