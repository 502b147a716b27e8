// The data modules json, yaml, base64, hash and uuid, exercised from Lua processes on real worker
// threads: every function, argument form, return value and error (kind + message) their doc
// pages show. Expected digests are the published test vectors (RFC 1321/3174/4231, FNV's own,
// Python's uuid docs), not values computed by the code under test.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { scenarioRuntime, main, type Scenario } from './helpers/lua-runtime.js';
import type { Runtime } from '../src/index.js';

const mods = ['time', 'json', 'yaml', 'base64', 'hash', 'uuid'];
const s = (name: string, body: string): Scenario => ({ name, modules: mods, source: main(body) });

const scenarios: Scenario[] = [
  s('json_encode', `
    local json = require("json")
    eq(json.encode("hello"), '"hello"'); eq(json.encode(42), "42"); eq(json.encode(true), "true")
    eq(json.encode(nil), "null"); eq(json.encode(99.50), "99.5"); eq(json.encode(-0.25), "-0.25")
    eq(json.encode({1, 2, 3}), "[1,2,3]"); eq(json.encode({"a", "b"}), '["a","b"]')
    eq(json.encode({name = "Alice", age = 30}), '{"age":30,"name":"Alice"}', "keys sorted")
    eq(json.encode({ id = "ord-123", items = { {sku = "ABC", qty = 2}, {sku = "XYZ", qty = 1} }, total = 99.50 }),
      '{"id":"ord-123","items":[{"qty":2,"sku":"ABC"},{"qty":1,"sku":"XYZ"}],"total":99.5}')
    eq(json.encode({}), "[]", "empty table")
    eq(json.encode({x = {}}), '{"x":[]}')
    eq(json.encode(0/0), "null", "NaN"); eq(json.encode({math.huge, -math.huge}), "[null,null]", "Inf")
    eq(json.encode(math.maxinteger), "9223372036854775807", "int64 exact")
    eq(json.encode('q"\\\\\\n\\0'), '"q\\\\"\\\\\\\\\\\\n\\\\u0000"', "escapes")
    eq(json.encode("héllo"), '"héllo"', "utf-8 kept")
    local shared = {1}
    eq(json.encode({a = shared, b = shared}), '{"a":[1],"b":[1]}', "a shared table is not a cycle")
    local function fails(v, sub, what)
      local out, err = json.encode(v)
      eq(out, nil, what); eq(err:kind(), errors.INTERNAL, what .. " kind"); has(err:message(), sub, what)
    end
    fails({1, 2, x = 3}, "mixed integer and string keys at $", "mixed")
    fails({1, nil, 3}, "sparse array", "sparse")
    fails({[2] = "b"}, "sparse array", "gap at 1")
    local r = {}; r.self = r
    fails(r, "recursive table reference at $.self", "recursive")
    fails({f = print}, "cannot encode a function at $.f", "function")
    fails({[1.5] = 1}, "table key of type float", "float key")
    local deep = {}
    local cur = deep
    for _ = 1, 127 do cur[1] = {}; cur = cur[1] end
    assert(json.encode(deep), "127 levels encode")
    cur[1] = {}
    fails(deep, "nesting depth exceeds 128 levels", "depth")
    return true`),
  s('json_decode', `
    local json = require("json")
    local user, err = json.decode('{"name":"Bob","active":true}')
    eq(err, nil); eq(user.name, "Bob"); eq(user.active, true)
    local items = json.decode('[10, 20, 30]')
    eq(items[1], 10); eq(#items, 3); eq(math.type(items[1]), "integer")
    eq(math.type(json.decode("1.5")), "float")
    local response = json.decode([[
{ "status": "ok", "data": { "users": [ {"id": 1, "name": "Alice"}, {"id": 2, "name": "Bob"} ] } }
]])
    eq(response.data.users[1].name, "Alice")
    eq(json.decode("null"), nil, "null"); eq(select("#", json.decode("null")), 1, "null is one value")
    local t = json.decode('{"a":null,"b":[1,null,3]}')
    eq(t.a, nil); eq(t.b[3], 3); eq(t.b[2], nil)
    eq(json.decode('"\\\\u00e9"'), "é", "unicode escape to utf-8")
    local data, derr = json.decode("not valid json")
    eq(data, nil); eq(derr:kind(), errors.INTERNAL, "kind"); has(derr:message(), "json decode: ")
    local _, terr = json.decode(42)
    eq(terr:kind(), errors.INVALID); has(terr:message(), "expected a string, got number")
    -- round trip
    local doc = { list = {1, 2.5, "x", true}, map = { k = "v" } }
    local back = json.decode(json.encode(doc))
    eq(back.list[2], 2.5); eq(back.map.k, "v"); eq(back.list[4], true)
    return true`),
  s('json_validate', `
    local json = require("json")
    local user_schema = {
      type = "object",
      properties = {
        name = {type = "string", minLength = 1},
        email = {type = "string", format = "email"},
        age = {type = "integer", minimum = 0, maximum = 150}
      },
      required = {"name", "email"}
    }
    local valid, err = json.validate(user_schema, { name = "Alice", email = "alice@example.com", age = 30 })
    eq(valid, true); eq(err, nil)
    valid, err = json.validate(user_schema, { name = "", email = "not-an-email" })
    eq(valid, false); eq(err:kind(), errors.INVALID); has(err:message(), "name"); has(err:message(), "email")
    eq(json.validate('{"type":"number","minimum":0}', 42), true, "schema as a JSON string")
    eq(json.validate('{"type":"number","minimum":0}', -1), false)
    local schema = { type = "object", properties = { action = {type = "string", enum = {"create", "update", "delete"}} },
      required = {"action"} }
    eq(json.validate_string(schema, '{"action":"create","data":{}}'), true)
    local ok2, verr = json.validate_string(schema, '{"action":"explode"}')
    eq(ok2, false); eq(verr:kind(), errors.INVALID); has(verr:message(), "action")
    local ok3, cerr = json.validate({ type = "no-such-type" }, 1)
    eq(ok3, false); eq(cerr:kind(), errors.INVALID); has(cerr:message(), "schema compilation failed")
    local ok4, serr = json.validate_string(schema, "{broken")
    eq(ok4, false); eq(serr:kind(), errors.INVALID)
    return true`),
  s('yaml', `
    local yaml = require("yaml")
    eq(yaml.encode({ name = "myapp", port = 8080, debug = true }), "debug: true\\nname: myapp\\nport: 8080\\n")
    eq(yaml.encode({"apple", "banana", "cherry"}), "- apple\\n- banana\\n- cherry\\n")
    local server = yaml.encode({ http = { address = ":8080", timeout = "30s" }, database = { host = "localhost", port = 5432 } })
    eq(server, 'database:\\n  host: localhost\\n  port: 5432\\nhttp:\\n  address: :8080\\n  timeout: 30s\\n')
    local entry = { zebra = 1, alpha = 2, name = "test", kind = "demo" }
    eq(yaml.encode(entry, { field_order = {"name", "kind"}, sort_unordered = true }), "name: test\\nkind: demo\\nalpha: 2\\nzebra: 1\\n")
    eq(yaml.encode(entry, { sort_unordered = true }), "alpha: 2\\nkind: demo\\nname: test\\nzebra: 1\\n")
    eq(yaml.encode({ outer = { zebra = 1, name = "x" } }, { field_order = {"name"} }), "outer:\\n  name: x\\n  zebra: 1\\n", "order at every level")
    local config, err = yaml.decode("server:\\n  host: localhost\\n  port: 8080\\nfeatures:\\n  - auth\\n  - logging\\n  - metrics\\n")
    eq(err, nil); eq(config.server.host, "localhost"); eq(config.server.port, 8080); eq(config.features[1], "auth")
    local data = yaml.decode("name: test\\ncount: 42\\nratio: 3.14\\nenabled: true\\ntags:\\n  - lua\\n  - wippy\\n")
    eq(type(data.count), "number"); eq(math.type(data.count), "integer"); eq(data.ratio, 3.14)
    eq(type(data.enabled), "boolean"); eq(type(data.tags), "table"); eq(data.tags[2], "wippy")
    eq(yaml.decode("just a string"), "just a string"); eq(yaml.decode("17"), 17)
    local back = yaml.decode(yaml.encode({ a = { 1, 2 }, b = "x: y" }))
    eq(back.a[2], 2); eq(back.b, "x: y")
    local function fails(v, kind, sub, what)
      eq(v, nil, what); eq(kind:kind(), sub[1], what .. " kind"); has(kind:message(), sub[2], what)
    end
    local v, e = yaml.encode("not a table"); fails(v, e, { errors.INVALID, "expected a table, got string" }, "encode string")
    v, e = yaml.decode(42); fails(v, e, { errors.INVALID, "expected a string, got number" }, "decode number")
    v, e = yaml.decode(""); fails(v, e, { errors.INVALID, "empty input" }, "decode empty")
    v, e = yaml.decode("a: [1, 2"); fails(v, e, { errors.INTERNAL, "yaml decode: " }, "syntax")
    v, e = yaml.decode("a: 1\\na: 2"); fails(v, e, { errors.INTERNAL, "yaml decode: " }, "duplicate key")
    v, e = yaml.encode({1, x = 2}); fails(v, e, { errors.INTERNAL, "mixed integer and string keys" }, "mixed")
    return true`),
  s('base64', `
    local base64 = require("base64")
    eq(base64.encode("Hello, World!"), "SGVsbG8sIFdvcmxkIQ==")
    eq(base64.decode("SGVsbG8sIFdvcmxkIQ=="), "Hello, World!")
    eq(base64.encode(""), ""); eq(base64.decode(""), "")
    eq(base64.encode("username:password"), "dXNlcm5hbWU6cGFzc3dvcmQ=")
    local bin = "\\0\\1\\2\\255\\254\\128"
    eq(base64.decode(base64.encode(bin)), bin, "binary round trip")
    eq(base64.encode("\\255\\255\\255"), "////")
    local function fails(input, sub, what)
      local out, err = base64.decode(input)
      eq(out, nil, what); eq(err:kind(), errors.INVALID, what .. " kind"); has(err:message(), sub, what)
    end
    fails("SGVs*G8=", "illegal base64 data at input byte 4", "bad character")
    fails("SGVsbG8", "illegal base64 data at input byte 4", "missing padding")
    fails("SG=sbG8=", "illegal base64 data at input byte 2", "padding in the middle")
    fails("QR==", "illegal base64 data at input byte", "non-zero trailing bits")
    eq(base64.decode("SGVs\\r\\nbG8=\\n"), "Hello", "line breaks are skipped (as Go's decoder does)")
    local out, err = base64.encode(12)
    eq(out, nil); eq(err:kind(), errors.INVALID); has(err:message(), "expected a string, got number")
    out, err = base64.decode({})
    eq(out, nil); eq(err:kind(), errors.INVALID)
    return true`),
  s('hash', `
    local hash = require("hash")
    eq(hash.md5(""), "d41d8cd98f00b204e9800998ecf8427e")
    eq(hash.md5("abc"), "900150983cd24fb0d6963f7d28e17f72")
    eq(hash.sha1("abc"), "a9993e364706816aba3e25717850c26c9cd0d89d")
    eq(hash.sha256("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    eq(hash.sha512("abc"), "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f")
    local raw = hash.sha256("abc", true)
    eq(#raw, 32); eq(raw:byte(1), 0xba); eq(raw:byte(32), 0xad)
    eq(#hash.md5("abc", true), 16); eq(#hash.sha1("abc", true), 20); eq(#hash.sha512("abc", true), 64)
    local key, msg = "Jefe", "what do ya want for nothing?"
    eq(hash.hmac_md5(msg, key), "750c783e6ab0b503eaa86e310a5db738")
    eq(hash.hmac_sha1(msg, key), "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79")
    eq(hash.hmac_sha256(msg, key), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
    eq(hash.hmac_sha512(msg, key), "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737")
    eq(#hash.hmac_sha256(msg, key, true), 32)
    eq(hash.md5("\\0\\255"), "d07d34efac6328007ad67c7e0a985e00", "binary input")
    eq(hash.fnv32(""), 2166136261); eq(hash.fnv32("a"), 3826002220); eq(hash.fnv32("foobar"), 0xbf9cf968)
    eq(hash.fnv64("a"), 0xaf63dc4c8601ec8c); eq(hash.fnv64("foobar"), 0x85944171f73967e8)
    eq(math.type(hash.fnv64("a")), "integer")
    local function fails(v, e, sub, what)
      eq(v, nil, what); eq(e:kind(), errors.INVALID, what .. " kind"); has(e:message(), sub, what)
    end
    local v, e = hash.sha256(42); fails(v, e, "sha256: data must be a string, got number", "data")
    v, e = hash.hmac_sha256("m", nil); fails(v, e, "hmac_sha256: secret must be a string, got nil", "secret")
    v, e = hash.hmac_md5(nil, "k"); fails(v, e, "hmac_md5: data must be a string, got nil", "hmac data")
    v, e = hash.fnv64({}); fails(v, e, "fnv64: data must be a string, got table", "fnv")
    return true`),
  s('uuid', `
    local uuid = require("uuid")
    local pat = "^%x%x%x%x%x%x%x%x%-%x%x%x%x%-(%x)%x%x%x%-%x%x%x%x%-%x%x%x%x%x%x%x%x%x%x%x%x$"
    for _, v in ipairs({1, 4, 7}) do
      local id, err = uuid["v" .. v]()
      eq(err, nil); assert(id:match(pat), "v" .. v .. " format: " .. id)
      eq(id:match(pat), tostring(v), "version digit"); eq(uuid.version(id), v); eq(uuid.variant(id), "RFC4122")
      eq(id, id:lower(), "lowercase")
    end
    assert(uuid.v4() ~= uuid.v4(), "v4 random")
    local a, b = uuid.v7(), uuid.v7()
    assert(a < b, "v7 sortable by creation: " .. a .. " < " .. b)
    local NS_DNS = "6ba7b810-9dad-11d1-80b4-00c04fd430c8"
    eq(uuid.v5(NS_DNS, "python.org"), "886313e1-3b8a-5372-9b90-0c9aee199e5d")
    eq(uuid.v3(NS_DNS, "python.org"), "6fa459ea-ee8a-3ca4-894e-db77e160355e")
    eq(uuid.v5("6BA7B810-9DAD-11D1-80B4-00C04FD430C8", "python.org"), "886313e1-3b8a-5372-9b90-0c9aee199e5d", "upper-case namespace")
    local NS_URL = "6ba7b811-9dad-11d1-80b4-00c04fd430c8"
    eq(uuid.v5(NS_URL, "https://example.com/resource"), uuid.v5(NS_URL, "https://example.com/resource"), "deterministic")
    eq(uuid.validate("886313e1-3b8a-5372-9b90-0c9aee199e5d"), true)
    eq(uuid.validate("886313e13b8a53729b900c9aee199e5d"), true, "simple form")
    eq(uuid.validate("urn:uuid:886313e1-3b8a-5372-9b90-0c9aee199e5d"), true, "urn form")
    eq(uuid.validate("{886313e1-3b8a-5372-9b90-0c9aee199e5d}"), true, "braces")
    eq(uuid.validate("886313e1-3b8a-5372-9b90-0c9aee199e5"), false, "short")
    eq(uuid.validate("886313e1-3b8a-5372-9b90-0c9aee199e5g"), false, "non-hex")
    eq(uuid.validate(42), false, "number"); eq(uuid.validate(nil), false, "nil")
    local v1 = uuid.parse("c232ab00-9414-11ec-b3c8-9f6bdeced846")
    eq(v1.version, 1); eq(v1.variant, "RFC4122"); eq(v1.timestamp, 1645557742); eq(v1.node, "9f6bdeced846")
    local v7 = uuid.parse("017f22e2-79b0-7cc3-98c4-dc0c0c07398f")
    eq(v7.version, 7); eq(v7.timestamp, 1645557742); eq(v7.node, nil)
    local v4 = uuid.parse("919108f7-52d1-4320-9bac-f847db4148a8")
    eq(v4.version, 4); eq(v4.timestamp, nil)
    local now = os.time()
    local ts = uuid.parse(uuid.v7()).timestamp
    assert(ts >= now - 5 and ts <= now + 5, "v7 timestamp is now: " .. ts .. " vs " .. now)
    ts = uuid.parse(uuid.v1()).timestamp
    assert(ts >= now - 5 and ts <= now + 5, "v1 timestamp is now: " .. ts .. " vs " .. now)
    eq(uuid.variant("919108f7-52d1-4320-1bac-f847db4148a8"), "NCS")
    eq(uuid.variant("919108f7-52d1-4320-cbac-f847db4148a8"), "Microsoft")
    eq(uuid.variant("919108f7-52d1-4320-ebac-f847db4148a8"), "Future")
    local id = "919108F7-52D1-4320-9BAC-F847DB4148A8"
    eq(uuid.format(id), "919108f7-52d1-4320-9bac-f847db4148a8")
    eq(uuid.format(id, "standard"), "919108f7-52d1-4320-9bac-f847db4148a8")
    eq(uuid.format(id, "simple"), "919108f752d143209bacf847db4148a8")
    eq(uuid.format(id, "urn"), "urn:uuid:919108f7-52d1-4320-9bac-f847db4148a8")
    eq(uuid.format("urn:uuid:919108f7-52d1-4320-9bac-f847db4148a8", "simple"), "919108f752d143209bacf847db4148a8")
    local function fails(v, e, sub, what)
      eq(v, nil, what); eq(e:kind(), errors.INVALID, what .. " kind"); has(e:message(), sub, what)
    end
    local v, e = uuid.format(id, "braces"); fails(v, e, "unsupported format type: braces", "format")
    v, e = uuid.version("nope"); fails(v, e, "invalid UUID format: nope", "version")
    v, e = uuid.variant(7); fails(v, e, "invalid input type", "variant")
    v, e = uuid.parse("1234"); fails(v, e, "invalid UUID format", "parse")
    v, e = uuid.v5("not-a-uuid", "x"); fails(v, e, "uuid.v5: invalid UUID format", "v5 namespace")
    v, e = uuid.v3(NS_DNS, 5); fails(v, e, "name must be a string", "v3 name")
    return true`),
];

describe('standard data modules', () => {
  let rt: Runtime;
  before(async () => { rt = await scenarioRuntime(scenarios); });
  after(async () => { await rt.stop(1000); });
  for (const sc of scenarios) {
    test(`lua: ${sc.name}`, async () => {
      assert.equal(await rt.exec(`test:${sc.name}`), true);
    });
  }
});
