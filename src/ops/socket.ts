// The control socket of `wippy run`: a local Unix socket that `wippy top`, `wippy ps` and
// `wippy stats` attach to.
//
// Owns: where the socket lives (socketPath), its permissions, the server side (serveControl)
// and the client side (ControlClient). May call: node:net, node:fs, and what the server is
// given to answer with (a function from request to reply; src/ops/serve.ts supplies it).
//
// Where. `<runtime dir>/wippy-<uid>/<hash>.sock`: the runtime dir is $XDG_RUNTIME_DIR when set,
// else the OS temp dir; <hash> is the first 16 hex digits of the SHA-256 of the app root's real
// path. A client in the app directory (or given -C) computes the same path, so nothing is written
// into the app, and the path stays far below the ~104-byte limit of a socket address whatever the
// app's path. WIPPY_CONTROL_SOCKET (or --socket) names another path, on both sides.
//
// Permissions. Owner only: the directory is created with mode 0700 and must be a directory (not
// a link) owned by this user with no group or other bits, else the server refuses to start it;
// the socket is bound under umask 0177 (so it is created 0600, no window with wider bits) and
// chmod'ed 0600 again after. Anyone who can connect can read the process table, nothing more:
// the protocol has no operation that changes the app.
//
// Protocol. Newline-delimited JSON both ways, one reply per request, in order:
//   {"op":"ping"}                                  -> {"ok":true,"pid":1234,"app":"/path"}
//   {"op":"snapshot","table":{"limit":20,"sort":"cpu"}}  -> {"ok":true,"snapshot":{...}}
//   anything else                                  -> {"ok":false,"error":"..."}
// A request line is at most MAX_LINE bytes; a longer one ends the connection with an error reply.
//
// Stale sockets. A socket file nobody answers on (the app was killed) is removed and bound again;
// one a live app answers on is left alone and this server is not started (the caller logs it):
// two `wippy run` of one app do not steal each other's socket.
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { createHash } from 'node:crypto';
import { chmodSync, lstatSync, mkdirSync, realpathSync, unlinkSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { dirname, join } from 'node:path';

export const MAX_LINE = 64 * 1024;

/** The control socket path of the app at `root` (WIPPY_CONTROL_SOCKET overrides it). */
export function socketPath(root: string, env: NodeJS.ProcessEnv = process.env): string {
  const forced = env['WIPPY_CONTROL_SOCKET'];
  if (forced) return forced;
  let real = root;
  try { real = realpathSync(root); } catch { /* a root that does not exist: hashed as given */ }
  const hash = createHash('sha256').update(real).digest('hex').slice(0, 16);
  return join(socketDir(env), `${hash}.sock`);
}

function socketDir(env: NodeJS.ProcessEnv): string {
  return join(env['XDG_RUNTIME_DIR'] || tmpdir(), `wippy-${userInfo().uid}`);
}

/** Create (or check) the owner-only directory of `path`; throws naming the problem. */
function privateDir(dir: string): void {
  try { mkdirSync(dir, { mode: 0o700 }); } catch (e) { if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e; }
  const st = lstatSync(dir);
  const uid = userInfo().uid;
  if (!st.isDirectory()) throw new Error(`control socket directory ${dir} is not a directory`);
  if (st.uid !== uid) throw new Error(`control socket directory ${dir} belongs to uid ${st.uid}, not to this user (${uid})`);
  if ((st.mode & 0o077) !== 0) throw new Error(`control socket directory ${dir} is not private (mode 0${(st.mode & 0o777).toString(8)}; want 0700)`);
}

/** A request the handler refuses (bad op or arguments): answered, not logged. */
export class RequestError extends Error {}

export type Handler = (req: Record<string, unknown>) => Promise<unknown>;

/** Is something answering on the socket at `path`? */
function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection(path);
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

/** A served control socket: `close()` drops the attached clients and stops listening. */
export interface ControlServer { server: Server; close(): Promise<void> }

/**
 * Serve `handle` on the control socket at `path`. Resolves with the server, or with `busy` when a
 * live app already answers there. The server is unref'd (it never keeps Node alive) and its
 * socket file is removed when it closes or the process exits.
 */
export async function serveControl(path: string, handle: Handler, onError: (e: Error) => void): Promise<ControlServer | { busy: true }> {
  // the default place: the per-user directory, created and checked here; a path given by the
  // user (WIPPY_CONTROL_SOCKET) lives in a directory they chose
  if (dirname(path) === socketDir(process.env)) privateDir(dirname(path));
  let exists = false;
  try { lstatSync(path); exists = true; } catch { /* none */ }
  if (exists) {
    if (await answers(path)) return { busy: true };
    unlinkSync(path); // stale: its app is gone
  }
  const open = new Set<Socket>();
  const server = createServer((sock) => {
    open.add(sock);
    sock.once('close', () => open.delete(sock));
    serveConnection(sock, handle, onError);
  });
  const old = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => { server.off('error', reject); resolve(); });
    });
  } finally {
    process.umask(old);
  }
  chmodSync(path, 0o600);
  server.on('error', onError);
  server.unref();
  const remove = () => { try { unlinkSync(path); } catch { /* gone */ } };
  process.once('exit', remove);
  server.once('close', () => { process.off('exit', remove); });
  // server.close() waits for every connection to end; an attached `wippy top` would hold it
  const close = () => new Promise<void>((resolve) => {
    server.close(() => resolve());
    for (const s of open) s.destroy();
  });
  return { server, close };
}

function serveConnection(sock: Socket, handle: Handler, onError: (e: Error) => void): void {
  let buf = '';
  let chain = Promise.resolve();
  sock.setEncoding('utf8');
  sock.unref(); // an attached `wippy top` does not keep the app alive after its stop
  sock.on('error', () => { /* the client went away */ });
  sock.on('data', (chunk: string) => {
    buf += chunk;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (line.trim() === '') continue;
      chain = chain.then(() => answer(line, handle, onError)).then((reply) => { if (!sock.destroyed) sock.write(`${JSON.stringify(reply)}\n`); });
    }
    if (buf.length > MAX_LINE) {
      buf = '';
      void chain.then(() => sock.end(`${JSON.stringify({ ok: false, error: `request longer than ${MAX_LINE} bytes` })}\n`));
    }
  });
}

async function answer(line: string, handle: Handler, onError: (e: Error) => void): Promise<unknown> {
  let req: unknown;
  try { req = JSON.parse(line); } catch (e) {
    return { ok: false, error: `bad request: not JSON (${(e as Error).message})` };
  }
  if (req === null || typeof req !== 'object' || Array.isArray(req)) return { ok: false, error: 'bad request: not a JSON object' };
  try {
    return await handle(req as Record<string, unknown>);
  } catch (e) {
    // a bad request is the client's to read; anything else is the operator's too
    if (!(e instanceof RequestError)) onError(e as Error);
    return { ok: false, error: (e as Error).message };
  }
}

/** A connection to a running app's control socket: one request at a time, replies in order. */
export class ControlClient {
  private buf = '';
  private readonly waiting: Array<{ resolve: (v: Record<string, unknown>) => void; reject: (e: Error) => void }> = [];
  private closedWith: Error | undefined;
  private readonly sock: Socket;

  private constructor(sock: Socket) {
    this.sock = sock;
    sock.setEncoding('utf8');
    sock.on('data', (chunk: string) => {
      this.buf += chunk;
      let nl: number;
      while ((nl = this.buf.indexOf('\n')) >= 0) {
        const line = this.buf.slice(0, nl);
        this.buf = this.buf.slice(nl + 1);
        const w = this.waiting.shift();
        try { w?.resolve(JSON.parse(line) as Record<string, unknown>); } catch (e) { w?.reject(e as Error); }
      }
    });
    const fail = (e: Error) => {
      this.closedWith ??= e;
      for (const w of this.waiting.splice(0)) w.reject(e);
    };
    sock.on('error', fail);
    sock.on('close', () => fail(new Error('the app closed the control connection (it stopped)')));
  }

  /** Connect to the socket at `path`; the error names the path and what to do. */
  static connect(path: string, root?: string): Promise<ControlClient> {
    return new Promise((resolve, reject) => {
      const s = createConnection(path);
      s.once('connect', () => resolve(new ControlClient(s)));
      s.once('error', (e: NodeJS.ErrnoException) => {
        const where = root ? ` for the app at ${root}` : '';
        if (e.code === 'ENOENT') reject(new Error(`no running wippy app${where}: no control socket at ${path} (start it with \`wippy run\`, or give --socket)`));
        else if (e.code === 'ECONNREFUSED') reject(new Error(`no running wippy app${where}: the control socket ${path} is stale (the app is not running)`));
        else if (e.code === 'EACCES') reject(new Error(`cannot open the control socket ${path}: permission denied (it belongs to another user)`));
        else reject(new Error(`cannot connect to the control socket ${path}: ${e.message}`));
      });
    });
  }

  /** Send one request; resolves with its reply, rejects with the app's error message. */
  request(req: Record<string, unknown>): Promise<Record<string, unknown>> {
    if (this.closedWith) return Promise.reject(this.closedWith);
    return new Promise((resolve, reject) => {
      this.waiting.push({
        resolve: (r) => (r['ok'] === false ? reject(new Error(String(r['error']))) : resolve(r)),
        reject,
      });
      this.sock.write(`${JSON.stringify(req)}\n`);
    });
  }

  close(): void {
    this.sock.end();
    this.sock.destroy();
  }
}
