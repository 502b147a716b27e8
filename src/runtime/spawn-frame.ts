// The bytes of the spawn frames the main thread sends per job ("sp", "spj": a job placed on a
// worker, src/runtime/control.ts spawnLua), written without msgpackr's generic walk of the frame.
//
// Owns: a scratch buffer and, per (entry id, host), the encoded bytes of those two strings. May
// call: the codec's encodeValue (for the arguments and the context record), nothing else.
//
// Why. Every job is one such frame: {kind, pid, uniq, id, host, watcher, link, ctx, args}
// (src/wire/spec.ts SPAWN). Encoded as a whole by encodeValue it cost ~600 ns on the main thread
// (Node 24: msgpackr's walk and UTF-8 encode of four strings, two of them the same for every job of
// an entry, and the depth pre-pass over the frame), ~1/8 of the main thread's steady CPU per job.
// Here the strings that repeat are encoded once per (entry, host) and copied, the PID (ASCII) and
// the integers are written directly, and only the arguments (and a context record, when given) go
// through encodeValue unless they are a short list of small integers, booleans, nulls and ASCII
// strings (written here too). The bytes are the same as encodeValue's for the same
// frame (test/spawn-frame.test.ts compares them on seeded frames), so the worker's decoder sees
// no difference.
//
// The msgpack written by hand here is the smallest part of the format, the part msgpackr itself
// writes for these values: fixarray headers, non-negative integers below 2^32 (fixint, uint8,
// uint16, uint32), booleans, nil, and strings of ASCII characters (fixstr, str8, str16) — the choices
// msgpackr makes for the same values. Anything else (a PID or id with a non-ASCII character, a
// watcher that is not a small integer, a frame of another shape) is not written here: encode()
// answers undefined and the caller encodes the whole frame with encodeValue, as before.
//
// Rejected: caching the whole frame prefix up to the arguments (the PID and uniq sit between the
// kind and the id, so only the (id, host) pair repeats verbatim); writing straight into the
// endpoint's batch buffer (one copy saved, but the endpoint's post() is the one place that counts
// and batches frames per destination).
import { encodeValue } from '../codec/msgpack.js';

/** (id, host) pairs cached; past this the cache starts over (entries × hosts of a registry). */
const MAX_CACHED = 4096;

export class SpawnFrameWriter {
  private buf = new Uint8Array(256);
  private pos = 0;
  /** id -> host -> the encoded bytes of the two strings. */
  private readonly idHost = new Map<string, Map<string, Uint8Array>>();
  private cached = 0;
  private lastId = '';
  private lastHost = '';
  private lastBytes: Uint8Array | undefined;

  /**
   * The encoded frame `f` (a view of this writer's buffer, valid until the next call), or
   * undefined when it is not a spawn frame of the shape written here. Throws as encodeValue does
   * for arguments that cannot be encoded.
   */
  encode(f: readonly unknown[]): Uint8Array | undefined {
    const n = this.write(f);
    return n < 0 ? undefined : this.buf.subarray(0, n);
  }

  /** This writer's buffer: write()'s frame is its first `n` bytes (valid until the next call). */
  get buffer(): Uint8Array { return this.buf; }

  /**
   * encode() without the view: the frame's length in `buffer`, or -1 where encode() answers
   * undefined (the main thread posts the range: no view per job; session 10).
   */
  write(f: readonly unknown[]): number {
    if (f.length !== 9) return -1;
    const kind = f[0], pid = f[1], uniq = f[2], id = f[3], host = f[4], watcher = f[5], link = f[6], ctx = f[7];
    if ((kind !== 'spj' && kind !== 'sp') || typeof pid !== 'string' || typeof id !== 'string' || typeof host !== 'string') return -1;
    if (!isUint32(uniq) || !isUint32(watcher) || link !== false) return -1;
    const idHost = this.idHostBytes(id, host);
    if (idHost === undefined) return -1;
    this.pos = 0;
    this.reserve(64 + pid.length + idHost.length);
    const b = this.buf;
    b[this.pos++] = 0x99; // fixarray of 9
    if (kind === 'spj') { b[this.pos++] = 0xa3; b[this.pos++] = 0x73; b[this.pos++] = 0x70; b[this.pos++] = 0x6a; }
    else { b[this.pos++] = 0xa2; b[this.pos++] = 0x73; b[this.pos++] = 0x70; }
    if (!this.ascii(pid)) return -1;
    this.uint(uniq as number);
    b.set(idHost, this.pos);
    this.pos += idHost.length;
    this.uint(watcher as number);
    b[this.pos++] = 0xc2; // link: false
    if (ctx === false) b[this.pos++] = 0xc2;
    else this.bytes(encodeValue(ctx));
    const args = f[8];
    if (!this.simpleArgs(args)) this.bytes(encodeValue(args));
    return this.pos;
  }

  /**
   * An argument list of at most 15 values, each an integer in [0, 2^32), a boolean, null or an
   * ASCII string, written here (a job's usual arguments: an id, a count, a name); false when it is
   * anything else, with nothing written (the caller encodes it with encodeValue).
   */
  private simpleArgs(args: unknown): boolean {
    if (!Array.isArray(args) || args.length > 15) return false;
    const start = this.pos;
    this.reserve(1);
    this.buf[this.pos++] = 0x90 | args.length; // fixarray
    for (let i = 0; i < args.length; i++) {
      const v: unknown = args[i];
      let ok = true;
      if (typeof v === 'number') {
        ok = isUint32(v);
        if (ok) { this.reserve(5); this.uint(v); }
      } else if (typeof v === 'string') ok = this.ascii(v);
      else if (typeof v === 'boolean') { this.reserve(1); this.buf[this.pos++] = v ? 0xc3 : 0xc2; }
      else if (v === null) { this.reserve(1); this.buf[this.pos++] = 0xc0; }
      else ok = false;
      if (!ok) { this.pos = start; return false; }
    }
    return true;
  }

  /** The bytes of the strings `id` then `host`, cached; undefined if either is not ASCII. */
  private idHostBytes(id: string, host: string): Uint8Array | undefined {
    if (id === this.lastId && host === this.lastHost && this.lastBytes !== undefined) return this.lastBytes;
    let hosts = this.idHost.get(id);
    let bytes = hosts?.get(host);
    if (bytes === undefined) {
      if (this.cached >= MAX_CACHED) { this.idHost.clear(); this.cached = 0; hosts = undefined; }
      this.pos = 0;
      this.reserve(16 + id.length + host.length);
      if (!this.ascii(id) || !this.ascii(host)) return undefined;
      bytes = this.buf.slice(0, this.pos);
      if (hosts === undefined) this.idHost.set(id, hosts = new Map());
      hosts.set(host, bytes);
      this.cached++;
    }
    this.lastId = id; this.lastHost = host; this.lastBytes = bytes;
    return bytes;
  }

  /** Room for `n` more bytes. */
  private reserve(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const grown = new Uint8Array(Math.max(2 * this.buf.length, this.pos + n));
    grown.set(this.buf.subarray(0, this.pos));
    this.buf = grown;
  }

  /** A non-negative integer below 2^32, in msgpackr's form for it. */
  private uint(n: number): void {
    const b = this.buf;
    if (n < 0x80) b[this.pos++] = n;
    else if (n < 0x100) { b[this.pos++] = 0xcc; b[this.pos++] = n; }
    else if (n < 0x10000) { b[this.pos++] = 0xcd; b[this.pos++] = n >>> 8; b[this.pos++] = n & 0xff; }
    else {
      b[this.pos++] = 0xce;
      b[this.pos++] = n >>> 24; b[this.pos++] = (n >>> 16) & 0xff; b[this.pos++] = (n >>> 8) & 0xff; b[this.pos++] = n & 0xff;
    }
  }

  /** The string `s` if every character is ASCII (false: nothing usable was written). */
  private ascii(s: string): boolean {
    const n = s.length;
    if (n >= 0x10000) return false;
    this.reserve(3 + n);
    const b = this.buf;
    if (n < 32) b[this.pos++] = 0xa0 | n;
    else if (n < 0x100) { b[this.pos++] = 0xd9; b[this.pos++] = n; }
    else { b[this.pos++] = 0xda; b[this.pos++] = n >>> 8; b[this.pos++] = n & 0xff; }
    let p = this.pos;
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) return false;
      b[p++] = c;
    }
    this.pos = p;
    return true;
  }

  /** Bytes encoded elsewhere (a view of msgpackr's scratch buffer: copied at once). */
  private bytes(src: Uint8Array): void {
    this.reserve(src.length);
    this.buf.set(src, this.pos);
    this.pos += src.length;
  }
}

function isUint32(v: unknown): boolean {
  return typeof v === 'number' && v >= 0 && v <= 0xffffffff && Number.isInteger(v);
}
