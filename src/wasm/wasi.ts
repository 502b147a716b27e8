// WASI 0.2 for one component instance, by declared import only.
//
// Owns: which WASI interfaces a declared group grants, the check that a component imports nothing
// it was not granted, and the import object for one instance, assembled from
// @bytecodealliance/preview2-shim (the Bytecode Alliance's Node implementation of WASI 0.2) with
// the ambient parts replaced:
//   - wasi:cli/environment answers the entry's `wasi.env` (resolved from registry env entries),
//     `wasi.args` and `wasi.cwd` — never the host's environment, argv or working directory;
//   - wasi:cli/stdout and stderr write to a sink the caller chooses (terminal host or log),
//     stdin is not connected (using it traps), wasi:cli/exit ends the call, not the thread;
//   - wasi:filesystem sees only the `wasi.mounts` (createFilesystem with those preopens), and a
//     `read_only` mount is wrapped so every mutating operation fails with `read-only` (the shim
//     itself has no read-only mode).
// May call: the shim (lazily imported: it starts its I/O worker thread on first use).
//
// Group -> interfaces (as the host functions page lists them):
//   wasi:cli        environment exit stdin stdout stderr terminal-*      wasi:io      error streams
//   wasi:poll       wasi:io/poll                                         wasi:clocks  wall-clock monotonic-clock
//   wasi:filesystem types preopens                                       wasi:random  random insecure insecure-seed
//   wasi:sockets    network instance-network ip-name-lookup tcp(-create-socket) udp(-create-socket)
//   wasi:http       types outgoing-handler
// `wasi:io` also grants wasi:io/poll: the documented sleep example declares only wasi:io and
// wasi:clocks, and a clock subscription is useless without poll.
// The runtime's own interfaces (host.ts): `wippy:mailbox` grants wippy:process/mailbox (process.wasm
// only), `wippy:context` grants wippy:process/context.
//
// Blocking calls (pollable.block on a clock, a file read) go through the shim's synchronous I/O
// worker: the calling thread parks in Atomics.wait until the I/O thread answers. That is why
// WASM runs on pool threads — a parked pool thread blocks nothing else (docs/wasm.md).

import { WasmError } from './errors.js';
import { CONTEXT, MAILBOX, contextImports, mailboxImports, type CallHost } from './host.js';
import { patchPollable, tagPollable, type GuestRun } from './jspi.js';

export interface WasiSetup {
  args: string[];
  cwd?: string;
  env: Array<[string, string]>;
  mounts: Array<{ guest: string; host: string; readOnly: boolean }>;
}

export type OutputSink = (stream: 'stdout' | 'stderr', bytes: Uint8Array) => void;

const GROUPS: Record<string, string[]> = {
  'wasi:cli': ['environment', 'exit', 'stdin', 'stdout', 'stderr', 'terminal-input', 'terminal-output', 'terminal-stdin', 'terminal-stdout', 'terminal-stderr'].map((i) => `wasi:cli/${i}`),
  'wasi:io': ['wasi:io/error', 'wasi:io/streams', 'wasi:io/poll'],
  'wasi:poll': ['wasi:io/poll'],
  'wasi:clocks': ['wasi:clocks/wall-clock', 'wasi:clocks/monotonic-clock'],
  'wasi:filesystem': ['wasi:filesystem/types', 'wasi:filesystem/preopens'],
  'wasi:random': ['wasi:random/random', 'wasi:random/insecure', 'wasi:random/insecure-seed'],
  'wasi:sockets': ['network', 'instance-network', 'ip-name-lookup', 'tcp', 'tcp-create-socket', 'udp', 'udp-create-socket'].map((i) => `wasi:sockets/${i}`),
  'wasi:http': ['wasi:http/types', 'wasi:http/outgoing-handler'],
  'wippy:mailbox': [MAILBOX],
  'wippy:context': [CONTEXT],
};
export const WASI_GROUPS = Object.keys(GROUPS);

/** Unknown group names in an entry's `imports` (a load error). */
export function unknownGroups(declared: string[]): string[] {
  return declared.filter((g) => !(g in GROUPS));
}

/** Throws WasmError naming the first interface the component imports but `declared` does not grant. */
export function checkImports(declared: string[], imports: string[]): void {
  const granted = new Set(declared.flatMap((g) => GROUPS[g] ?? []));
  for (const raw of imports) {
    const iface = raw.replace(/@[^/]*$/, '');
    if (granted.has(iface)) continue;
    const group = Object.entries(GROUPS).find(([, list]) => list.includes(iface))?.[0];
    throw new WasmError('PermissionDenied', group
      ? `component imports ${iface}, which needs "${group}" in the entry's imports (declared: ${declared.length > 0 ? declared.join(', ') : 'none'})`
      : `component imports ${iface}, which this runtime does not provide`);
  }
}

/** Per-instance state the imports read at call time (instances may serve many calls). */
export class WasiContext {
  env: Array<[string, string]>;
  sink: OutputSink;
  /** The current call's context and requester (host.ts). */
  host: CallHost = {};
  /** JSPI: the guest's run on a shared thread (its waits suspend it); undefined: the fallback. */
  run: GuestRun | undefined;
  constructor(readonly setup: WasiSetup, sink: OutputSink, readonly entryId = '') {
    this.env = setup.env;
    this.sink = sink;
  }
}

/** Thrown by wasi:cli/exit: ends the call with the guest's status, not the thread. */
export class WasiExit extends Error {
  constructor(readonly code: number) {
    super(`guest exited with status ${code}`);
  }
}

type Shim = typeof import('@bytecodealliance/preview2-shim');
let shim: Promise<[Shim, typeof import('@bytecodealliance/preview2-shim/filesystem')]> | undefined;
const DISPOSE: symbol = (Symbol as { dispose?: symbol }).dispose ?? Symbol.for('dispose');

/** The import object for one instance: only the interfaces in `imports` (already checked). */
export async function wasiImports(imports: string[], ctx: WasiContext): Promise<Record<string, unknown>> {
  const wanted = new Set(imports.map((i) => i.replace(/@[^/]*$/, '')));
  const out: Record<string, unknown> = {};
  // the runtime's own interfaces need no shim
  if (wanted.delete(MAILBOX)) out[MAILBOX] = mailboxImports(ctx.entryId, () => ctx.host, ctx.run !== undefined);
  if (wanted.delete(CONTEXT)) out[CONTEXT] = contextImports(() => ctx.host);
  if (wanted.size === 0) return out;
  shim ??= Promise.all([import('@bytecodealliance/preview2-shim'), import('@bytecodealliance/preview2-shim/filesystem')]);
  const [s, fsMod] = await shim;
  const run = ctx.run;
  if (run) patchPollable(s.io.poll.Pollable as unknown as { prototype: Record<string, unknown> });
  const OutputStream = s.io.streams.OutputStream as unknown as { prototype: object };
  const stream = (name: 'stdout' | 'stderr') => {
    const o = Object.create(OutputStream.prototype) as Record<string | symbol, unknown>;
    const write = (buf: Uint8Array) => void ctx.sink(name, new Uint8Array(buf));
    Object.assign(o, {
      checkWrite: () => 1n << 20n,
      write, blockingWriteAndFlush: write,
      flush: () => {}, blockingFlush: () => {},
      subscribe: () => s.clocks.monotonicClock.subscribeDuration(0n),
    });
    o[DISPOSE] = () => {};
    return o;
  };
  const fs = wanted.has('wasi:filesystem/types') || wanted.has('wasi:filesystem/preopens')
    ? filesystem(fsMod, ctx.setup.mounts)
    : undefined;
  for (const iface of wanted) {
    switch (iface) {
      case 'wasi:cli/environment':
        out[iface] = {
          getEnvironment: () => ctx.env,
          getArguments: () => ctx.setup.args,
          initialCwd: () => ctx.setup.cwd,
        };
        break;
      case 'wasi:cli/exit':
        out[iface] = {
          exit(status: { tag: string }) { throw new WasiExit(status.tag === 'err' ? 1 : 0); },
          exitWithCode(code: number) { throw new WasiExit(code); },
        };
        break;
      case 'wasi:cli/stdin':
        out[iface] = { getStdin() { throw new WasmError('Unavailable', 'wasi:cli/stdin is not connected for this entry'); } };
        break;
      case 'wasi:cli/stdout': out[iface] = { getStdout: () => stream('stdout') }; break;
      case 'wasi:cli/stderr': out[iface] = { getStderr: () => stream('stderr') }; break;
      case 'wasi:cli/terminal-input': out[iface] = s.cli.terminalInput; break;
      case 'wasi:cli/terminal-output': out[iface] = s.cli.terminalOutput; break;
      // Not a terminal: the output goes to a sink, whatever the host's stdout is.
      case 'wasi:cli/terminal-stdin': out[iface] = { getTerminalStdin: () => undefined }; break;
      case 'wasi:cli/terminal-stdout': out[iface] = { getTerminalStdout: () => undefined }; break;
      case 'wasi:cli/terminal-stderr': out[iface] = { getTerminalStderr: () => undefined }; break;
      case 'wasi:io/error': out[iface] = s.io.error; break;
      case 'wasi:io/streams': out[iface] = s.io.streams; break;
      case 'wasi:io/poll': out[iface] = s.io.poll; break;
      case 'wasi:clocks/wall-clock': out[iface] = s.clocks.wallClock; break;
      case 'wasi:clocks/monotonic-clock': {
        const clock = s.clocks.monotonicClock as unknown as { now(): bigint; subscribeDuration(ns: bigint): object; subscribeInstant(at: bigint): object };
        // under JSPI a clock pollable carries its wake time, so blocking on it suspends (jspi.ts)
        out[iface] = !run ? clock : {
          ...clock,
          now: () => clock.now(),
          resolution: () => (clock as unknown as { resolution(): bigint }).resolution(),
          subscribeDuration: (ns: bigint) => tagPollable(clock.subscribeDuration(ns), performance.now() + Number(ns) / 1e6, run),
          subscribeInstant: (at: bigint) => tagPollable(clock.subscribeInstant(at), performance.now() + Number(at - clock.now()) / 1e6, run),
        };
        break;
      }
      case 'wasi:filesystem/types': out[iface] = fs!.types; break;
      case 'wasi:filesystem/preopens': out[iface] = fs!.preopens; break;
      case 'wasi:random/random': out[iface] = s.random.random; break;
      case 'wasi:random/insecure': out[iface] = s.random.insecure; break;
      case 'wasi:random/insecure-seed': out[iface] = s.random.insecureSeed; break;
      default: {
        const [pkg, name] = iface.replace(/^wasi:/, '').split('/') as [string, string];
        const ns = (s as unknown as Record<string, Record<string, unknown>>)[pkg];
        const camel = name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
        if (!ns?.[camel]) throw new WasmError('Unavailable', `${iface} is not available in this runtime`);
        out[iface] = ns[camel];
      }
    }
  }
  return out;
}

// Operations that change the filesystem; on a read-only mount each fails with `read-only`.
const MUTATING = new Set([
  'createDirectoryAt', 'linkAt', 'removeDirectoryAt', 'renameAt', 'symlinkAt', 'unlinkFileAt',
  'setSize', 'setTimes', 'setTimesAt', 'write', 'writeViaStream', 'appendViaStream',
]);

function filesystem(fsMod: typeof import('@bytecodealliance/preview2-shim/filesystem'), mounts: WasiSetup['mounts']) {
  const create = (fsMod as unknown as { createFilesystem(o: { preopens: Record<string, string> }): { types: Record<string, unknown>; preopens: { getDirectories(): Array<[object, string]> } } }).createFilesystem;
  const fs = create({ preopens: Object.fromEntries(mounts.map((m) => [m.guest, m.host])) });
  const readOnly = new Set(mounts.filter((m) => m.readOnly).map((m) => m.guest));
  const Descriptor = fs.types.Descriptor as { prototype: object };
  const methods = Object.getOwnPropertyNames(Descriptor.prototype).filter((n) => n !== 'constructor');
  // A stand-in that passes `instanceof Descriptor` (jco checks it) and forwards to the real one.
  const wrap = (real: Record<string, (...a: unknown[]) => unknown>): object => {
    const o = Object.create(real) as Record<string | symbol, unknown>;
    for (const name of methods) {
      o[name] = (...args: unknown[]) => {
        if (MUTATING.has(name)) throw 'read-only';
        if (name === 'openAt') {
          const [, , openFlags, flags] = args as [unknown, unknown, Record<string, boolean>, Record<string, boolean>];
          if (openFlags.create || openFlags.truncate || flags.write || flags.mutateDirectory) throw 'read-only';
          return wrap(real.openAt!.apply(real, args) as Record<string, (...a: unknown[]) => unknown>);
        }
        return real[name]!.apply(real, args);
      };
    }
    o[DISPOSE] = () => (real as unknown as Record<symbol, () => void>)[DISPOSE]?.();
    return o;
  };
  const dirs = fs.preopens.getDirectories().map(([d, guest]) => [readOnly.has(guest) ? wrap(d as never) : d, guest] as [object, string]);
  return { types: fs.types, preopens: { getDirectories: () => dirs } };
}
