// What a host worker boots with, built from the registry on the main thread: the kernel config
// (the hosts as the kernel sees them) and the Lua entries (src/wire/spec.ts KernelConfig,
// KernelEntry; both travel codec-encoded in WorkerInit, src/host/protocol.ts).
//
// Owns nothing; pure functions of the registry and the current worker lists. May call: the
// registry's types, the codec.
import { relative } from 'node:path';
import { encodeValue } from '../codec/msgpack.js';
import type { Registry } from '../registry/registry.js';
import type { LuaEntry } from '../registry/types.js';
import type { KernelConfig, KernelEntry, KernelHost } from '../wire/spec.js';

/**
 * The kernel config of worker `tid` of `host`: every host's kind, live worker ids (`isDown`
 * filters out dead ones not yet replaced), limits and default security, and the strict mode.
 */
export function kernelConfig(registry: Registry, tid: number, host: string, hostTids: Map<string, number[]>,
  isDown: (tid: number) => boolean, logLevel: number): Uint8Array {
  const hosts: Record<string, KernelHost> = {};
  for (const h of registry.hosts()) {
    // A host's security block (lifecycle.security, as for services) is the default actor and
    // scope of processes started there without one.
    const security = (h.data['lifecycle'] as { security?: unknown } | undefined)?.security;
    const tids = hostTids.get(h.id)!.filter((t) => !isDown(t));
    hosts[h.id] = { kind: h.kind, tids, max_reductions: h.host.maxReductions, max_memory_mb: h.host.maxMemoryMb, security,
      // the mailbox bound and crash reports (src/lua/kernel/mailbox.lua, lifecycle.lua)
      max_mailbox: h.host.maxMailbox, crash_reports: h.host.crashReports,
      // the backlog mark of the run queues (src/lua/kernel/taskq.lua, src/host/placement.ts)
      local_queue_size: h.host.localQueueSize };
  }
  const sec = (registry.config as Record<string, unknown>)['security'] as Record<string, unknown> | undefined;
  // log_level: the Lua logger drops records below the runtime logger's level (lib/logger.lua)
  return encodeValue({ tid, host, hosts, strict_mode: sec?.['strict_mode'] === true, log_level: logLevel } satisfies KernelConfig);
}

/**
 * The entries every kernel loads: Lua code (process, function, library; `file` relative to the
 * app root for error messages, `abs` for process.upgrade reloading from disk), security
 * policies, and the kinds of WASM entries. Encoded once per runtime; every worker gets the same bytes.
 */
export function kernelEntries(registry: Registry): Uint8Array {
  const out: Record<string, KernelEntry> = {};
  for (const e of registry.entries.values()) {
    if (e.kind === 'security.policy' || e.kind === 'security.policy.expr') {
      out[e.id] = { kind: e.kind, policy: e.data['policy'], groups: (e.data['groups'] as string[] | undefined) ?? [] };
      continue;
    }
    // WASM entries: their kind selects the kernel's WASM body (src/lua/kernel/wasm.lua); the main
    // thread loads and runs them (src/runtime/wasm.ts)
    if (e.kind === 'process.wasm' || e.kind === 'function.wasm' || e.kind === 'function.wat') {
      out[e.id] = { kind: e.kind };
      continue;
    }
    if (e.kind !== 'process.lua' && e.kind !== 'function.lua' && e.kind !== 'library.lua') continue;
    const l = e as LuaEntry;
    out[l.id] = {
      kind: l.kind, source: l.lua, // compiled from typed Lua (src/dialect/)
      method: l.method ?? '', modules: l.modules, imports: l.imports,
      file: l.sourcePath ? relative(registry.root, l.sourcePath) : l.id,
      abs: l.sourcePath,
      // a process.lua with meta.default_host can be called as a function, run on that host (funcs)
      ...(typeof l.meta?.['default_host'] === 'string' ? { default_host: l.meta['default_host'] } : {}),
    };
  }
  return encodeValue(out);
}
