// `wippy top`, `wippy ps`, `wippy stats`: look inside a running `wippy run` through its control
// socket (src/ops/socket.ts), found from the app directory (-C, else the current directory) or
// given with --socket / WIPPY_CONTROL_SOCKET. registerOps adds the three commands to the program
// (one line in main.ts); what they show is src/ops/render.ts, what they ask for is a snapshot
// (src/ops/snapshot.ts).
//
// top: redraws in place every --interval on a terminal (alternate screen, q or Ctrl-C quits; c, r,
// m, h, s, u order the processes by cpu, runs, messages received, heap, sent, unread);
// when stdout is not a terminal it prints one frame per interval, separated by a blank line, and
// --iterations N stops after N frames (1 by default then, so a pipe gets one frame).
// Exit codes: 0 shown; 1 no running app (or it stopped while attached); 2 bad arguments.
import { Option, type Command } from 'commander';
import { resolve } from 'node:path';
import { ControlClient, socketPath } from '../ops/socket.js';
import { renderPs, renderStats, renderTop } from '../ops/render.js';
import type { Snapshot } from '../ops/snapshot.js';
import { ROW_SORT_KEYS, type RowSortKey } from '../runtime/stats.js';
import { parseDurationMs } from './test-runner.js';

interface Where { socket?: string }

function fail(msg: string, code: number): number {
  process.stderr.write(`wippy: ${msg}\n`);
  return code;
}

async function connect(program: Command, o: Where): Promise<ControlClient> {
  const root = resolve(program.opts<{ app?: string }>().app ?? process.cwd());
  const path = o.socket ?? socketPath(root);
  return ControlClient.connect(path, o.socket ? undefined : root);
}

async function snapshot(c: ControlClient, req: Record<string, unknown>): Promise<Snapshot> {
  return (await c.request({ op: 'snapshot', ...req }))['snapshot'] as Snapshot;
}

function intArg(name: string, v: string, min: number): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new Error(`${name} must be an integer of at least ${min}, got "${v}"`);
  return n;
}

/** Run one command body: argument and connection errors become a message and an exit code. */
async function guarded(body: () => Promise<number>): Promise<void> {
  try {
    process.exitCode = await body();
  } catch (e) {
    process.exitCode = fail((e as Error).message, e instanceof UsageError ? 2 : 1);
  }
}

class UsageError extends Error {}

function usage<T>(f: () => T): T {
  try { return f(); } catch (e) { throw new UsageError((e as Error).message); }
}

const sortOption = () => new Option('--sort <key>', 'order processes by').choices(ROW_SORT_KEYS as unknown as string[]).default('cpu');
const socketOption = () => new Option('--socket <path>', 'control socket of the app (default: found from the app directory)');

export function registerOps(program: Command): void {
  program.command('top')
    .description('live view of a running app: workers, services, top processes (attaches to its control socket)')
    .option('-i, --interval <duration>', 'refresh interval: 1s, 500ms', '1s')
    .option('-l, --limit <n>', 'processes shown', '20')
    .addOption(sortOption())
    .option('-n, --iterations <n>', 'stop after n refreshes (default: until q, or 1 when not a terminal)')
    .addOption(socketOption())
    .action((o: Where & { interval: string; limit: string; sort: RowSortKey; iterations?: string }) => guarded(async () => {
      const ms = usage(() => {
        const v = parseDurationMs(o.interval);
        if (v === undefined) throw new Error(`--interval must be a duration like 1s or 500ms, got "${o.interval}"`);
        return v;
      });
      const limit = usage(() => intArg('--limit', o.limit, 1));
      const tty = process.stdout.isTTY === true;
      const iterations = o.iterations !== undefined ? usage(() => intArg('--iterations', o.iterations!, 1)) : tty ? Infinity : 1;
      const c = await connect(program, o);
      try {
        return await top(c, { ms, limit, sort: o.sort, iterations, tty });
      } finally {
        c.close();
      }
    }));

  program.command('ps')
    .description('the processes of a running app, one line each (attaches to its control socket)')
    .option('-l, --limit <n>', 'only the first n processes by --sort (0: all)', '0')
    .addOption(sortOption())
    .option('--json', 'JSON output: an array of processes')
    .addOption(socketOption())
    .action((o: Where & { limit: string; sort: RowSortKey; json?: boolean }) => guarded(async () => {
      const limit = usage(() => intArg('--limit', o.limit, 0));
      const c = await connect(program, o);
      try {
        const s = await snapshot(c, { table: { limit, sort: o.sort } });
        process.stdout.write(o.json ? `${JSON.stringify(s.processes ?? [], null, 2)}\n` : renderPs(s));
        return 0;
      } finally {
        c.close();
      }
    }));

  program.command('stats')
    .description('figures of a running app: processes, messages, queues, services, event loop (attaches to its control socket)')
    .option('--json', 'JSON output: the whole snapshot, with the app\'s own metrics (Lua metrics module)')
    .addOption(socketOption())
    .action((o: Where & { json?: boolean }) => guarded(async () => {
      const c = await connect(program, o);
      try {
        const s = await snapshot(c, { metrics: o.json === true });
        process.stdout.write(o.json ? `${JSON.stringify(s, null, 2)}\n` : renderStats(s));
        return 0;
      } finally {
        c.close();
      }
    }));
}

/** Keys that change `top`'s order while it runs: c(pu), r(uns), m(essages received), h(eap), s(ent), u(nread). */
const SORT_KEYS_BY_KEY: Record<string, RowSortKey> = { c: 'cpu', r: 'runs', m: 'received', h: 'heap', s: 'sent', u: 'unread' };

/** The refresh loop of `wippy top`. */
async function top(c: ControlClient, o: { ms: number; limit: number; sort: RowSortKey; iterations: number; tty: boolean }): Promise<number> {
  let quit = false;
  let wake: (() => void) | undefined;
  const stop = () => { quit = true; wake?.(); };
  const stdin = process.stdin;
  const keys = o.tty && stdin.isTTY === true;
  let sort = o.sort;
  const onKey = (b: Buffer) => {
    const k = String.fromCharCode(b[0] ?? 0);
    if (k === 'q' || k === 'Q' || b[0] === 0x03) { stop(); return; } // q, Ctrl-C
    const next = SORT_KEYS_BY_KEY[k];
    if (next) { sort = next; wake?.(); } // redraw now, in the new order
  };
  if (keys) { stdin.setRawMode(true); stdin.on('data', onKey); stdin.resume(); }
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  // until q: the alternate screen, left as it was on exit; with -n the last frame stays visible
  const screen = o.tty && o.iterations === Infinity;
  if (screen) process.stdout.write('\x1b[?1049h\x1b[?25l'); // alternate screen, cursor hidden
  let shown = 0;
  let code = 0;
  let lost: string | undefined;
  try {
    while (!quit) {
      let s: Snapshot;
      try {
        s = await snapshot(c, { table: { limit: o.limit, sort } });
      } catch (e) {
        lost = (e as Error).message;
        code = 1;
        break;
      }
      const text = o.tty ? renderTop(s, process.stdout.columns || 120, process.stdout.rows || Infinity) : renderTop(s, 1_000);
      process.stdout.write(o.tty ? `\x1b[H\x1b[2J${text}` : `${shown > 0 ? '\n' : ''}${text}`);
      if (++shown >= o.iterations) break;
      await new Promise<void>((r) => { const t = setTimeout(r, o.ms); wake = () => { clearTimeout(t); r(); }; });
      wake = undefined;
    }
  } finally {
    if (screen) process.stdout.write('\x1b[?25h\x1b[?1049l');
    if (keys) { stdin.off('data', onKey); stdin.setRawMode(false); stdin.pause(); }
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
  if (lost !== undefined) fail(lost, 1);
  return code;
}
