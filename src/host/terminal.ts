// Terminal I/O of a worker: the stdin side of `io.readline` / `io.read` on a terminal host, and
// the frame that carries `io.write` / `print` output to the main thread.
//
// Owns: the readline interface over the worker's stdin (created on the first read; the main
// thread pipes its own stdin into a terminal host's worker, src/runtime/runtime.ts), the input
// read before anyone asked, and the reads waiting for input. May call: node:readline, the codec,
// the wire constructors.
//
// Protocol (frames: src/wire/spec.ts). The kernel starts a read with H.stdin_read(req, pid, mode,
// n) and parks the process; the answer is a reply frame {"rep", pid, req, text} queued as local
// input for the next kernel step (the caller's `deliver`), with no value at end of input, which
// the kernel turns into the "end of input" error. Input is handed out in the order it arrives, to
// reads in the order they were started; a line counts with its newline, so io.read(n) may take
// part of one and leave the rest for the next read. Output is {"w", fd, bytes} to the main thread,
// which writes it to fd 1 or 2 in arrival order (one ring from this worker, so per-worker order
// holds).
import { createInterface, type Interface } from 'node:readline';
import type { Readable } from 'node:stream';
import { encodeValue } from '../codec/msgpack.js';
import { frame } from '../wire/frames.js';

export class Terminal {
  private rl: Interface | undefined;
  private readonly waiters: Array<{ req: number; pid: string; mode: number; n: number }> = [];
  /** Input not read yet: lines with their "\n" (a read(n) may leave the rest of one at the front). */
  private readonly buffered: string[] = [];
  private closed = false;

  /**
   * `deliver`: queue an encoded reply frame for the next kernel step (and end a pending park).
   * `input`: the stream lines are read from (default: the worker's stdin, touched only at the
   * first read: a worker that never reads never opens it).
   */
  constructor(private readonly deliver: (frame: Uint8Array) => void, private readonly input?: Readable) {}

  /** The encoded frame that carries output `bytes` for fd `fd` to the main thread. */
  static output(fd: number, bytes: Uint8Array): Uint8Array {
    return encodeValue(frame.w(fd, bytes));
  }

  /**
   * Read request `req` of process `pid`. `mode` 1 (io.readline): the rest of the current line
   * without its newline. `mode` 2 (io.read(n)): up to `n` bytes of it, newline included, cut on a
   * UTF-8 character boundary (the rest stays for the next read).
   */
  read(req: number, pid: string, mode: number, n: number): void {
    this.waiters.push({ req, pid, mode, n });
    this.serve();
    if (this.waiters.length === 0) return;
    if (this.closed) { for (const w of this.waiters.splice(0)) this.answer(w.req, w.pid, null); return; }
    if (!this.rl) {
      this.rl = createInterface({ input: this.input ?? process.stdin, terminal: false });
      this.rl.on('line', (line) => { this.buffered.push(`${line}\n`); this.serve(); });
      this.rl.on('close', () => {
        this.closed = true;
        for (const w of this.waiters.splice(0)) this.answer(w.req, w.pid, null);
      });
    }
  }

  private serve(): void {
    while (this.waiters.length > 0 && this.buffered.length > 0) {
      const w = this.waiters.shift()!;
      this.answer(w.req, w.pid, this.take(w.mode, w.n));
    }
  }

  private take(mode: number, n: number): string {
    const head = this.buffered.shift()!;
    if (mode === 1) return head.endsWith('\n') ? head.slice(0, -1) : head;
    const bytes = Buffer.from(head);
    if (bytes.length <= n) return head;
    let cut = n;
    while (cut > 0 && (bytes[cut]! & 0xc0) === 0x80) cut--;
    if (cut === 0) { cut = 1; while (cut < bytes.length && (bytes[cut]! & 0xc0) === 0x80) cut++; }
    this.buffered.unshift(bytes.subarray(cut).toString());
    return bytes.subarray(0, cut).toString();
  }

  private answer(req: number, pid: string, value: string | null): void {
    this.deliver(encodeValue(frame.rep(pid, req, value ?? undefined, undefined)));
  }
}
