// Typed constructors and decoders for the frames and records of the wire (src/wire/spec.ts).
//
// What it owns. The TS side of every positional frame: `frame.<kind>(...)` builds one, `I.<kind>`
// holds its field indices, `asFrame` turns a decoded value into a frame array, `record.task` /
// `R.task` do the same for the run-queue descriptor. It may call only spec.ts.
//
// Cost. Nothing beyond the array itself: each constructor is a plain function returning an array
// literal (V8 inlines it at a monomorphic call site), the indices are numbers in frozen objects
// built once at load, and asFrame returns its argument unchanged when it is already an array (every
// frame JS sends, and every Lua frame without a nil field). Only a Lua frame with a nil field
// (e.g. "rep" with no value) arrives as a map and is copied into an array.
//
// Types. FrameArgs<K> is the tuple of K's field types, derived from the spec, so a constructor
// with the wrong arity or a field of the wrong type does not compile; two fields of the same type
// in swapped order would, which is what test/wire.test.ts checks (each field's value lands at the
// index the spec gives it, on both sides). Decoded frames are typed by the sender's promise; no
// field is validated here (a bad frame fails in its handler, which the receive loops contain).
import { FRAMES, RECORDS, FRAME_KINDS, type FrameKind, type RecordKind, type WireTypes, type PayloadList, type ArgList } from './spec.js';

type FieldList = readonly (readonly [string, keyof WireTypes])[];
type Values<F extends FieldList> = {
  -readonly [P in keyof F]: F[P] extends readonly [string, infer T extends keyof WireTypes] ? WireTypes[T] : never
};
type IndexIn<F, N, Acc extends unknown[]> =
  F extends readonly [readonly [infer H, unknown], ...infer R] ? (H extends N ? Acc['length'] : IndexIn<R, N, [...Acc, unknown]>) : never;
type IndexOf<F extends FieldList, Base extends unknown[]> = { readonly [P in F[number] as P[0]]: IndexIn<F, P[0], Base> };

type FieldsOf<K extends FrameKind> = (typeof FRAMES)[K]['fields'];
/** The field values of frame kind K, in order. */
export type FrameArgs<K extends FrameKind> = Values<FieldsOf<K>>;
/** A frame of kind K: [kind, ...fields]. */
export type Frame<K extends FrameKind> = [K, ...FrameArgs<K>];
/** Any frame; `switch (f[0])` narrows it to one kind. */
export type AnyFrame = { [K in FrameKind]: Frame<K> }[FrameKind];
/** Field name -> index in the JS array (the kind is at 0, so fields start at 1). */
export type FrameIndex<K extends FrameKind> = IndexOf<FieldsOf<K>, [unknown]>;

type RecordFields<K extends RecordKind> = (typeof RECORDS)[K]['fields'];
export type RecordOf<K extends RecordKind> = Values<RecordFields<K>>;
export type RecordIndex<K extends RecordKind> = IndexOf<RecordFields<K>, []>;

function indices(fields: FieldList, base: number): Readonly<Record<string, number>> {
  const o: Record<string, number> = {};
  fields.forEach(([name], i) => { o[name] = i + base; });
  return Object.freeze(o);
}

/** Field indices of every frame kind in a JS frame array: `f[I.m.topic]`. Lua's are one higher (wire.lua). */
export const I = Object.freeze(Object.fromEntries(FRAME_KINDS.map((k) => [k, indices(FRAMES[k].fields, 1)]))) as
  { readonly [K in FrameKind]: FrameIndex<K> };

/** Field indices of the positional records (from 0 in JS, from 1 in Lua). */
export const R = Object.freeze(Object.fromEntries((Object.keys(RECORDS) as RecordKind[]).map((k) => [k, indices(RECORDS[k].fields, 0)]))) as
  { readonly [K in RecordKind]: RecordIndex<K> };

/** Frames addressed to one process (forwarded by a home, held until the process starts). */
export const TARGETED: ReadonlySet<FrameKind> = new Set(FRAME_KINDS.filter((k) => (FRAMES[k] as { targeted?: boolean }).targeted === true));

type Ctors = { readonly [K in FrameKind]: (...a: FrameArgs<K>) => Frame<K> };

/** Frame constructors, one per kind, fields in spec order: `frame.m(pid, from, topic, n, payloads)`. */
export const frame: Ctors = {
  m: (pid, from, topic, n, payloads) => ['m', pid, from, topic, n, payloads],
  e: (pid, event) => ['e', pid, event],
  jx: (watch, error, stack, value) => ['jx', watch, error, stack, value],
  t: (pid, from) => ['t', pid, from],
  c: (pid, from, deadline, reason) => ['c', pid, from, deadline, reason],
  lk: (pid, other) => ['lk', pid, other],
  ul: (pid, other) => ['ul', pid, other],
  mon: (pid, other) => ['mon', pid, other],
  um: (pid, other) => ['um', pid, other],
  nown: (pid, name, token) => ['nown', pid, name, token],
  s: (replyTid, replyPid, req, id, host, watcher, link, ctx, args) => ['s', replyTid, replyPid, req, id, host, watcher, link, ctx, args],
  rep: (pid, req, value, error) => ['rep', pid, req, value, error],
  sp: (pid, uniq, id, host, watcher, link, ctx, args) => ['sp', pid, uniq, id, host, watcher, link, ctx, args],
  spj: (pid, uniq, id, host, watcher, link, ctx, args) => ['spj', pid, uniq, id, host, watcher, link, ctx, args],
  bound: (pid, runner) => ['bound', pid, runner],
  unfwd: (pid) => ['unfwd', pid],
  x: (replyTid, pid, req) => ['x', replyTid, pid, req],
  xack: (req) => ['xack', req],
  nreg: (replyTid, replyPid, req, name, holder) => ['nreg', replyTid, replyPid, req, name, holder],
  nlook: (replyTid, replyPid, req, name) => ['nlook', replyTid, replyPid, req, name],
  nunreg: (replyTid, replyPid, req, name) => ['nunreg', replyTid, replyPid, req, name],
  nok: (token) => ['nok', token],
  crash: (pid, entry, host, kind, message, traceback) => ['crash', pid, entry, host, kind, message, traceback],
  log: (level, pid, entry, name, message, fields) => ['log', level, pid, entry, name, message, fields],
  env: (replyTid, replyPid, req, op, key, value) => ['env', replyTid, replyPid, req, op, key, value],
  evsub: (replyTid, replyPid, req, sub, system, kind) => ['evsub', replyTid, replyPid, req, sub, system, kind],
  evunsub: (tid, sub) => ['evunsub', tid, sub],
  evsend: (system, kind, path, data) => ['evsend', system, kind, path, data],
  ev: (sub, system, kind, path, data) => ['ev', sub, system, kind, path, data],
  met: (op, name, value, labels) => ['met', op, name, value, labels],
  wcall: (replyTid, replyPid, req, id, args, ctx) => ['wcall', replyTid, replyPid, req, id, args, ctx],
  wstep: (replyTid, replyPid, req, answer) => ['wstep', replyTid, replyPid, req, answer],
  wstop: (pid) => ['wstop', pid],
  w: (fd, bytes) => ['w', fd, bytes],
  shutdown: (graceMs) => ['shutdown', graceMs],
  wdown: (tid, message) => ['wdown', tid, message],
  wup: (tid, host) => ['wup', tid, host],
};

/** Positional record constructors: `record.task(pid, uniq, id, host, watcher, link, ctx, args, home)`. */
export const record: { readonly [K in RecordKind]: (...a: RecordOf<K>) => RecordOf<K> } = {
  task: (pid, uniq, id, host, watcher, link, ctx, args, home) => [pid, uniq, id, host, watcher, link, ctx, args, home],
  prow: (pid, entry, name, host, tid, status, runs, cpuMs, heap, received, sent, unread, threads, started) =>
    [pid, entry, name, host, tid, status, runs, cpuMs, heap, received, sent, unread, threads, started],
};

/**
 * A decoded value as a frame array, or undefined when it is not one (no string kind). An array is
 * returned as it is; a map keyed "1".."n" (a Lua frame with a nil field) is copied into an array
 * with element k - 1 = key k. The kind is not checked against the spec: an unknown kind is the
 * handler's to report.
 */
export function asFrame(raw: unknown): AnyFrame | undefined {
  if (Array.isArray(raw)) return typeof raw[0] === 'string' ? raw as AnyFrame : undefined;
  if (raw === null || typeof raw !== 'object') return undefined;
  return fromLuaSequence(raw as Record<string, unknown>) as AnyFrame | undefined;
}

/** A positional record (no kind) as an array: as asFrame, without the kind check. */
export function asRecord<K extends RecordKind>(raw: unknown): RecordOf<K> | undefined {
  if (Array.isArray(raw)) return raw as RecordOf<K>;
  if (raw === null || typeof raw !== 'object') return undefined;
  return fromLuaSequence(raw as Record<string, unknown>, false) as RecordOf<K> | undefined;
}

function fromLuaSequence(o: Record<string, unknown>, needKind = true): unknown[] | undefined {
  let len = 0;
  for (const k in o) {
    const i = Number(k);
    if (Number.isInteger(i) && i > len) len = i;
  }
  if (needKind && typeof o[1] !== 'string') return undefined;
  const out = new Array<unknown>(len);
  for (let i = 1; i <= len; i++) out[i - 1] = o[i];
  return out;
}

/** The kind of a decoded frame (array or Lua map form), or undefined. Reads one element; copies nothing. */
export function kindOf(raw: unknown): string | undefined {
  const k = Array.isArray(raw) ? raw[0] : (raw !== null && typeof raw === 'object' ? (raw as Record<number, unknown>)[1] : undefined);
  return typeof k === 'string' ? k : undefined;
}

/** Payloads 1..n of an "m" frame as an array (a Lua sender sends a map when one is nil). */
export function payloadList(n: number, p: PayloadList | undefined): unknown[] {
  const out: unknown[] = [];
  for (let i = 1; i <= n; i++) out.push(Array.isArray(p) ? p[i - 1] : (p as Record<number, unknown> | undefined)?.[i]);
  return out;
}

/** Call arguments as an array: an array as it is, a Lua {n = .., [1..n]} map by its count. */
export function argList(a: ArgList | undefined): unknown[] {
  if (a === undefined || a === null) return [];
  if (Array.isArray(a)) return a;
  let n = a.n;
  if (typeof n !== 'number') {
    n = 0;
    for (const k in a) { const i = Number(k); if (Number.isInteger(i) && i > n) n = i; }
  }
  return payloadList(n, a);
}
