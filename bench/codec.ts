// Micro-benchmark of the value codec on a ~120-byte message envelope (the size of a typical small
// message with its routing fields):
// codec.lua inside a wasmoon Lua state (encode, decode, both, and the same-worker copy) and
// msgpack.ts in JS (with stock msgpackr alongside, to show what the integer pre-pass costs).
//
//   npx tsc -p tsconfig.json && node dist/bench/codec.js
//
// The Lua module is WIPPY_LUA's (src/lua/module.ts): on ours (`native`) codec.lua uses the codec
// in C (native/lua/lcodec.c) unless CODEC_LUA=1, which keeps codec.lua's own on the same module.
//
// Each Lua task runs LOOP operations inside one call into Lua, so the figure is the codec and not
// wasmoon's call bridge; the table reports µs per operation.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Bench } from 'tinybench';
import { luaFactory } from '../src/lua/module.js';
import { Packr, Unpackr } from 'msgpackr';
import { encodeValue, decodeValue } from '../src/codec/msgpack.js';

const LOOP = 1000;

const lua = await luaFactory().createEngine({ injectObjects: false, enableProxy: false });
lua.global.set('CODEC_SRC', readFileSync(path.resolve('src/lua/lib/codec.lua'), 'utf8'));
lua.global.set('CODEC_LUA', process.env.CODEC_LUA === '1');
lua.doStringSync(`
  local DATA = setmetatable({}, { __mode = "k" })
  local K = {
    is_error = function(v) return DATA[v] ~= nil end,
    error_fields = function(v) return DATA[v] end,
    make_error = function(f) local e = {}; DATA[e] = f; return e end,
    error_registry = DATA, native = CODEC_LUA and false or nil,
  }
  local codec = load(CODEC_SRC, "=codec.lua")()(K)
  CODEC_C = codec.native == true
  local ENV = { to = "{app:processes|0x00001}", from = "{app:processes|0x00002}", topic = "job",
    payload = { id = 1, name = "x", tags = { "a", "b" }, ok = true, score = 1.5 } }
  local ENC = codec.encode(ENV)
  local encode, decode, copy = codec.encode, codec.decode, codec.copy
  ENV_BYTES = #ENC
  function B_ENC(n) for _ = 1, n do encode(ENV) end end
  function B_DEC(n) for _ = 1, n do decode(ENC) end end
  function B_BOTH(n) for _ = 1, n do decode(encode(ENV)) end end
  function B_COPY(n) for _ = 1, n do copy(ENV) end end
`);
const call = (name: string): ((n: number) => void) => lua.global.get(name) as (n: number) => void;
const [enc, dec, both, copy] = ['B_ENC', 'B_DEC', 'B_BOTH', 'B_COPY'].map(call) as [
  (n: number) => void, (n: number) => void, (n: number) => void, (n: number) => void,
];

const envelope = {
  to: '{app:processes|0x00001}',
  from: '{app:processes|0x00002}',
  topic: 'job',
  payload: { id: 1, name: 'x', tags: ['a', 'b'], ok: true, score: 1.5 },
};
const stockPackr = new Packr({ useRecords: false });
const stockUnpackr = new Unpackr({ useRecords: false });

const bench = new Bench({ time: 1000, warmupTime: 300 });
bench
  .add(`lua encode (x${LOOP})`, () => enc(LOOP))
  .add(`lua decode (x${LOOP})`, () => dec(LOOP))
  .add(`lua encode+decode (x${LOOP})`, () => both(LOOP))
  .add(`lua copy (x${LOOP})`, () => copy(LOOP))
  .add('js encodeValue+decodeValue', () => decodeValue(encodeValue(envelope)))
  .add('js stock msgpackr pack+unpack', () => stockUnpackr.unpack(stockPackr.pack(envelope)));
await bench.run();

const luaBytes = lua.global.get('ENV_BYTES') as number;
console.log(`envelope: ${luaBytes} bytes from Lua, ${encodeValue(envelope).length} from JS; Node ${process.version}; ` +
  `Lua module ${process.env.WIPPY_LUA || 'wasmoon'}, codec in ${lua.global.get('CODEC_C') ? 'C' : 'Lua'}`);
console.table(
  bench.tasks.map((t) => {
    const r = t.result as { latency?: { p50?: number; mean: number } } | undefined;
    const ms = r?.latency?.p50 ?? r?.latency?.mean ?? NaN;
    const per = t.name.includes(`x${LOOP}`) ? LOOP : 1;
    return { task: t.name, 'µs/op (p50)': Number(((ms * 1000) / per).toFixed(3)) };
  }),
);
// Ours is dropped, not closed (wasmoon's Global.close() frees after lua_close: native-core.md).
if ((process.env.WIPPY_LUA ?? '') !== 'native') lua.global.close();
