// The `wippy` command line: run an app, run one of its commands, exec one entry, inspect the
// registry. Argument parsing is commander's; this file only maps commands onto the runtime.
import { Command, Option } from 'commander';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pino, type Logger } from 'pino';
import { loadApp } from '../registry/loader.js';
import { RegistryError } from '../registry/loader.js';
import { formatList, formatShow } from '../registry/format.js';
import type { Registry } from '../registry/registry.js';
import { Runtime, type ExitInfo } from '../runtime/runtime.js';
import { Supervisor } from '../runtime/services.js';
import { testCommand } from './test-runner.js';
import { registerOps } from './ops.js';
import { serveOps } from '../ops/serve.js';

const VERSION = (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

interface GlobalOpts { verbose?: boolean; config?: string[]; app?: string }

function logger(o: GlobalOpts): Logger {
  return pino({ level: o.verbose ? 'debug' : 'warn', base: undefined }, pino.destination({ dest: 2, sync: true }));
}

async function load(o: GlobalOpts): Promise<Registry> {
  const root = resolve(o.app ?? process.cwd());
  try {
    return await loadApp(root, { configFiles: (o.config ?? []).map((c) => resolve(c)) });
  } catch (e) {
    if (e instanceof RegistryError) {
      process.stderr.write(`wippy: ${e.message}\n`);
      process.exit(2);
    }
    throw e;
  }
}

/**
 * Exit code of a terminal command's EXIT: 1 for an error or `false`, a number as given (mod 256),
 * 0 otherwise; a string result is printed.
 */
function commandExitCode(e: ExitInfo): number {
  if (e.error) {
    process.stderr.write(`error: ${e.error.message}\n`);
    return 1;
  }
  const v = e.value;
  if (typeof v === 'string') { process.stdout.write(v.endsWith('\n') ? v : `${v}\n`); return 0; }
  if (typeof v === 'number') return Math.trunc(v) & 0xff;
  if (v === false) return 1;
  return 0;
}

/** `--exec`: 0 when it returned without error and its result is not false. */
function execExitCode(e: ExitInfo): number {
  if (e.error) { process.stderr.write(`error: ${e.error.message}\n`); return 1; }
  if (e.value === false) { process.stderr.write('error: entry returned false\n'); return 1; }
  if (e.value !== undefined && e.value !== null && e.value !== true) {
    process.stdout.write(`${typeof e.value === 'string' ? e.value : JSON.stringify(e.value)}\n`);
  }
  return 0;
}

function listCommands(reg: Registry): string {
  const cmds = reg.commands();
  if (cmds.length === 0) return 'no commands: give a process.lua or process.wasm entry meta.command.name to make one\n';
  const w = cmds.reduce((m, c) => Math.max(m, c.name.length), 0); // no spread: one argument per command
  return cmds.map((c) => `  ${c.name.padEnd(w)}  ${c.short ?? ''}`.trimEnd()).join('\n') + '\n';
}

function runnable(reg: Registry): string[] {
  return [...reg.entries.values()].filter((e) => e.kind === 'process.lua' || e.kind === 'function.lua').map((e) => e.id).sort();
}

/** Stop on SIGINT/SIGTERM; a second signal exits at once. */
function onSignals(stop: () => Promise<void>): void {
  let signalled = false;
  const handler = (sig: NodeJS.Signals) => {
    if (signalled) { process.stderr.write(`\nwippy: ${sig} again, exiting now\n`); process.exit(130); }
    signalled = true;
    process.stderr.write(`\nwippy: ${sig}, shutting down (again to force)\n`);
    void stop();
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
}

async function runApp(o: GlobalOpts): Promise<number> {
  const reg = await load(o);
  const log = logger(o);
  const rt = new Runtime(reg, { logger: log });
  // Ports and workers alone do not keep Node alive: hold the loop open until a signal. Handlers
  // are installed before the "running" line, which is what a supervisor waits for.
  const keepAlive = setInterval(() => {}, 1 << 30);
  let supervisor: Supervisor | undefined;
  const stopped = new Promise<void>((done) => onSignals(async () => { await supervisor?.stop(); await rt.stop(); done(); }));
  await rt.start();
  await serveOps(rt, log, () => supervisor); // control socket (wippy top/ps/stats) and /metrics: src/ops/serve.ts
  supervisor = new Supervisor(rt, log);
  const services = await supervisor.start();
  log.info({ services: services.length }, 'app running; Ctrl-C to stop');
  process.stderr.write(`wippy: running ${reg.hosts().length} host(s), ${services.length} service(s); Ctrl-C to stop\n`);
  await stopped;
  clearInterval(keepAlive);
  return 0;
}

async function runCommand(o: GlobalOpts, name: string, args: string[]): Promise<number> {
  const reg = await load(o);
  const cmd = reg.commands().find((c) => c.name === name);
  if (!cmd) {
    process.stderr.write(`wippy: unknown command "${name}". Available commands:\n${listCommands(reg)}`);
    return 2;
  }
  const log = logger(o);
  const rt = new Runtime(reg, { logger: log, stdin: true });
  const host = rt.terminalHost();
  if (!host) {
    process.stderr.write('wippy: commands run on a terminal host, and the app has no terminal.host entry\n');
    return 2;
  }
  // a process.lua or process.wasm command: a process on the terminal host either way (a WASM one
  // is the kernel's WASM body; its guest's stdout/stderr reach the terminal through the runtime)
  await rt.start();
  onSignals(() => rt.stop());
  const exit = await rt.run(cmd.entry.id, args, { host });
  await rt.stop();
  return commandExitCode(exit);
}

async function execEntry(o: GlobalOpts, id: string, args: string[]): Promise<number> {
  const reg = await load(o);
  const e = reg.get(id);
  if (!e || (e.kind !== 'process.lua' && e.kind !== 'function.lua')) {
    const list = runnable(reg);
    process.stderr.write(`wippy: ${e ? `entry ${id} is a ${e.kind}, not a process.lua or function.lua` : `unknown entry "${id}"`}. Runnable entries:\n${list.map((x) => `  ${x}`).join('\n')}\n`);
    return 2;
  }
  const log = logger(o);
  const rt = new Runtime(reg, { logger: log, stdin: true });
  await rt.start();
  onSignals(() => rt.stop());
  let exit: ExitInfo;
  try {
    exit = await rt.run(id, args);
  } catch (err) {
    await rt.stop();
    process.stderr.write(`error: ${(err as Error).message}\n`);
    return 1;
  }
  await rt.stop();
  return execExitCode(exit);
}

export function buildCli(): Command {
  const program = new Command('wippy')
    .description('Run Wippy apps: isolated Lua processes on worker threads, talking by messages')
    .option('-v, --verbose', 'debug logs on stderr')
    .option('-c, --config <file>', 'extra config file (repeatable)', (v: string, acc: string[] = []) => [...acc, v])
    .option('-C, --app <dir>', 'app root (default: current directory)')
    .showHelpAfterError()
    .enablePositionalOptions();

  program.command('run')
    .description('run the app (no name), list commands ("list"), run a command, or --exec one entry')
    .argument('[name]', 'command name, or "list"')
    .argument('[args...]', 'arguments for the command or entry')
    .addOption(new Option('-x, --exec <entry>', 'run one process.lua or function.lua entry and exit'))
    .passThroughOptions()
    .action(async (name: string | undefined, args: string[], opts: { exec?: string }) => {
      const g = program.opts<GlobalOpts>();
      let code: number;
      if (opts.exec) code = await execEntry(g, opts.exec, name !== undefined ? [name, ...args] : args);
      else if (name === undefined) code = await runApp(g);
      else if (name === 'list') { process.stdout.write(listCommands(await load(g))); code = 0; }
      else code = await runCommand(g, name, args);
      process.exitCode = code;
    });

  const registry = program.command('registry').description('inspect the app registry');
  registry.command('list')
    .option('--kind <glob>', 'only kinds matching the glob')
    .option('--ns <glob>', 'only namespaces matching the glob')
    .option('--json', 'JSON output')
    .action(async (opts: { kind?: string; ns?: string; json?: boolean }) => {
      process.stdout.write(formatList(await load(program.opts<GlobalOpts>()), opts));
    });
  registry.command('show')
    .argument('<id>', 'entry id (namespace:name)')
    .action(async (id: string) => {
      const reg = await load(program.opts<GlobalOpts>());
      try {
        process.stdout.write(formatShow(reg, id));
      } catch (e) {
        process.stderr.write(`wippy: ${(e as Error).message}\n`);
        process.exitCode = 2;
      }
    });

  program.command('test')
    .description('run the app\'s tests (function.lua entries with meta.type: test, use_case: test entrypoints)')
    .argument('[patterns...]', 'only tests whose entry id, suite or name contains the pattern (* globs)')
    .option('--filter <pattern>', 'the same, as an option (repeatable)', (v: string, acc: string[] = []) => [...acc, v])
    .option('--timeout <duration>', 'per-test timeout: 30s, 500ms, 2m', '30s')
    .action(async (patterns: string[], opts: { filter?: string[]; timeout: string }) => {
      const g = program.opts<GlobalOpts>();
      process.exitCode = await testCommand(await load(g), logger(g), { patterns: [...patterns, ...(opts.filter ?? [])], timeout: opts.timeout });
    });

  registerOps(program); // wippy top, ps, stats (src/cli/ops.ts)

  program.command('version').description('print the version').action(() => {
    process.stdout.write(`wippy-ts ${VERSION} (node ${process.version})\n`);
  });
  return program;
}

await buildCli().parseAsync(process.argv);
