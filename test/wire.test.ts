// The wire protocol (src/wire/): every frame kind and record goes through both sides and both
// codecs — built by the TS constructor, encoded by msgpackr (src/codec/msgpack.ts), decoded by
// codec.lua in a bare Lua state, every field read there with the indices of wire.lua, rebuilt with
// wire.lua's constructor (once as it is, once with a nil field, which Lua sends as a map),
// encoded by codec.lua, decoded by msgpackr and read with the TS indices. Each field carries a
// value no other field has, so a field read at another position on either side shows up as a
// mismatch naming the kind and the field. The negative checks prove it: a Lua side generated from a
// spec with two fields swapped, and a TS constructor with two fields swapped, both fail.
// Also: the checked-in wire.lua and the tables in docs/design/protocol.md are what the spec
// generates.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { LuaFactory, type LuaEngine } from 'wasmoon';
import { encodeValue, decodeValues, WippyError } from '../src/codec/msgpack.js';
import {
  FRAMES, RECORDS, FRAME_KINDS, TARGETED, CONSTANTS, frame, record, I, R, asFrame, asRecord, kindOf, payloadList, argList,
  fnHost, isFnHost, type WireType, type FrameKind, type RecordKind,
} from '../src/wire/index.js';
import { CODEC_PRELUDE } from './helpers/lua-codec.js';
import { luaSource, docTables, spliceDoc, checkSpec, constName, SPEC, type WireSpec } from '../src/wire/lua.js';

const LUA_PATH = path.resolve('src/lua/kernel/wire.lua');
const DOC_PATH = path.resolve('docs/design/protocol.md');
const CODEC_SRC = readFileSync(path.resolve('src/lua/lib/codec.lua'), 'utf8');

// codec.lua and a wire.lua text in a bare state. Bytes cross the wasmoon boundary as hex (wasmoon
// converts Lua strings to JS strings as UTF-8, which would mangle binary).
const PRELUDE = CODEC_PRELUDE + `
W = load(WIRE_SRC, "=wire.lua")()()
local function split(s) local t = {}; for x in s:gmatch("[^,]+") do t[#t + 1] = x end; return t end

-- Decode the frame (or record), read every field by its wire.lua constant, rebuild it with
-- wire.lua's constructor with field number \`drop\` set to nil (0: none). -> hex(rebuilt) .. "\\n" ..
-- hex({ kind = <read at W.KIND>, fields = { [name] = value read } })
function wire_rt(h, ctor, consts, names, drop, is_record)
  local f = codec.decode(unhex(h))
  local cs, ns = split(consts), split(names)
  local vals, seen = {}, {}
  for i = 1, #cs do
    local idx = W[cs[i]]
    if idx == nil then error("wire.lua has no constant " .. cs[i]) end
    vals[i] = f[idx]
    seen[ns[i]] = vals[i]
  end
  if drop > 0 then vals[drop] = nil end
  local rebuilt = W[ctor](table.unpack(vals, 1, #cs))
  local kind = nil
  if not is_record then kind = f[W.KIND] end
  return hex(assert(codec.encode(rebuilt))) .. "\\n" .. hex(assert(codec.encode({ kind = kind, fields = seen })))
end
`;

interface LuaWire {
  roundTrip(bytes: Uint8Array, ctor: string, consts: string[], names: string[], drop: number, isRecord: boolean): { rebuilt: unknown; read: { kind?: unknown; fields: Record<string, unknown> } };
  eval(code: string): unknown;
  close(): void;
}

const factory = new LuaFactory();
async function luaWire(wireSrc: string): Promise<LuaWire> {
  const engine: LuaEngine = await factory.createEngine({ injectObjects: false, enableProxy: false });
  engine.global.set('CODEC_SRC', CODEC_SRC);
  engine.global.set('WIRE_SRC', wireSrc);
  engine.doStringSync(PRELUDE);
  return {
    roundTrip(bytes, ctor, consts, names, drop, isRecord) {
      engine.global.set('RT_ARGS', [Buffer.from(bytes).toString('hex'), ctor, consts.join(','), names.join(','), drop, isRecord]);
      const out = String(engine.doStringSync('return wire_rt(table.unpack(RT_ARGS))'));
      const [a, b] = out.split('\n');
      const [rebuilt] = decodeValues(new Uint8Array(Buffer.from(a!, 'hex')));
      const [read] = decodeValues(new Uint8Array(Buffer.from(b!, 'hex')));
      return { rebuilt, read: read as { kind?: unknown; fields: Record<string, unknown> } };
    },
    eval(code) { return engine.doStringSync(code); },
    close() { engine.global.close(); },
  };
}

// A value for each field that no other field of any frame has (by type, the shape the field takes).
let serial = 0;
function sample(type: WireType, label: string): unknown {
  const n = ++serial;
  switch (type) {
    case 'pid': case 'pid|false': return `{${label}|0x${n.toString(16).padStart(5, '0')}}`;
    case 'tid': return n;
    case 'int': return 1000 + n;
    case 'number': return n + 0.5;
    case 'bool': return true;
    case 'string': case 'string?': return label;
    case 'any': return { label, list: [n, 'x'] };
    case 'error?': return new WippyError(label, 'Internal', false);
    case 'bytes': return new TextEncoder().encode(label);
    case 'payloads': return [label, n];
    case 'args': return [label, n, false];
    case 'event': return { kind: 'pid.exit', from: `{p|0x${n.toString(16).padStart(5, '0')}}`, at: n + 0.25, result: { value: label } };
    case 'ctx|false': return { values: { who: label, n } };
  }
}

// Compare as a JS reader sees values: bytes come back from Lua as strings, errors by their fields.
function norm(v: unknown): unknown {
  if (v instanceof Uint8Array) return new TextDecoder().decode(v);
  if (v instanceof WippyError) return { error: v.message, kind: v.kind, retryable: v.retryable };
  if (Array.isArray(v)) return v.map(norm);
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, norm(x)]));
  return v;
}
const same = (a: unknown, b: unknown): boolean => isDeepStrictEqual(norm(a), norm(b));

type Ctor = (...a: unknown[]) => unknown[];

/**
 * Round-trip one frame kind (or record) through both sides: the mismatches found, as
 * "<kind>.<field>: <where>" (empty when both sides agree).
 */
function check(lua: LuaWire, spec: WireSpec, kind: string, isRecord: boolean, ctor: Ctor): string[] {
  const fields = isRecord ? spec.records[kind]!.fields : spec.frames[kind]!.fields;
  const idx = (isRecord ? (R as Record<string, Record<string, number>>)[kind] : (I as Record<string, Record<string, number>>)[kind])!;
  const names = fields.map(([n]) => n);
  const vals = fields.map(([n, t]) => sample(t, `${kind}.${n}`));
  const out: string[] = [];
  const arr = ctor(...vals);
  if (!isRecord && arr[0] !== kind) out.push(`${kind}: the constructor's kind is ${String(arr[0])}`);
  if (arr.length !== fields.length + (isRecord ? 0 : 1)) out.push(`${kind}: the constructor builds ${arr.length} elements`);
  names.forEach((n, i) => { if (!same(arr[idx[n]!], vals[i])) out.push(`${kind}.${n}: TS constructor vs TS index`); });
  const bytes = encodeValue(arr).slice();
  const consts = names.map((n) => constName(kind, n));
  // drop 0: every field present; then the first field nil (for frames of 2+ fields: Lua sends a
  // map, which asFrame must put back in place)
  const drops = fields.length >= 2 ? [0, 1] : [0];
  for (const drop of drops) {
    const { rebuilt, read } = lua.roundTrip(bytes, kind, consts, names, drop, isRecord);
    if (drop === 0) {
      if (!isRecord && read.kind !== kind) out.push(`${kind}: Lua read kind ${String(read.kind)} at W.KIND`);
      names.forEach((n, i) => { if (!same(read.fields[n], vals[i])) out.push(`${kind}.${n}: read in Lua by wire.lua`); });
    }
    const back = isRecord ? asRecord<RecordKind>(rebuilt) as unknown[] | undefined : asFrame(rebuilt) as unknown[] | undefined;
    if (!back) { out.push(`${kind}: rebuilt in Lua, not a frame in JS`); continue; }
    if (!isRecord && back[0] !== kind) out.push(`${kind}: rebuilt in Lua, kind ${String(back[0])}`);
    names.forEach((n, i) => {
      const want = i + 1 === drop ? undefined : vals[i];
      if (!same(back[idx[n]!], want)) out.push(`${kind}.${n}: rebuilt in Lua${drop ? ' with a nil field' : ''}, read by the TS index`);
    });
  }
  return out;
}

describe('wire protocol: both sides agree', () => {
  let lua: LuaWire;
  before(async () => { lua = await luaWire(readFileSync(LUA_PATH, 'utf8')); });
  after(() => lua.close());

  test('the spec keeps the rules the kernel relies on (targeted: pid first; rpc: the common head)', () => {
    checkSpec(SPEC);
    const noPid: WireSpec = { ...SPEC, frames: { ...SPEC.frames, bad: { fields: [['from', 'pid'], ['pid', 'pid']], dir: ['worker->worker'], targeted: true, doc: 'x' } } };
    assert.throws(() => checkSpec(noPid), /targeted frame "bad" must have its target "pid" first/);
    const noHead: WireSpec = { ...SPEC, frames: { ...SPEC.frames, bad: { fields: [['reply_pid', 'pid'], ['reply_tid', 'tid'], ['req', 'int']], dir: ['worker->main'], rpc: true, doc: 'x' } } };
    assert.throws(() => checkSpec(noHead), /rpc frame "bad" must start with reply_tid, reply_pid, req/);
  });

  test('src/lua/kernel/wire.lua is what the spec generates', () => {
    assert.equal(readFileSync(LUA_PATH, 'utf8'), luaSource(),
      'src/lua/kernel/wire.lua differs from src/wire/spec.ts: run `npm run build && node dist/src/wire/gen.js`');
  });

  test('the field tables in docs/design/protocol.md are what the spec generates', () => {
    const doc = readFileSync(DOC_PATH, 'utf8');
    assert.equal(doc, spliceDoc(doc, docTables()),
      'docs/design/protocol.md differs from src/wire/spec.ts: run `npm run build && node dist/src/wire/gen.js`');
  });

  test('every constructor takes the spec\'s fields, in order', () => {
    assert.deepEqual(Object.keys(frame).sort(), [...FRAME_KINDS].sort());
    for (const k of FRAME_KINDS) assert.equal(frame[k].length, FRAMES[k].fields.length, `frame.${k}`);
    for (const k of Object.keys(RECORDS) as RecordKind[]) assert.equal(record[k].length, RECORDS[k].fields.length, `record.${k}`);
  });

  for (const kind of FRAME_KINDS) {
    test(`frame "${kind}" round-trips: TS -> msgpackr -> codec.lua -> wire.lua -> codec.lua -> msgpackr -> TS`, () => {
      assert.deepEqual(check(lua, SPEC, kind, false, frame[kind as FrameKind] as unknown as Ctor), []);
    });
  }
  for (const kind of Object.keys(RECORDS) as RecordKind[]) {
    test(`record "${kind}" round-trips through both sides`, () => {
      assert.deepEqual(check(lua, SPEC, kind, true, record[kind] as unknown as Ctor), []);
    });
  }

  test('shared constants, the targeted set and the #lua. rule are the same in Lua', () => {
    for (const [name, v] of Object.entries(CONSTANTS)) assert.equal(lua.eval(`return W.${name}`), v, name);
    const targeted = String(lua.eval('local t = {}; for k in pairs(W.TARGETED) do t[#t + 1] = k end; table.sort(t); return table.concat(t, ",")'));
    assert.equal(targeted, [...TARGETED].sort().join(','));
    assert.equal(lua.eval('return W.fn_host("app:calc", 3)'), fnHost('app:calc', 3));
    assert.equal(fnHost('app:calc', 3), 'app:calc#lua.3');
    for (const h of ['app:calc#lua.3', 'app:host', 'node:control', '']) {
      assert.equal(lua.eval(`return W.is_fn_host(${JSON.stringify(h)})`), isFnHost(h), h);
    }
    assert.equal(isFnHost('app:calc#lua.3'), true);
    assert.equal(isFnHost('app:host'), false);
  });
});

describe('wire protocol: a disagreement fails', () => {
  test('a Lua side generated with two fields of "m" swapped is caught, naming them', async () => {
    const m = FRAMES.m.fields;
    const swapped = [m[0], m[2], m[1], ...m.slice(3)] as unknown as typeof m; // from <-> topic
    const bad: WireSpec = { ...SPEC, frames: { ...SPEC.frames, m: { ...FRAMES.m, fields: swapped } } };
    const lua = await luaWire(luaSource(bad));
    try {
      const found = check(lua, SPEC, 'm', false, frame.m as unknown as Ctor);
      assert.ok(found.includes('m.from: read in Lua by wire.lua'), found.join('\n'));
      assert.ok(found.includes('m.topic: read in Lua by wire.lua'), found.join('\n'));
      assert.ok(found.every((x) => x.startsWith('m.from') || x.startsWith('m.topic')), found.join('\n'));
      // the other kinds still agree
      assert.deepEqual(check(lua, SPEC, 't', false, frame.t as unknown as Ctor), []);
    } finally {
      lua.close();
    }
  });

  test('a Lua side with one index off (the task record\'s home) is caught', async () => {
    const src = luaSource().replace('W.TASK_HOME = 9', 'W.TASK_HOME = 8');
    assert.notEqual(src, luaSource());
    const lua = await luaWire(src);
    try {
      const found = check(lua, SPEC, 'task', true, record.task as unknown as Ctor);
      assert.ok(found.includes('task.home: read in Lua by wire.lua'), found.join('\n'));
    } finally {
      lua.close();
    }
  });

  test('a TS constructor with two fields swapped is caught', async () => {
    const lua = await luaWire(luaSource());
    try {
      const wrong = (pid: string, from: string, deadline: number, reason?: string) => ['c', from, pid, deadline, reason];
      const found = check(lua, SPEC, 'c', false, wrong as unknown as Ctor);
      assert.ok(found.includes('c.pid: TS constructor vs TS index'), found.join('\n'));
      assert.ok(found.includes('c.from: TS constructor vs TS index'), found.join('\n'));
    } finally {
      lua.close();
    }
  });
});

describe('wire protocol: TS decoders', () => {
  test('asFrame: arrays as they are, Lua maps keyed "1".."n" put back in place, anything else undefined', () => {
    const a = frame.t('{a|0x00001}', '{|}');
    assert.equal(asFrame(a), a);
    assert.deepEqual(asFrame({ 1: 'rep', 2: '{a|0x00001}', 3: 7, 5: 'err' }), ['rep', '{a|0x00001}', 7, undefined, 'err']);
    const [lua] = decodeValues(encodeValue({ 1: 'c', 2: 'p', 3: 'f', 4: 1.5 }));
    assert.deepEqual(asFrame(lua), ['c', 'p', 'f', 1.5]);
    for (const x of [null, undefined, 5, 'm', [], [1, 2], { 2: 'x' }]) assert.equal(asFrame(x), undefined, JSON.stringify(x));
    assert.equal(kindOf(['m']), 'm');
    assert.equal(kindOf({ 1: 'rep' }), 'rep');
    assert.equal(kindOf(7), undefined);
  });

  test('payloadList and argList read both forms', () => {
    assert.deepEqual(payloadList(3, ['a', null, 'c']), ['a', null, 'c']);
    assert.deepEqual(payloadList(3, { 1: 'a', 3: 'c' }), ['a', undefined, 'c']);
    assert.deepEqual(payloadList(0, undefined), []);
    assert.deepEqual(argList(['x', 1]), ['x', 1]);
    assert.deepEqual(argList({ n: 3, 1: 'x', 3: true }), ['x', undefined, true]);
    assert.deepEqual(argList({ 1: 'x', 2: 'y' }), ['x', 'y']);
    assert.deepEqual(argList(undefined), []);
  });

  test('field indices: kind at 0, fields from 1 (Lua: one more); records from 0', () => {
    assert.equal(I.m.pid, 1);
    assert.equal(I.m.payloads, 5);
    assert.equal(I.s.args, 9);
    assert.equal(R.task.pid, 0);
    assert.equal(R.task.home, 8);
    // the spawn record is the same in "sp" (after the kind) and in the task descriptor (before home)
    for (const [n] of FRAMES.sp.fields) assert.equal((I.sp as Record<string, number>)[n], (R.task as Record<string, number>)[n]! + 1, n);
  });
});

// Compile-time: the constructors' parameter types come from the spec, so a wrong arity or a field
// of the wrong type does not build (tsc fails on an unused @ts-expect-error). Never called.
export function typeChecks(): void {
  const m = frame.m('{a|0x00001}', '{|}', 'topic', 1, ['x']);
  const topic: string = m[I.m.topic];
  const f = asFrame(m);
  if (f && f[0] === 'c') { const d: number = f[I.c.deadline]; void d; }
  // @ts-expect-error topic must be a string
  frame.m('{a|0x00001}', '{|}', 5, 1, ['x']);
  // @ts-expect-error "t" has two fields
  frame.t('{a|0x00001}');
  // @ts-expect-error the kind is at 0 and is not a number
  const k: number = m[0];
  // @ts-expect-error "home" is a thread id
  record.task('{a|0x00001}', 1, 'app:p', 'app:host', false, false, false, [], 'home');
  void topic; void k;
}
