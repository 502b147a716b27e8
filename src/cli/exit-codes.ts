// Exit codes of the `wippy` command, and how a process's EXIT becomes one.
//
//   0    success
//   1    the command, the `--exec` entry or a test failed (an error, or `false`)
//   2    bad usage or a bad app: unknown command / entry / host, a registry problem
//   130  stopped by Ctrl-C (SIGINT), as shells report 128 + the signal number
//   N    a command or `--exec` entry that returned the number N (mod 256)
// SIGTERM is how a supervisor (systemd, a container runtime) asks a daemon to stop: a clean stop
// on SIGTERM exits 0.
//
// One rule for `wippy run NAME` and `wippy run --exec ID` (they differ only in where the result is
// printed): an error exits 1 and prints `error: <message>` on stderr; `false` exits 1; a number is
// the exit code; a string is printed on stdout and exits 0; anything else exits 0, and `--exec`
// prints it as JSON (a function's result is what one runs it for).
//
// An error's message is the process's: a table raised with `error({code = 42})` arrives as the
// message `{code = 42}` with the table as its details (the kernel renders it, src/lua/kernel/
// errors.lua). With -v the error's kind, details and the Lua traceback where it was raised follow.
import type { ExitInfo } from '../runtime/runtime.js';
import type { WippyError } from '../codec/msgpack.js';

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;
export const EXIT_SIGINT = 130;

/** Where a result goes: stdout and stderr writers (tests pass their own). */
export interface Out {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
}

export const STD: Out = {
  stdout: (s) => process.stdout.write(s),
  stderr: (s) => process.stderr.write(s),
};

/** `error: <message>`, and with `verbose` its kind, details and traceback, indented. */
export function errorText(e: WippyError | Error, verbose: boolean): string {
  let out = `error: ${e.message}\n`;
  if (!verbose) return out;
  const w = e as WippyError;
  if (w.kind) out += `  kind: ${w.kind}\n`;
  if (w.details !== undefined) out += `  details: ${safeJson(w.details)}\n`;
  const tb = w.traceback?.trim();
  if (tb) out += `${tb.split('\n').map((l) => `  ${l.replace(/^\t/, '    ')}`).join('\n')}\n`;
  return out;
}

function safeJson(v: unknown): string {
  try {
    const plain = (_k: string, x: unknown) => (typeof x === 'bigint' ? x.toString() : x instanceof Uint8Array ? `<${x.byteLength} bytes>` : x);
    return JSON.stringify(v, plain) ?? String(v);
  } catch {
    return String(v);
  }
}

/** The exit code of a command's or `--exec` entry's EXIT, printing what the rule prints. */
export function exitCodeOf(e: ExitInfo, o: { exec: boolean; verbose: boolean }, out: Out = STD): number {
  if (e.error) { out.stderr(errorText(e.error, o.verbose)); return EXIT_FAILED; }
  const v = e.value;
  if (v === false) { if (o.exec) out.stderr('error: entry returned false\n'); return EXIT_FAILED; }
  if (typeof v === 'number') return Math.trunc(v) & 0xff;
  if (typeof v === 'string') { out.stdout(v.endsWith('\n') ? v : `${v}\n`); return EXIT_OK; }
  if (o.exec && v !== undefined && v !== null && v !== true) out.stdout(`${safeJson(v)}\n`);
  return EXIT_OK;
}
