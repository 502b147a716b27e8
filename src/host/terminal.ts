// Terminal I/O of a worker: the stdin side of `io.readline` / `io.read` on a terminal host, and
// the frame that carries `io.write` / `print` output to the main thread.
//
// Owns: the readline interface over the worker's stdin (created on the first read; the main
// thread pipes its own stdin into a terminal host's worker, src/runtime/runtime.ts), the lines
// read before anyone asked, and the reads waiting for a line. May call: node:readline, the codec.
//
// Protocol (frames: src/wire/spec.ts). The kernel starts a read with H.stdin_read(req, pid, mode,
// n) and parks the process; the answer is a reply frame {"rep", pid, req, line} queued as local input for the next kernel
// step (the caller's `deliver`), with no value at end of input, which the kernel turns into the
// "end of input" error. Lines are handed out in the order they arrive, to reads in the order they
// were started. Output is {"w", fd, bytes} to the main thread, which writes it to fd 1 or 2 in
// arrival order (one ring from this worker, so per-worker order holds).
import { createInterface, type Interface } from 'node:readline';
import type { Readable } from 'node:stream';
import { encodeValue } from '../codec/msgpack.js';
import { frame } from '../wire/frames.js';

export class Terminal {
  private rl: Interface | undefined;
  private readonly waiters: Array<{ req: number; pid: string }> = [];
  private readonly buffered: string[] = [];
  private closed = false;

  /**
   * `deliver`: queue an encoded reply frame for the next kernel step (and end a pending park).
   * `input`: the stream lines are read from (the worker's stdin).
   */
  constructor(private readonly deliver: (frame: Uint8Array) => void, private readonly input: Readable = process.stdin) {}

  /** The encoded frame that carries output `bytes` for fd `fd` to the main thread. */
  static output(fd: number, bytes: Uint8Array): Uint8Array {
    return encodeValue(frame.w(fd, bytes));
  }

  /**
   * Read request `req` of process `pid`: answered with the next line (`mode` 1, io.readline, and
   * for now also `mode` 2, io.read(n): a line, whatever `n`).
   */
  read(req: number, pid: string, _mode = 1, _n = 0): void {
    if (this.buffered.length > 0) { this.answer(req, pid, this.buffered.shift()!); return; }
    if (this.closed) { this.answer(req, pid, null); return; }
    this.waiters.push({ req, pid });
    if (!this.rl) {
      this.rl = createInterface({ input: this.input, terminal: false });
      this.rl.on('line', (line) => {
        const w = this.waiters.shift();
        if (w) this.answer(w.req, w.pid, line); else this.buffered.push(line);
      });
      this.rl.on('close', () => {
        this.closed = true;
        for (const w of this.waiters.splice(0)) this.answer(w.req, w.pid, null);
      });
    }
  }

  private answer(req: number, pid: string, value: string | null): void {
    this.deliver(encodeValue(frame.rep(pid, req, value ?? undefined, undefined)));
  }
}
