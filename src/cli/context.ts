// What every `wippy` subcommand starts from: the global flags, the loaded app, and its logger.
//
// Owns: GlobalOpts (the program's own options, wherever they were written: src/cli/argv.ts) and
// the two steps each command repeats: load the app (a registry problem prints every problem and
// exits 2) and make the logger (src/cli/log.ts).
import { resolve } from 'node:path';
import type { Logger } from 'pino';
import { loadApp, RegistryError } from '../registry/loader.js';
import type { Registry } from '../registry/registry.js';
import { cliLogger, type LogConfig, type LogFlags } from './log.js';
import { EXIT_USAGE } from './exit-codes.js';

export interface GlobalOpts extends LogFlags {
  config?: string[];
  app?: string;
}

/** The app at `-C` (default: the working directory); exits 2 on a registry problem. */
export async function load(o: GlobalOpts): Promise<Registry> {
  const root = resolve(o.app ?? process.cwd());
  try {
    return await loadApp(root, { configFiles: (o.config ?? []).map((c) => resolve(c)) });
  } catch (e) {
    if (e instanceof RegistryError) {
      process.stderr.write(`wippy: ${e.message}\n`);
      process.exit(EXIT_USAGE);
    }
    throw e;
  }
}

/** The logger for a command on `reg` (`daemon`: `wippy run` of the whole app). */
export function logger(o: GlobalOpts, reg: Registry, daemon = false): Logger {
  return cliLogger(o, reg.config as LogConfig, { daemon });
}
