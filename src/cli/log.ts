// The `wippy` command's logger: which records are written, and how they look.
//
// Owns: the choice of level and encoding from the flags and the app's configuration, and the
// readable ("console") form of a record. May call: pino, pino-pretty. Everything the runtime logs
// (service lines, crash reports, worker stalls, shutdown progress, the Lua `logger` module's
// records) goes through the one logger made here, on stderr; stdout stays the processes' own.
//
// Encoding, first match wins:
//   --console / -c             readable, coloured when stderr is a terminal
//   --log-format json|console  as named
//   logger.encoding (.wippy.yaml) "json" or "console"
//   otherwise                  readable on a terminal, JSON (one object per line) when stderr is
//                              a pipe or a file: what a log collector reads
// Level, first match wins: --silent / -s (nothing), -v (debug), logmanager.min_level
// (-1 debug, 0 info, 1 warn, 2 error), else info for `wippy run` (a daemon's service lines) and
// warn for one-shot commands (their output is the point; crashes and stalls still show).
//
// The readable form is one line per record, `HH:MM:ss.l LEVEL message key=value ...`, with the
// record's fields as key=value (strings bare unless they need quotes, anything else as JSON). A
// crash report ("process crashed": entry, pid, host, kind, message, traceback) is a block: the
// error on its own line and the Lua traceback indented under it.
//
// Alternative rejected: pino-pretty's own object layout (one "key: value" line per field, strings
// JSON-quoted): a traceback comes out as one long quoted line with \n escapes.
import { pino, type Logger, type LevelWithSilent } from 'pino';
import { PinoPretty } from 'pino-pretty';

export interface LogFlags {
  verbose?: boolean;
  console?: boolean;
  silent?: boolean;
  logFormat?: string;
}

export type LogEncoding = 'console' | 'json';

/** The `logger` and `logmanager` sections of .wippy.yaml (the loader checked their types). */
export interface LogConfig {
  logger?: { encoding?: unknown };
  logmanager?: { min_level?: unknown };
}

const MIN_LEVELS: Record<string, LevelWithSilent> = { '-1': 'debug', '0': 'info', '1': 'warn', '2': 'error' };

export function chooseEncoding(flags: LogFlags, config: LogConfig, isTTY: boolean): LogEncoding {
  if (flags.console) return 'console';
  if (flags.logFormat === 'json' || flags.logFormat === 'console') return flags.logFormat;
  const enc = config.logger?.encoding;
  if (enc === 'json' || enc === 'console') return enc;
  return isTTY ? 'console' : 'json';
}

/** `daemon`: `wippy run` of the whole app (info by default); one-shot commands default to warn. */
export function chooseLevel(flags: LogFlags, config: LogConfig, daemon: boolean): LevelWithSilent {
  if (flags.silent) return 'silent';
  if (flags.verbose) return 'debug';
  const min = config.logmanager?.min_level;
  if (min !== undefined && MIN_LEVELS[String(min)]) return MIN_LEVELS[String(min)]!;
  return daemon ? 'info' : 'warn';
}

/** The CLI's logger on stderr (`dest` for tests: a file descriptor). */
export function cliLogger(flags: LogFlags, config: LogConfig, opts: { daemon: boolean; dest?: number; isTTY?: boolean }): Logger {
  const dest = opts.dest ?? 2;
  const isTTY = opts.isTTY ?? (dest === 2 ? process.stderr.isTTY === true : false);
  const level = chooseLevel(flags, config, opts.daemon);
  if (chooseEncoding(flags, config, isTTY) === 'json') {
    return pino({ level, base: undefined }, pino.destination({ dest, sync: true }));
  }
  const stream = PinoPretty({
    destination: dest,
    sync: true,
    colorize: isTTY,
    translateTime: 'HH:MM:ss.l',
    ignore: 'pid,hostname',
    hideObject: true,
    messageFormat: (log, messageKey, _label, extras) => readable(log, messageKey, extras.colors),
  });
  return pino({ level, base: undefined }, stream);
}

type Colors = { dim: (s: string) => string; red: (s: string) => string; bold: (s: string) => string };

/** Keys pino writes itself; the rest of a record are its fields. */
const OWN_KEYS = new Set(['level', 'time', 'msg', 'hostname']);

/** One record's message and fields in the readable form (see the header). */
export function readable(log: Record<string, unknown>, messageKey: string, c: Colors): string {
  const msg = String(log[messageKey] ?? '');
  if (msg === 'process crashed' && typeof log['entry'] === 'string') return crashBlock(log, c);
  const fields: string[] = [];
  for (const [k, v] of Object.entries(log)) {
    if (OWN_KEYS.has(k) || k === messageKey || v === undefined) continue;
    fields.push(`${c.dim(`${k}=`)}${fieldText(v)}`);
  }
  return fields.length > 0 ? `${msg} ${fields.join(' ')}` : msg;
}

function fieldText(v: unknown): string {
  if (typeof v === 'string') return /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v);
  if (v instanceof Error || (typeof v === 'object' && v !== null && 'message' in v && 'stack' in v)) {
    return JSON.stringify((v as { message: unknown }).message);
  }
  return JSON.stringify(v) ?? String(v);
}

/** "process crashed: app:child {pid} on host", the error, then the traceback indented. */
function crashBlock(log: Record<string, unknown>, c: Colors): string {
  const on = log['host'] ? ` on ${String(log['host'])}` : '';
  const head = `process crashed: ${c.bold(String(log['entry']))} ${String(log['pid'] ?? '')}${on}`;
  const kind = typeof log['kind'] === 'string' && log['kind'] !== '' ? `${log['kind']}: ` : '';
  const lines = [head, `    ${c.red(`${kind}${String(log['message'] ?? '')}`)}`];
  const tb = typeof log['traceback'] === 'string' ? log['traceback'].trim() : '';
  if (tb !== '') for (const l of tb.split('\n')) lines.push(`    ${l.replace(/^\t/, '    ')}`);
  return lines.join('\n');
}
