// The runtime's own host interfaces for guests, beside WASI: a process.wasm guest reads its mailbox
// and sends messages (`wippy:process/mailbox`, import group `wippy:mailbox`), and any guest sees
// the security context it runs with (`wippy:process/context`, import group `wippy:context`).
//
//   package wippy:process@0.1.0;
//   interface mailbox {
//     record message { topic: string, sender: option<string>, payload: string }
//     receive: func(timeout-ms: option<u32>) -> option<message>;   // none: timed out
//     send: func(to: string, topic: string, payload: string) -> result<_, string>;
//   }
//   interface context {
//     actor: func() -> option<string>;            // the actor's id
//     scope: func() -> list<string>;              // the scope's policy ids
//     value: func(key: string) -> option<string>; // a context value, as JSON text
//   }
//
// Payloads cross as JSON text (a guest of any language can parse it; WIT has no "any value" type).
// A lifecycle event (CANCEL, EXIT of a monitored process, LINK_DOWN) is received like a message:
// topic = the event kind ("pid.cancel", "pid.exit", "pid.link.down"), sender = the process it is
// about, payload = the event record as JSON. So a guest can observe a CANCEL and finish early.
//
// How a receive or send gets to the kernel: the guest's thread asks the *caller* through a
// Requester, one request at a time. The caller (src/runtime/wasm.ts) hands the request to the Lua
// side of the process (src/lua/kernel/wasm.lua), which receives from the process's real mailbox
// (or sends as that process, with its permissions) and answers. So messages stay in the kernel's
// mailbox until the guest asks, with the kernel's ordering, topics and bound.
// The Requester is synchronous on the fallback path (the pool thread waits: pool-worker.ts) and
// returns a promise under JSPI (the guest is suspended, its thread runs other guests: jspi.ts).
//
// Owns: the import objects of these two interfaces for one instance, and the JSON mapping.
// May call: errors.ts. Called by wasi.ts (which assembles all of an instance's imports).

import { WasmError } from './errors.js';

export type GuestRequest =
  /** limit_ms: what is left of the call's max_execution_ms (set by the pool; see src/runtime/wasm.ts) */
  | { step: 'recv'; timeout_ms?: number; limit_ms?: number }
  | { step: 'send'; to: string; topic: string; payload: unknown };

/** A message or event as the Lua side answers a recv; false when the wait timed out. */
export type RecvAnswer = { topic: string; from?: string; payload?: unknown } | false | null;
/** The answer to a send: true, or the error's message. */
export type SendAnswer = true | { error: string };

export type Requester = (req: GuestRequest) => unknown;

/** The context a call runs with, as the kernel passes it (plain data). */
export interface CallContext {
  values?: Record<string, unknown>;
  actor?: { id?: string; meta?: unknown } | null;
  scope?: string[] | null;
}

/** Per-call host state an instance's imports read (set before each call). */
export interface CallHost {
  context?: CallContext;
  /** Present for process.wasm calls only. */
  request?: Requester;
}

export const MAILBOX = 'wippy:process/mailbox';
export const CONTEXT = 'wippy:process/context';

/** JSON text of a payload value (BigInt as a number when safe, else a string; bytes as text). */
export function toJson(v: unknown): string {
  return JSON.stringify(v ?? null, (_k, x: unknown) => {
    if (typeof x === 'bigint') return Number.isSafeInteger(Number(x)) ? Number(x) : x.toString();
    if (x instanceof Uint8Array) return Buffer.from(x).toString('utf8');
    if (x instanceof Map) return Object.fromEntries(x);
    return x;
  });
}

function toMessage(a: RecvAnswer): { topic: string; sender: string | undefined; payload: string } | undefined {
  if (!a) return undefined;
  return { topic: String(a.topic), sender: a.from ? String(a.from) : undefined, payload: toJson(a.payload) };
}

function sendRequest(to: string, topic: string, payload: string): GuestRequest {
  let value: unknown;
  try {
    value = JSON.parse(payload);
  } catch (err) {
    // result<_, string>: jco turns a thrown { payload } into the err case
    throw { payload: `send to ${to}: payload is not JSON text: ${(err as Error).message}` };
  }
  return { step: 'send', to, topic, payload: value };
}

function sendResult(a: unknown): void {
  if (a !== true) throw { payload: (a as { error?: string } | null)?.error ?? 'send failed' };
}

/** The mailbox interface for one instance; `async` under JSPI (receive and send suspend). */
export function mailboxImports(entryId: string, host: () => CallHost, async: boolean): Record<string, unknown> {
  const requester = (): Requester => {
    const r = host().request;
    if (!r) throw new WasmError('Invalid', `${entryId}: wippy:process/mailbox is only for process.wasm entries (a function has no mailbox)`);
    return r;
  };
  const recvReq = (timeoutMs: number | undefined): GuestRequest =>
    (timeoutMs === undefined ? { step: 'recv' } : { step: 'recv', timeout_ms: timeoutMs });
  if (async) {
    return {
      receive: async (timeoutMs?: number) => toMessage((await requester()(recvReq(timeoutMs))) as RecvAnswer),
      send: async (to: string, topic: string, payload: string) => sendResult(await requester()(sendRequest(to, topic, payload))),
    };
  }
  return {
    receive: (timeoutMs?: number) => toMessage(requester()(recvReq(timeoutMs)) as RecvAnswer),
    send: (to: string, topic: string, payload: string) => sendResult(requester()(sendRequest(to, topic, payload))),
  };
}

/** The context interface for one instance: answers from the current call's context. */
export function contextImports(host: () => CallHost): Record<string, unknown> {
  return {
    actor: () => host().context?.actor?.id ?? undefined,
    scope: () => (Array.isArray(host().context?.scope) ? host().context!.scope!.map(String) : []),
    value: (key: string) => {
      const values = host().context?.values;
      return values && Object.prototype.hasOwnProperty.call(values, key) ? toJson(values[key]) : undefined;
    },
  };
}
