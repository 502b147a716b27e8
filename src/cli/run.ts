// `wippy run`: the whole app until a signal (no name), `list`, a command by name, or one entry
// with `--exec`.
//
// Where it runs. A command runs on the app's terminal host (stdin, io.print). So does `--exec`
// when the app has one, as Wippy's CLI does: its output reaches the terminal and its exit code
// follows the same rule as a command's (src/cli/exit-codes.ts). `--host` chooses the host: needed
// when the app has several terminal hosts, and a process.host runs the entry without terminal I/O.
// `--exec` without a terminal host runs on the entry's default host.
//
// Signals. The first SIGINT or SIGTERM stops gracefully: services in reverse dependency order,
// then every process gets CANCEL with the shutdown deadline (src/runtime/runtime.ts stop); a second
// exits at once. Ctrl-C (SIGINT) exits 130; SIGTERM exits 0 after a clean stop of `wippy run`
// (a supervisor asked for it), 143 for a one-shot command it cut short (whose error, if it ended
// with one, is printed as usual).
//
// Not found. An unknown command, entry or host names what was not found and the closest ids that
// exist, and exits 2 before anything starts.
import type { Logger } from 'pino';
import { serveOps } from '../ops/serve.js';
import type { Registry } from '../registry/registry.js';
import { similarIds } from '../registry/registry.js';
import { didYouMean } from '../registry/near.js';
import { HOST_KINDS } from '../registry/schema.js';
import { Runtime, type ExitInfo } from '../runtime/runtime.js';
import { Supervisor } from '../runtime/services.js';
import { load, logger, type GlobalOpts } from './context.js';
import { EXIT_FAILED, EXIT_OK, EXIT_SIGINT, EXIT_USAGE, errorText, exitCodeOf } from './exit-codes.js';

const EXEC_KINDS = ['process.lua', 'function.lua'];
const EXIT_SIGTERM = 143;

export interface RunOpts { exec?: string; host?: string }

/** The action of `wippy run [name] [args...]`. -> exit code */
export async function runAction(g: GlobalOpts, name: string | undefined, args: string[], opts: RunOpts): Promise<number> {
  // `--` ends the options (src/cli/argv.ts); commander passes it through with the arguments
  const all = name === undefined ? [] : [name, ...args];
  const dashes = all.indexOf('--');
  if (dashes >= 0) all.splice(dashes, 1);
  if (opts.exec) return execEntry(g, opts.exec, all, opts.host);
  [name, ...args] = all;
  const reg = await load(g);
  if (name === undefined) return runApp(g, reg);
  if (name === 'list') { process.stdout.write(listCommands(reg)); return EXIT_OK; }
  return runCommand(g, reg, name, args, opts.host);
}

export function listCommands(reg: Registry): string {
  const cmds = reg.commands();
  if (cmds.length === 0) return 'no commands: give a process.lua or process.wasm entry meta.command.name to make one\n';
  const w = cmds.reduce((m, c) => Math.max(m, c.name.length), 0); // no spread: one argument per command
  return cmds.map((c) => `  ${c.name.padEnd(w)}  ${c.short ?? ''}`.trimEnd()).join('\n') + '\n';
}

/**
 * The host to run on: `--host` (which must be a host), else the app's terminal host (an error
 * when it has several), else undefined. -> { host } | { error }
 */
export function chooseHost(reg: Registry, flag: string | undefined): { host?: string; error?: string } {
  const hosts = reg.hosts();
  if (flag !== undefined) {
    if (hosts.some((h) => h.id === flag)) return { host: flag };
    const e = reg.get(flag);
    if (e) return { error: `${flag} is a ${e.kind}, not a host (${HOST_KINDS.join(' or ')})` };
    const ids = hosts.map((h) => h.id);
    return { error: `unknown host "${flag}"${didYouMean(similarIds(flag, ids, 1))}; hosts: ${ids.join(', ') || 'none'}` };
  }
  const terminals = hosts.filter((h) => h.kind === 'terminal.host').map((h) => h.id);
  if (terminals.length > 1) return { error: `the app has ${terminals.length} terminal hosts (${terminals.join(', ')}): choose one with --host` };
  return terminals.length === 1 ? { host: terminals[0]! } : {};
}

/**
 * Stop on SIGINT/SIGTERM (a second signal exits at once with 130). -> which signal came first,
 * once one has.
 */
function onSignals(log: Logger, stop: () => Promise<void>): () => NodeJS.Signals | undefined {
  let first: NodeJS.Signals | undefined;
  const handler = (sig: NodeJS.Signals) => {
    if (first) { log.warn({ signal: sig }, 'second signal: exiting now'); process.exit(EXIT_SIGINT); }
    first = sig;
    log.warn({ signal: sig }, 'shutting down (send the signal again to exit at once)');
    void stop();
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return () => first;
}

function signalled(sig: NodeJS.Signals | undefined, daemon: boolean): number | undefined {
  if (sig === 'SIGINT') return EXIT_SIGINT;
  if (sig === 'SIGTERM') return daemon ? EXIT_OK : EXIT_SIGTERM;
  return undefined;
}

async function runApp(g: GlobalOpts, reg: Registry): Promise<number> {
  const log = logger(g, reg, true);
  const rt = new Runtime(reg, { logger: log });
  // Ports and workers alone do not keep Node alive: hold the loop open until a signal. Handlers
  // are installed before the "running" line, which is what a supervisor waits for.
  const keepAlive = setInterval(() => {}, 1 << 30);
  let supervisor: Supervisor | undefined;
  let done!: () => void;
  const stopped = new Promise<void>((r) => { done = r; });
  const signal = onSignals(log, async () => { await supervisor?.stop(); await rt.stop(); done(); });
  await rt.start();
  await serveOps(rt, log, () => supervisor, (line) => log.info(line)); // control socket (wippy top/ps/stats) and /metrics: src/ops/serve.ts
  supervisor = new Supervisor(rt, log);
  const services = await supervisor.start();
  log.info({ hosts: reg.hosts().length, services: services.length }, 'app running; Ctrl-C to stop');
  await stopped;
  clearInterval(keepAlive);
  log.info('stopped');
  return signalled(signal(), true) ?? EXIT_OK;
}

async function runCommand(g: GlobalOpts, reg: Registry, name: string, args: string[], hostFlag: string | undefined): Promise<number> {
  const cmd = reg.commands().find((c) => c.name === name);
  if (!cmd) {
    const names = reg.commands().map((c) => c.name);
    process.stderr.write(`wippy: unknown command "${name}"${didYouMean(similarIds(name, names, 1))}. Available commands:\n${listCommands(reg)}`);
    return EXIT_USAGE;
  }
  const where = chooseHost(reg, hostFlag);
  if (where.error) { process.stderr.write(`wippy: ${where.error}\n`); return EXIT_USAGE; }
  if (!where.host) {
    process.stderr.write('wippy: commands run on a terminal host, and the app has no terminal.host entry\n');
    return EXIT_USAGE;
  }
  // a process.lua or process.wasm command: a process on the terminal host either way (a WASM one
  // is the kernel's WASM body; its guest's stdout/stderr reach the terminal through the runtime)
  return runOnce(g, reg, cmd.entry.id, args, where.host, false);
}

async function execEntry(g: GlobalOpts, id: string, args: string[], hostFlag: string | undefined): Promise<number> {
  const reg = await load(g);
  const e = reg.get(id);
  if (!e || !EXEC_KINDS.includes(e.kind)) {
    const runnable = [...reg.entries.values()].filter((x) => EXEC_KINDS.includes(x.kind)).map((x) => x.id).sort();
    const what = e ? `entry ${id} is a ${e.kind}, not a process.lua or function.lua`
      : `unknown entry "${id}"${didYouMean(similarIds(id, runnable, 1))}`;
    process.stderr.write(`wippy: ${what}. Runnable entries:\n${runnable.map((x) => `  ${x}`).join('\n')}\n`);
    return EXIT_USAGE;
  }
  const where = chooseHost(reg, hostFlag);
  if (where.error) { process.stderr.write(`wippy: ${where.error}\n`); return EXIT_USAGE; }
  return runOnce(g, reg, id, args, where.host, true);
}

/** Start the runtime, run `id` to its EXIT on `host`, stop. -> exit code */
async function runOnce(g: GlobalOpts, reg: Registry, id: string, args: string[], host: string | undefined, exec: boolean): Promise<number> {
  const log = logger(g, reg);
  const terminal = host !== undefined && reg.get(host)?.kind === 'terminal.host';
  const rt = new Runtime(reg, { logger: log, stdin: terminal });
  await rt.start();
  const signal = onSignals(log, () => rt.stop());
  let exit: ExitInfo;
  try {
    exit = await rt.run(id, args, host !== undefined ? { host } : {});
  } catch (err) {
    await rt.stop();
    process.stderr.write(errorText(err as Error, g.verbose === true));
    return signalled(signal(), false) ?? EXIT_FAILED;
  }
  await rt.stop();
  // cut short by a signal: what the process ended with is still printed, the code is the signal's
  const code = exitCodeOf(exit, { exec, verbose: g.verbose === true });
  return signalled(signal(), false) ?? code;
}
