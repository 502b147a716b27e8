// The `wippy` command line: the program, its global flags and its subcommands. Argument parsing
// is commander's; each subcommand's work lives in its own file:
//   run.ts          wippy run (the app, list, a command, --exec)
//   test-runner.ts  wippy test
//   log.ts          the logger every command writes through (--console, --silent, -v)
//   exit-codes.ts   exit codes and how a process's EXIT becomes one
//   argv.ts         global flags anywhere on the line
//   context.ts      loading the app, making the logger
//
// Global flags (anywhere before a `--`): -v/--verbose, -c/--console, -s/--silent, --log-format,
// --config (repeatable), -C/--app, -V/--version. `-c` is --console as in Wippy's CLI (Wippy's
// --config has no short form).
import { Command, Option } from 'commander';
import { readFileSync } from 'node:fs';
import { formatList, formatShow } from '../registry/format.js';
import { testCommand } from './test-runner.js';
import { registerOps } from './ops.js';
import { load, logger, type GlobalOpts } from './context.js';
import { runAction, type RunOpts } from './run.js';
import { hoistGlobals } from './argv.js';
import { EXIT_FAILED, EXIT_USAGE } from './exit-codes.js';

const VERSION = (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
const VERSION_LINE = `wippy-ts ${VERSION} (node ${process.version})`;

export function buildCli(): Command {
  const program = new Command('wippy')
    .description('Run Wippy apps: isolated Lua processes on worker threads, talking by messages')
    .version(VERSION_LINE, '-V, --version', 'print the version')
    .option('-v, --verbose', 'debug logs; error kinds, details and Lua tracebacks')
    .option('-c, --console', 'readable, coloured logs (the default on a terminal)')
    .option('-s, --silent', 'no logs')
    .addOption(new Option('--log-format <format>', 'log encoding (default: console on a terminal, else json)').choices(['console', 'json']))
    .option('--config <file>', 'extra config file over .wippy.yaml (repeatable)', (v: string, acc: string[] = []) => [...acc, v])
    .option('-C, --app <dir>', 'app root (default: current directory)')
    .showHelpAfterError()
    .showSuggestionAfterError()
    .enablePositionalOptions();

  program.command('run')
    .description('run the app (no name), list commands ("list"), run a command, or --exec one entry')
    .argument('[name]', 'command name, or "list"')
    .argument('[args...]', 'arguments for the command or entry')
    .addOption(new Option('-x, --exec <entry>', 'run one process.lua or function.lua entry and exit'))
    .addOption(new Option('--host <id>', 'host for a command or --exec (default: the terminal host)'))
    .passThroughOptions()
    .action(async (name: string | undefined, args: string[], opts: RunOpts) => {
      process.exitCode = await runAction(program.opts<GlobalOpts>(), name, args, opts);
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
    .option('--json', 'JSON output')
    .action(async (id: string, opts: { json?: boolean }) => {
      const reg = await load(program.opts<GlobalOpts>());
      try {
        process.stdout.write(formatShow(reg, id, opts));
      } catch (e) {
        process.stderr.write(`wippy: ${(e as Error).message}\n`);
        process.exitCode = EXIT_USAGE;
      }
    });

  program.command('test')
    .description('run the app\'s tests (function.lua entries with meta.type: test, use_case: test entrypoints)')
    .argument('[patterns...]', 'only tests whose entry id, suite or name contains the pattern (* globs)')
    .option('--filter <pattern>', 'the same, as an option (repeatable)', (v: string, acc: string[] = []) => [...acc, v])
    .option('--timeout <duration>', 'per-test timeout: 30s, 500ms, 2m', '30s')
    .action(async (patterns: string[], opts: { filter?: string[]; timeout: string }) => {
      const g = program.opts<GlobalOpts>();
      const reg = await load(g);
      process.exitCode = await testCommand(reg, logger(g, reg), { patterns: [...patterns, ...(opts.filter ?? [])], timeout: opts.timeout });
    });

  registerOps(program); // wippy top, ps, stats (src/cli/ops.ts)

  program.command('version').description('print the version').action(() => {
    process.stdout.write(`${VERSION_LINE}\n`);
  });
  // (`top`, `ps`, `stats`: src/cli/ops.ts registers them here)
  return program;
}

const program = buildCli();
try {
  await program.parseAsync([...process.argv.slice(0, 2), ...hoistGlobals(process.argv.slice(2), program)]);
} catch (e) {
  // A failure outside any process (the runtime could not start, ...): one line, the stack with -v.
  // Exit at once: workers or a keep-alive timer may still hold the event loop.
  const err = e instanceof Error ? e : new Error(String(e));
  process.stderr.write(`wippy: ${program.opts<GlobalOpts>().verbose && err.stack ? err.stack : err.message}\n`);
  process.exit(EXIT_FAILED);
}
// Every command's action has awaited its work (a run's runtime has stopped, a test run has
// reported): exit now instead of when the event loop empties. On Node 20 a process can deadlock
// at that natural end (V8: the main thread waits in DrainTasks for a background optimisation that
// waits for a garbage collection only the main thread can run; README, "Which Node"): a test file
// hung there in 11 of 800 runs, and with an explicit exit after its tests in 0 of 400. The logs are
// written synchronously (log.ts); stdout and stderr are drained first (pipes are asynchronous on
// some platforms). process.exit() exits with process.exitCode, which the actions set.
await Promise.all([process.stdout, process.stderr].map((s) => new Promise<void>((done) => s.write('', () => done()))));
process.exit();
