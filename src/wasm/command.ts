// `wippy run <name>` for a process.wasm entry with `meta.command`: the WASM process runs with the
// command-line arguments as its method's arguments, its stdout/stderr on the terminal, and its
// EXIT turned into the same ExitInfo a Lua command's run gives the CLI (value printed / exit code).
//
// Until the kernel's spawn drives process.wasm bodies (docs/wasm.md, "What remains"), the CLI
// runs the body here, beside the runtime rather than on the terminal host's worker; the terminal
// host is still required, as for any command. May call: functions.ts, process.ts.

import { WippyError } from '../codec/msgpack.js';
import type { Registry } from '../registry/registry.js';
import type { ExitInfo } from '../runtime/runtime.js';
import { WasmFunctions } from './functions.js';
import { runWasmProcess } from './process.js';

export async function runWasmCommand(registry: Registry, entryId: string, args: string[]): Promise<ExitInfo> {
  const wasm = new WasmFunctions(registry, {
    sink: (stream, bytes) => void (stream === 'stderr' ? process.stderr : process.stdout).write(bytes),
  });
  const { process: proc, exit } = runWasmProcess(wasm, entryId, args);
  const stop = () => proc.terminate('interrupted');
  process.once('SIGINT', stop);
  try {
    const ev = await exit;
    const pid = `wasm:${entryId}`;
    return ev.error ? { pid, error: new WippyError(ev.error.message, ev.error.kind) } : { pid, value: ev.value };
  } finally {
    process.removeListener('SIGINT', stop);
    await wasm.close();
  }
}
