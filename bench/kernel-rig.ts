// What bench/xstep.ts, bench/xrecv.ts and bench/xsend.ts share: a built checkout's kernel modules
// (loaded from its dist/, so two checkouts run side by side in one process) and (xstep, xrecv) a
// worker kernel booted on this thread with a stub host — the directory is a Map of uniq → owner thread (every PID alive), the
// run queues empty, frames to the main thread dropped, the others handed to `post`.
import { pathToFileURL } from 'node:url';

/** A checkout's modules the rigs use (typed loosely: each checkout has its own copies). */
export interface Rig {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  LuaKernel: any; encodeValue: (v: unknown) => Uint8Array; frame: any; formatPid: (host: string, uniq: number) => string;
}

export async function rigOf(root: string): Promise<Rig> {
  const imp = (p: string) => import(pathToFileURL(`${root}/dist/src/${p}`).href);
  const { LuaKernel } = await imp('lua/engine.js');
  const { encodeValue } = await imp('codec/msgpack.js');
  const { frame } = await imp('wire/frames.js');
  const { formatPid } = await imp('runtime/pid.js');
  return { LuaKernel, encodeValue, frame, formatPid };
}

/** The PID directory shared by the kernels of one rig: uniq → owner thread, and the next uniq. */
export interface Dir { owner: Map<number, number>; next: number }

/**
 * A kernel for thread `tid` of host `host` (`hosts`: the config's host table), running `entries`
 * (encoded registry entries); frames for other threads go to `post(to, bytes)` (a copy), those
 * for the main thread (0) are dropped. `debug` names an environment variable that, when set,
 * prints them and the kernel's writes.
 */
export async function bootKernel(rig: Rig, dir: Dir, tid: number, host: string, hosts: unknown, entries: Uint8Array,
  post: (to: number, bytes: Uint8Array) => void, debug: string) {
  const route: [number, boolean] = [-1, false];
  const dbg = process.env[debug] !== undefined;
  return rig.LuaKernel.create({
    pidAlloc: (o?: number) => { const u = dir.next++; dir.owner.set(u, o ?? tid); return u; }, place: () => tid, loadAdd() {},
    taskPush: () => false, taskTake: () => undefined, taskListed: () => false, pidDead() {},
    route: (u: number) => { route[0] = dir.owner.get(u) ?? -1; route[1] = dir.owner.has(u); return route; },
    setRunner() {}, diesWith: () => false, killRequested: () => false,
    post: (to: number, bytes: Uint8Array) => { if (to !== 0) post(to, bytes.slice()); else if (dbg) console.error('to main', Buffer.from(bytes).toString('latin1')); },
    postRange: (to: number, heap: Uint8Array, s: number, e: number) => { if (to !== 0) post(to, heap.slice(s, e)); }, // a range: all of a step's frames for `to`
    write: (fd: number, b: Uint8Array) => { if (dbg) console.error('write', fd, Buffer.from(b).toString()); }, stdinRead() {}, readFile: () => undefined, tzOffset: () => undefined,
  }, rig.encodeValue({ tid, host, hosts, strict_mode: false, log_level: 50 }), entries);
}
