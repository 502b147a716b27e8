-- The value codec: how a Lua value leaves one worker's Lua state and arrives in another's, and the
-- deep copy used when it stays on the same worker.
--
-- Size: over 500 lines because the encoder, the decoder and the same-worker copy are one format
-- with one set of limits and must change together; they share the seen-table bookkeeping and the
-- header writers.
--
-- Wire format. Standard MessagePack, so the JS side can read and write it with msgpackr
-- (src/codec/msgpack.ts). The mapping, and why:
--   nil, booleans               -> nil, false, true
--   integers                    -> the smallest msgpack int form (fixint, int8..int64, uint8..uint64)
--   floats                      -> ALWAYS float64 (0xcb), so `math.type` survives: 1.0 stays a float
--                                  and 1 an integer; NaN, inf and -0.0 round-trip exactly
--   strings                     -> str (fixstr/str8/16/32) holding the bytes as they are. Lua strings
--                                  are byte strings: nothing is validated or transcoded (a JS reader
--                                  sees invalid UTF-8 as U+FFFD; send binary to JS knowingly)
--   a proper sequence           -> array: `#t == n >= 1` and exactly n keys, all values sendable
--   any other table (even {})   -> map with keys of any sendable type (integer keys stay integers)
--   a table seen again          -> ext 1, data = uint32 BE index of that table in first-encounter
--                                  (pre-order) order, counting from 0; the decoder numbers tables in
--                                  the same order and rebuilds the sharing and the cycles
--   error objects (K.is_error)  -> ext 2, data = msgpack map {kind, message, retryable?, details?}
--   functions, threads, other   -> refused: encode returns nil, "cannot send a function" (the type
--   userdata                       named). Values between processes are data only.
-- Metatables are NOT carried: the receiver gets plain tables (a metatable is code, and code does
-- not cross between processes). Error objects are rebuilt with K.make_error, so they get the
-- receiving worker's error metatable.
--
-- The decoder also accepts what other msgpack writers emit (bin -> string, float32 -> float,
-- uint64 above math.maxinteger -> float, timestamp ext -1 -> Unix seconds, ext 0 "undefined" -> nil)
-- and raises a Lua error naming the byte offset on anything malformed or truncated. Input is not
-- trusted: a header announcing 2^32 elements allocates nothing before the elements are there.
--
-- Limits. Every value that leaves a process meets the same limits, on the same worker and across:
--   MAX_DEPTH (512)  tables nested in one encoded value (a whole frame), on encode and decode. The
--                    JS side (src/codec/msgpack.ts, same constant) decodes every frame a kernel
--                    sends to the main thread with msgpackr, which recurses once per level on the
--                    JS stack. Measured (a chain of 1-element arrays/maps, msgpackr 1.x, default
--                    stacks): unpack fails past ~4400 levels on the main thread of Node 20 and
--                    ~4500 on Node 24 (~17000 in worker threads), and msgpackr's pack, which a JS
--                    consumer may call on what it received, past ~1300 (Node 20 main thread). 512
--                    leaves a 2.6x margin under the tightest of these for the caller's own stack.
--   VALUE_DEPTH      MAX_DEPTH - 12 (500): tables nested in one value a process sends, returns or
--                    passes (copy's limit), so any such value still fits in the frame (an EXIT
--                    event nests it 3 levels down) when it crosses a thread.
--   MAX_BYTES        64 MiB of encoded bytes in one value.
-- Past a limit, and for an unsendable value, encode and copy return nil and a message ("cannot
-- send a function", "value nested deeper than 500 tables", "value too large: ..."), never raise,
-- so the kernel turns it into an error for the process that sent or returned the value. decode
-- raises (its input comes from another kernel, never from a process): the kernel drops that frame.
--
-- Same worker. `copy` is the deep copy for values that stay in this Lua state (payloads, spawn
-- and exec arguments, results; the reference deep-copies them too):
-- tables are copied recursively WITHOUT their metatable (like encode: a receiver must never run
-- the sender's code, which would run with the receiver's actor and permissions), sharing and cycles
-- are preserved, error objects stay the same object (they are immutable) unless their details hold
-- a table, which is copied into a new error object; functions, threads and other userdata are
-- refused as in encode. The reference keeps metatables within one VM; see docs/process-model.md.
--
-- In C. On our Lua module the functions below are replaced by native/lua/lcodec.c's (same bytes,
-- limits, sharing, errors; see the end of this file); this file stays the codec on wasmoon's.
--
-- Speed. Encoding appends pieces to one parts array and joins them with a single table.concat; ints
-- and floats are written with string.pack ">" formats, small ints and headers come from
-- precomputed strings, short strings from a bounded cache of their encodings. Decoding walks the
-- string with string.byte / string.unpack and explicit positions, decoding fixstr and fixint
-- elements inline. No closure is created per call. The scratch tables (parts, seen, refs) are
-- reused between calls and passed down explicitly, so a nested call (a __gc finaliser may send
-- while a value is encoded) takes fresh ones and the codec stays re-entrant.
-- Measured on Node 20.20 (wasmoon 1.16), a ~120-byte message envelope (topic, sender, a small table payload):
-- encode ~4 µs, decode ~4 µs, copy ~3.5 µs (msgpackr in plain JS: ~1.3 µs for both directions).
-- A coroutine switch costs ~3 µs on Node 20: a cross-worker message pays two to three switches'
-- worth of codec, a same-worker one about one (copy).
--
-- The codec does not know how errors are represented; the kernel passes
--   K.is_error(v) -> bool, K.error_fields(v) -> {kind, message, retryable, details},
--   K.make_error(fields) -> err.
return function(K)
  local is_error, error_fields, make_error = K.is_error, K.error_fields, K.make_error
  local type, next, rawlen, rawget, error, select, tostring, setmetatable =
    type, next, rawlen, rawget, error, select, tostring, setmetatable
  local mtype = math.type
  local char, byte, sub, pack, unpack, format = string.char, string.byte, string.sub, string.pack,
    string.unpack, string.format
  local concat, tunpack = table.concat, table.unpack

  -- Values of these types are always sendable; userdata only when it is an error object.
  local PLAIN = { string = true, number = true, boolean = true, table = true }

  ---------------------------------------------------------------------------------------------
  -- Precomputed encodings. SMALLINT covers -128..255: fixints are one byte, the rest int8/uint8.
  local SMALLINT, FIXSTR, FIXARR, FIXMAP = {}, {}, {}, {}
  for i = 0, 127 do SMALLINT[i] = char(i) end
  for i = -32, -1 do SMALLINT[i] = char(i + 256) end
  for i = 128, 255 do SMALLINT[i] = "\xcc" .. char(i) end
  for i = -128, -33 do SMALLINT[i] = "\xd0" .. char(i + 256) end
  for i = 0, 31 do FIXSTR[i] = char(0xa0 + i) end
  for i = 0, 15 do FIXARR[i] = char(0x90 + i); FIXMAP[i] = char(0x80 + i) end

  local function str_header(l)
    if l < 32 then return FIXSTR[l] end
    if l < 0x100 then return pack(">BB", 0xd9, l) end
    if l < 0x10000 then return pack(">BI2", 0xda, l) end
    return pack(">BI4", 0xdb, l)
  end
  local function arr_header(c)
    if c < 16 then return FIXARR[c] end
    if c < 0x10000 then return pack(">BI2", 0xdc, c) end
    return pack(">BI4", 0xdd, c)
  end
  local function map_header(c)
    if c < 16 then return FIXMAP[c] end
    if c < 0x10000 then return pack(">BI2", 0xde, c) end
    return pack(">BI4", 0xdf, c)
  end
  -- Encoded short strings (header .. bytes), keyed by the string: field names and small values
  -- repeat across messages, and one cached piece is cheaper than a header piece plus the string.
  -- Bounded: the cache is dropped when it reaches SCACHE_MAX entries.
  local SCACHE, scached, SCACHE_MAX = {}, 0, 4096
  local function short_str(v)
    local e = FIXSTR[#v] .. v
    if scached >= SCACHE_MAX then SCACHE, scached = {}, 0 end
    SCACHE[v] = e
    scached = scached + 1
    return e
  end

  local FIXEXT = { [1] = 0xd4, [2] = 0xd5, [4] = 0xd6, [8] = 0xd7, [16] = 0xd8 }
  local function ext_header(size, ext_type)
    local tag = FIXEXT[size]
    if tag then return pack(">BB", tag, ext_type) end
    if size < 0x100 then return pack(">BBB", 0xc7, size, ext_type) end
    if size < 0x10000 then return pack(">BI2B", 0xc8, size, ext_type) end
    return pack(">BI4B", 0xc9, size, ext_type)
  end

  local EXT_REF, EXT_ERROR = 1, 2

  -- Reused scratch tables (see codec.encode) are dropped instead of emptied past these sizes, so
  -- one big message does not keep memory alive: parts, bytes of the encoded string, tables.
  local KEEP_PARTS, KEEP_BYTES, KEEP_TABLES = 64, 4096, 256

  -- Limits (see the top of the file).
  local MAX_DEPTH = 512
  local VALUE_DEPTH = MAX_DEPTH - 12
  local MAX_BYTES = 64 * 1024 * 1024
  local DEEP = format("value nested deeper than %d tables", MAX_DEPTH)
  local VALUE_DEEP = format("value nested deeper than %d tables", VALUE_DEPTH)
  local TOO_BIG = format("value too large: more than %d MiB encoded", MAX_BYTES // 1048576)
  -- seen.err holds the first problem met while encoding (the rest of the value is still walked,
  -- as nils, so the encoder needs no error exit); `unsendable` records one.
  local function unsendable(seen, tv)
    if not seen.err then seen.err = "cannot send a " .. tv end
  end

  ---------------------------------------------------------------------------------------------
  -- Encoder. enc(v, tv, buf, n, seen) appends the encoding of v (whose type() is tv) to buf after
  -- index n and returns the new last index. seen maps each table already written to its index;
  -- seen.count is the next index to hand out.
  local enc

  -- The encoder's reused scratch: parts array, `seen`, and whether an encode is using them (see
  -- codec.encode). release_seen puts them back when the encode that owns them finishes, or before
  -- it raises.
  local function new_seen() return { count = 0, depth = 0, bytes = 0, err = false } end
  local ebuf, eseen, ebusy = {}, new_seen(), false
  local function release_seen(seen, drop_parts)
    local c = seen.count
    if c > KEEP_TABLES then
      eseen = new_seen()
    else
      for i = 1, c do seen[seen[i]] = nil; seen[i] = nil end
      seen.count = 0
      seen.depth = 0
      seen.bytes = 0
      seen.err = false
    end
    if drop_parts then ebuf = {} end
    ebusy = false
  end

  -- Cold path: an error object. The ext 2 header carries the byte length of its data, which is
  -- known only once the fields are encoded, so a slot is reserved and filled afterwards. The
  -- fields share `seen` with the rest of the value: a table in `details` may be referenced from
  -- elsewhere in the message, and the decoder reads the fields in the same stream order.
  local function enc_error(v, buf, n, seen)
    local f = error_fields(v)
    local kind, message, retryable, details = f.kind, f.message, f.retryable, f.details
    if type(kind) ~= "string" then kind = kind == nil and "" or tostring(kind) end
    if type(message) ~= "string" then message = message == nil and "" or tostring(message) end
    local td = type(details)
    if details ~= nil and not (PLAIN[td] or (td == "userdata" and is_error(details))) then
      unsendable(seen, td)
      details = nil
    end
    local h = n + 1
    local cnt = 2
    if retryable ~= nil then cnt = cnt + 1 end
    if details ~= nil then cnt = cnt + 1 end
    buf[h + 1] = FIXMAP[cnt]
    buf[h + 2] = "\xa4kind"
    n = enc(kind, "string", buf, h + 2, seen)
    n = n + 1; buf[n] = "\xa7message"
    n = enc(message, "string", buf, n, seen)
    if retryable ~= nil then
      n = n + 1; buf[n] = "\xa9retryable"
      n = n + 1; buf[n] = retryable and "\xc3" or "\xc2"
    end
    if details ~= nil then
      n = n + 1; buf[n] = "\xa7details"
      n = enc(details, td, buf, n, seen)
    end
    local size = 0
    for i = h + 1, n do size = size + #buf[i] end
    buf[h] = ext_header(size, EXT_ERROR)
    return n
  end

  local function enc_table(t, buf, n, seen)
    local idx = seen[t]
    if idx then
      n = n + 1; buf[n] = pack(">BBI4", 0xd6, EXT_REF, idx)
      return n
    end
    local depth = seen.depth + 1
    if depth > MAX_DEPTH then
      if not seen.err then seen.err = DEEP end
      n = n + 1; buf[n] = "\xc0"
      return n
    end
    idx = seen.count
    seen[t] = idx
    seen[idx + 1] = t -- the list of tables written, to reset a reused `seen` cheaply
    seen.count = idx + 1
    seen.depth = depth

    -- rawlen and next, never # and pairs: the sender's metamethods must not run here, and they
    -- do not travel anyway.
    local len = rawlen(t)
    if len > 0 then
      -- An array only if the keys are exactly 1..len (# may pick any border of a table with
      -- holes): len keys in all, and t[1..len] all present. The elements are checked while they
      -- are written; when one is missing, what was written for the array is rolled back (parts
      -- past the header slot, tables it numbered) and t is a map.
      local c = 0
      for _ in next, t do c = c + 1 end
      if c == len then
        local h, first = n, seen.count + 1
        n = n + 1; buf[n] = arr_header(len)
        for j = 1, len do
          local x = rawget(t, j) -- raw: a hole must not reach the sender's __index
          local tx = type(x)
          if tx == "string" and #x < 32 then
            n = n + 1; buf[n] = SCACHE[x] or short_str(x)
          elseif tx == "number" and x >= -128 and x <= 255 and mtype(x) == "integer" then
            n = n + 1; buf[n] = SMALLINT[x]
          elseif tx ~= "nil" then
            n = enc(x, tx, buf, n, seen) -- an unsendable x is recorded in seen.err
          else -- a hole: roll back
            for i = seen.count, first, -1 do seen[seen[i]] = nil; seen[i] = nil end
            seen.count = first - 1
            n = h
            break
          end
        end
        if n > h then seen.depth = depth - 1; return n end
      end
    end

    -- A map. Its entry count is known only after an unsendable entry is skipped, so its header
    -- slot is reserved and filled at the end (one pass over the table).
    local h = n + 1
    n = h
    local c = 0
    for k, x in next, t do
      local tk, tx = type(k), type(x)
      if (PLAIN[tk] or (tk == "userdata" and is_error(k)))
        and (PLAIN[tx] or (tx == "userdata" and is_error(x))) then
        c = c + 1
        if tk == "string" and #k < 32 then
          n = n + 1; buf[n] = SCACHE[k] or short_str(k)
        else
          n = enc(k, tk, buf, n, seen)
        end
        if tx == "string" and #x < 32 then
          n = n + 1; buf[n] = SCACHE[x] or short_str(x)
        else
          n = enc(x, tx, buf, n, seen)
        end
      elseif not seen.err then
        unsendable(seen, (PLAIN[tk] or (tk == "userdata" and is_error(k))) and tx or tk)
      end
    end
    buf[h] = map_header(c)
    seen.depth = depth - 1
    return n
  end

  enc = function(v, tv, buf, n, seen)
    n = n + 1
    if tv == "string" then
      local l = #v
      local b = seen.bytes + l
      seen.bytes = b
      if b > MAX_BYTES then
        if not seen.err then seen.err = TOO_BIG end
        buf[n] = "\xc0"
        return n
      end
      buf[n] = str_header(l)
      n = n + 1; buf[n] = v
    elseif tv == "number" then
      if mtype(v) == "integer" then
        if v >= -128 and v <= 255 then buf[n] = SMALLINT[v]
        elseif v > 0 then
          if v < 0x10000 then buf[n] = pack(">BI2", 0xcd, v)
          elseif v < 0x100000000 then buf[n] = pack(">BI4", 0xce, v)
          else buf[n] = pack(">Bi8", 0xcf, v) end
        else
          if v >= -0x8000 then buf[n] = pack(">Bi2", 0xd1, v)
          elseif v >= -0x80000000 then buf[n] = pack(">Bi4", 0xd2, v)
          else buf[n] = pack(">Bi8", 0xd3, v) end
        end
      else
        buf[n] = pack(">Bd", 0xcb, v)
      end
    elseif tv == "table" then
      if is_error(v) then return enc_error(v, buf, n - 1, seen) end
      return enc_table(v, buf, n - 1, seen)
    elseif tv == "boolean" then
      buf[n] = v and "\xc3" or "\xc2"
    elseif tv == "userdata" and is_error(v) then
      return enc_error(v, buf, n - 1, seen)
    else
      if tv ~= "nil" then unsendable(seen, tv) end
      buf[n] = "\xc0"
    end
    return n
  end

  ---------------------------------------------------------------------------------------------
  -- Decoder. dec(s, pos, slen, refs) decodes the value starting at byte pos of s (slen == #s) and
  -- returns it and the position after it. refs lists the tables decoded so far, in order (refs.n
  -- of them); ext 1 indexes into it.
  local dec

  -- NEWMAP[c]() returns an empty table whose hash part already has room for c keys: a constructor
  -- `{_1 = nil, ...}` sizes the table and stores nothing. Growing a map key by key rehashes at
  -- 1, 2, 4, 8...; presizing saved ~0.3 µs of a ~4.4 µs envelope decode. Maps of more than 16
  -- entries start empty. (Array parts grow cheaply enough that presizing them showed no gain.)
  local NEWMAP = {}
  if load then
    for c = 1, 16 do
      local fields = {}
      for j = 1, c do fields[j] = "_" .. j .. "=nil" end
      NEWMAP[c] = load("return function() return {" .. concat(fields, ",") .. "} end", "=codec.newmap")()
    end
  end

  -- The refs list is reused from one decode to the next, like the encoder's parts (drefs, dbusy:
  -- see codec.decode). A failing decode that owns it empties it before raising.
  local drefs, dbusy = { n = 0, depth = 0 }, false
  local function release_refs(refs)
    local r = refs.n
    if r > KEEP_TABLES then
      drefs = { n = 0, depth = 0 }
    else
      for i = 1, r do refs[i] = nil end
      refs.n = 0
      refs.depth = 0
    end
    dbusy = false
  end

  local function fail(refs, what, pos)
    if refs == drefs and dbusy then release_refs(refs) end
    error(format("codec.decode: %s at byte %d", what, pos), 0)
  end
  local function truncated(refs, pos) fail(refs, "truncated input", pos) end
  local function need(refs, pos, k, slen) if pos + k > slen then truncated(refs, pos) end end

  -- Tables are filled as they are read; the common element forms (fixstr, fixint) are decoded
  -- inline, without a call to dec.
  local function dec_array(s, pos, slen, refs, cnt)
    local t = {}
    local r = refs.n + 1
    refs.n = r; refs[r] = t
    local depth = refs.depth + 1
    if depth > MAX_DEPTH then fail(refs, DEEP, pos) end
    refs.depth = depth
    for i = 1, cnt do
      local b = byte(s, pos)
      if b and b >= 0xa0 and b < 0xc0 then
        local e = pos + b - 0xa0
        if e > slen then truncated(refs, pos) end
        t[i] = sub(s, pos + 1, e)
        pos = e + 1
      elseif b and b < 0x80 then
        t[i] = b
        pos = pos + 1
      else
        local v
        v, pos = dec(s, pos, slen, refs)
        t[i] = v
      end
    end
    refs.depth = depth - 1
    return t, pos
  end

  local function dec_map(s, pos, slen, refs, cnt)
    local new = NEWMAP[cnt]
    local t = new and new() or {}
    local r = refs.n + 1
    refs.n = r; refs[r] = t
    local depth = refs.depth + 1
    if depth > MAX_DEPTH then fail(refs, DEEP, pos) end
    refs.depth = depth
    for _ = 1, cnt do
      local k, v
      local b = byte(s, pos)
      if b and b >= 0xa0 and b < 0xc0 then
        local e = pos + b - 0xa0
        if e > slen then truncated(refs, pos) end
        k = sub(s, pos + 1, e)
        pos = e + 1
      else
        local at = pos
        k, pos = dec(s, pos, slen, refs)
        if k == nil or k ~= k then fail(refs, "nil or NaN map key", at) end
      end
      b = byte(s, pos)
      if b and b >= 0xa0 and b < 0xc0 then
        local e = pos + b - 0xa0
        if e > slen then truncated(refs, pos) end
        t[k] = sub(s, pos + 1, e)
        pos = e + 1
      elseif b and b < 0x80 then
        t[k] = b
        pos = pos + 1
      else
        v, pos = dec(s, pos, slen, refs)
        t[k] = v
      end
    end
    refs.depth = depth - 1
    return t, pos
  end

  -- A string of l bytes after a header of hsize bytes (plus the tag) at pos.
  local function dec_str(s, pos, slen, refs, l, hsize)
    local first = pos + hsize + 1
    local last = first + l - 1
    if last > slen then truncated(refs, pos) end
    return sub(s, first, last), last + 1
  end

  -- The payload of ext 2: a map of the four error fields, decoded in the enclosing stream so its
  -- tables take their place in `refs`. The wrapper map itself is not a Lua table on either side and
  -- takes no index.
  local function dec_error(s, pos, slen, refs, size)
    local stop = pos + size
    local b = byte(s, pos)
    local cnt
    if b and b >= 0x80 and b < 0x90 then cnt = b - 0x80; pos = pos + 1
    elseif b == 0xde and pos + 2 < stop then cnt = unpack(">I2", s, pos + 1); pos = pos + 3
    elseif b == 0xdf and pos + 4 < stop then cnt = unpack(">I4", s, pos + 1); pos = pos + 5
    else fail(refs, "error extension without a field map", pos) end
    -- An error object counts as a level, like a table: errors nested through `details` must not
    -- get past the depth limit (the JS decoder counts them the same way).
    local depth = refs.depth + 1
    if depth > MAX_DEPTH then fail(refs, DEEP, pos) end
    refs.depth = depth
    local fields = {}
    for _ = 1, cnt do
      local k, v
      k, pos = dec(s, pos, slen, refs)
      v, pos = dec(s, pos, slen, refs)
      if k == "kind" or k == "message" or k == "retryable" or k == "details" then fields[k] = v end
    end
    if pos ~= stop then fail(refs, "error extension length mismatch", stop) end
    refs.depth = depth - 1
    if fields.kind == nil then fields.kind = "" end
    if fields.message == nil then fields.message = "" end
    return make_error(fields), pos
  end

  -- pos is the first data byte of an extension of `size` bytes and type `ty` (signed).
  local function dec_ext(s, pos, slen, refs, size, ty)
    if pos + size - 1 > slen then truncated(refs, pos) end
    if ty == EXT_REF then
      if size ~= 4 then fail(refs, "bad table reference", pos) end
      local i = unpack(">I4", s, pos)
      if i >= refs.n then fail(refs, "reference to an unknown table", pos) end
      return refs[i + 1], pos + 4
    elseif ty == EXT_ERROR then
      return dec_error(s, pos, slen, refs, size)
    elseif ty == -1 then -- msgpack timestamp -> Unix seconds
      local sec, nsec
      if size == 4 then sec, nsec = unpack(">I4", s, pos), 0
      elseif size == 8 then
        local d = unpack(">i8", s, pos)
        sec, nsec = d & 0x3ffffffff, (d >> 34) & 0x3fffffff
      elseif size == 12 then nsec, sec = unpack(">I4i8", s, pos)
      else fail(refs, "bad timestamp", pos) end
      if nsec ~= 0 then sec = sec + nsec / 1e9 end
      return sec, pos + size
    elseif ty == 0 then -- msgpackr's "undefined"
      return nil, pos + size
    end
    fail(refs, "unsupported extension type " .. ty, pos - 1)
  end

  -- Tags 0xc0..0xdf; the fix* ranges are handled inline in dec.
  local D = {}
  D[0xc0] = function(_, pos) return nil, pos + 1 end
  D[0xc1] = function(_, pos, _, refs) fail(refs, "invalid tag 0xc1", pos) end
  D[0xc2] = function(_, pos) return false, pos + 1 end
  D[0xc3] = function(_, pos) return true, pos + 1 end
  D[0xc7] = function(s, pos, slen, refs)
    need(refs, pos, 2, slen)
    local size, ty = unpack(">Bb", s, pos + 1)
    return dec_ext(s, pos + 3, slen, refs, size, ty)
  end
  D[0xc8] = function(s, pos, slen, refs)
    need(refs, pos, 3, slen)
    local size, ty = unpack(">I2b", s, pos + 1)
    return dec_ext(s, pos + 4, slen, refs, size, ty)
  end
  D[0xc9] = function(s, pos, slen, refs)
    need(refs, pos, 5, slen)
    local size, ty = unpack(">I4b", s, pos + 1)
    return dec_ext(s, pos + 6, slen, refs, size, ty)
  end
  D[0xca] = function(s, pos, slen, refs) need(refs, pos, 4, slen); return unpack(">f", s, pos + 1) end
  D[0xcb] = function(s, pos, slen, refs) need(refs, pos, 8, slen); return unpack(">d", s, pos + 1) end
  D[0xcc] = function(s, pos, slen, refs) need(refs, pos, 1, slen); return byte(s, pos + 1), pos + 2 end
  D[0xcd] = function(s, pos, slen, refs) need(refs, pos, 2, slen); return unpack(">I2", s, pos + 1) end
  D[0xce] = function(s, pos, slen, refs) need(refs, pos, 4, slen); return unpack(">I4", s, pos + 1) end
  D[0xcf] = function(s, pos, slen, refs)
    need(refs, pos, 8, slen)
    local v, p = unpack(">i8", s, pos + 1)
    if v < 0 then v = v + 18446744073709551616.0 end -- above math.maxinteger: nearest float
    return v, p
  end
  D[0xd0] = function(s, pos, slen, refs) need(refs, pos, 1, slen); return unpack(">i1", s, pos + 1) end
  D[0xd1] = function(s, pos, slen, refs) need(refs, pos, 2, slen); return unpack(">i2", s, pos + 1) end
  D[0xd2] = function(s, pos, slen, refs) need(refs, pos, 4, slen); return unpack(">i4", s, pos + 1) end
  D[0xd3] = function(s, pos, slen, refs) need(refs, pos, 8, slen); return unpack(">i8", s, pos + 1) end
  for tag, size in pairs({ [0xd4] = 1, [0xd5] = 2, [0xd6] = 4, [0xd7] = 8, [0xd8] = 16 }) do
    D[tag] = function(s, pos, slen, refs)
      need(refs, pos, 1, slen)
      return dec_ext(s, pos + 2, slen, refs, size, unpack(">b", s, pos + 1))
    end
  end
  D[0xd9] = function(s, pos, slen, refs)
    need(refs, pos, 1, slen); return dec_str(s, pos, slen, refs, byte(s, pos + 1), 1)
  end
  D[0xda] = function(s, pos, slen, refs)
    need(refs, pos, 2, slen); return dec_str(s, pos, slen, refs, unpack(">I2", s, pos + 1), 2)
  end
  D[0xdb] = function(s, pos, slen, refs)
    need(refs, pos, 4, slen); return dec_str(s, pos, slen, refs, unpack(">I4", s, pos + 1), 4)
  end
  -- bin8/16/32 (other writers' binary) decode exactly as str8/16/32: Lua has only byte strings.
  D[0xc4], D[0xc5], D[0xc6] = D[0xd9], D[0xda], D[0xdb]
  D[0xdc] = function(s, pos, slen, refs)
    need(refs, pos, 2, slen); return dec_array(s, pos + 3, slen, refs, unpack(">I2", s, pos + 1))
  end
  D[0xdd] = function(s, pos, slen, refs)
    need(refs, pos, 4, slen); return dec_array(s, pos + 5, slen, refs, unpack(">I4", s, pos + 1))
  end
  D[0xde] = function(s, pos, slen, refs)
    need(refs, pos, 2, slen); return dec_map(s, pos + 3, slen, refs, unpack(">I2", s, pos + 1))
  end
  D[0xdf] = function(s, pos, slen, refs)
    need(refs, pos, 4, slen); return dec_map(s, pos + 5, slen, refs, unpack(">I4", s, pos + 1))
  end

  dec = function(s, pos, slen, refs)
    local b = byte(s, pos)
    if b == nil then truncated(refs, pos) end
    if b < 0x80 then return b, pos + 1 end -- positive fixint
    if b >= 0xa0 then
      if b < 0xc0 then -- fixstr
        local e = pos + b - 0xa0
        if e > slen then truncated(refs, pos) end
        return sub(s, pos + 1, e), e + 1
      end
      if b >= 0xe0 then return b - 0x100, pos + 1 end -- negative fixint
      return D[b](s, pos, slen, refs)
    end
    if b < 0x90 then return dec_map(s, pos + 1, slen, refs, b - 0x80) end
    return dec_array(s, pos + 1, slen, refs, b - 0x90)
  end

  ---------------------------------------------------------------------------------------------
  -- Same-worker deep copy. seen maps each table copied to its copy; seen[ERR] holds the first
  -- problem met (the walk goes on without descending further, as in the encoder).
  local ERR = "\0err"
  local copy_table

  -- An error object stays the same object, unless its details hold a table: that table belongs
  -- to the sender (mutable, maybe with a metatable), so it is copied into a new error object.
  local function copy_error(e, seen, depth)
    local f = error_fields(e)
    local d = f.details
    local td = type(d)
    if td == "table" and not is_error(d) then
      d = seen[d] or copy_table(d, seen, depth + 1)
    elseif td == "function" or td == "thread" or (td == "userdata" and not is_error(d)) then
      if not seen[ERR] then seen[ERR] = "cannot send a " .. td end
      return nil
    else
      return e
    end
    return make_error({ kind = f.kind, message = f.message, retryable = f.retryable, details = d,
      stack = f.stack })
  end

  -- One key or value: -> its copy (nil when unsendable, recorded in seen[ERR]).
  local function copy_value(x, tx, seen, depth)
    if tx == "table" then
      if is_error(x) then return copy_error(x, seen, depth) end
      return seen[x] or copy_table(x, seen, depth + 1)
    elseif tx == "userdata" then
      if is_error(x) then return copy_error(x, seen, depth) end
    elseif tx ~= "function" and tx ~= "thread" then
      return x
    end
    if not seen[ERR] then seen[ERR] = "cannot send a " .. tx end
    return nil
  end

  copy_table = function(t, seen, depth)
    if depth > VALUE_DEPTH then
      if not seen[ERR] then seen[ERR] = VALUE_DEEP end
      return nil
    end
    local c = {}
    seen[t] = c
    for k, x in next, t do
      local tk, tx = type(k), type(x)
      if tk ~= "string" and tk ~= "number" and tk ~= "boolean" then k = copy_value(k, tk, seen, depth) end
      if tx ~= "string" and tx ~= "number" and tx ~= "boolean" then x = copy_value(x, tx, seen, depth) end
      if k ~= nil then c[k] = x end
    end
    return c
  end

  ---------------------------------------------------------------------------------------------
  local codec = {}

  -- The parts array, `seen` and `refs` are reused from one call to the next: growing a fresh parts
  -- array and seen table each time cost ~2 µs of a ~6.5 µs envelope encode. A nested call (a __gc
  -- finaliser may send while a value is being encoded) finds them busy and takes fresh ones. Reuse
  -- must not keep big strings or many tables alive: seen and refs are emptied through their lists
  -- of tables, and the parts array is dropped after a big message (or a refused one). The
  -- decoder's errors (bad input, too deep) put the scratch back before raising; if a K callback or
  -- the allocator raises mid-call it stays marked busy and later calls take fresh tables (slower,
  -- still correct) until codec.reset(). Arguments are checked before the scratch is taken, for
  -- the same reason.
  -- Past MAX_BYTES: the strings counted while encoding plus one byte a part is a lower bound of
  -- the size, checked before concat allocates; the exact size after.
  local function finish(buf, n, seen)
    local err, s = seen.err, nil
    if not err then
      if seen.bytes + n > MAX_BYTES then
        err = TOO_BIG
      else
        s = concat(buf, "", 1, n)
        if #s > MAX_BYTES then s, err = nil, TOO_BIG end
      end
    end
    if seen == eseen then release_seen(seen, err or n > KEEP_PARTS or #s > KEEP_BYTES) end
    if err then return nil, err end
    return s
  end

  -- encode(v) -> string | nil, message (unsendable, too deep, too large: see the top)
  function codec.encode(v)
    local buf, seen
    if ebusy then buf, seen = {}, new_seen() else ebusy = true; buf, seen = ebuf, eseen end
    return finish(buf, enc(v, type(v), buf, 0, seen), seen)
  end

  -- decode(s [, pos]) -> v, next_pos
  function codec.decode(s, pos)
    if type(s) ~= "string" then error("codec.decode: expected a string, got " .. type(s), 2) end
    if pos == nil then pos = 1
    elseif mtype(pos) ~= "integer" or pos < 1 then
      error("codec.decode: pos must be a positive integer", 2)
    end
    local refs
    if dbusy then refs = { n = 0, depth = 0 } else dbusy = true; refs = drefs end
    local v, nxt = dec(s, pos, #s, refs)
    if refs == drefs then release_refs(refs) end
    return v, nxt
  end

  -- encode_args(n, ...) -> string | nil, message: the first n arguments as one msgpack array of
  -- length n, nils (embedded and trailing) included. One `seen` for all of them: sharing between arguments
  -- survives too.
  function codec.encode_args(n, ...)
    if mtype(n) ~= "integer" or n < 0 then
      error("codec.encode_args: n must be a non-negative integer", 2)
    end
    local buf, seen
    if ebusy then buf, seen = {}, new_seen() else ebusy = true; buf, seen = ebuf, eseen end
    buf[1] = arr_header(n)
    local m = 1
    if n <= 8 then
      for i = 1, n do
        local v = (select(i, ...))
        m = enc(v, type(v), buf, m, seen)
      end
    else
      local a = { ... }
      for i = 1, n do
        local v = a[i]
        m = enc(v, type(v), buf, m, seen)
      end
    end
    return finish(buf, m, seen)
  end

  -- decode_args(s) -> n, ...
  function codec.decode_args(s)
    if type(s) ~= "string" then error("codec.decode_args: expected a string, got " .. type(s), 2) end
    local slen = #s
    local b = byte(s, 1)
    local cnt, pos
    if b == nil then truncated(nil, 1)
    elseif b >= 0x90 and b <= 0x9f then cnt, pos = b - 0x90, 2
    elseif b == 0xdc then need(nil, 1, 2, slen); cnt, pos = unpack(">I2", s, 2), 4
    elseif b == 0xdd then need(nil, 1, 4, slen); cnt, pos = unpack(">I4", s, 2), 6
    else fail(nil, "an argument list must be an array", 1) end
    if cnt == 0 then return 0 end
    local refs
    if dbusy then refs = { n = 0, depth = 0 } else dbusy = true; refs = drefs end
    if cnt == 1 then
      local v = dec(s, pos, slen, refs)
      if refs == drefs then release_refs(refs) end
      return 1, v
    end
    local t = {}
    for i = 1, cnt do
      local v
      v, pos = dec(s, pos, slen, refs)
      t[i] = v
    end
    if refs == drefs then release_refs(refs) end
    return cnt, tunpack(t, 1, cnt)
  end

  -- copy(v) -> the same-worker deep copy of v | nil, message (see the top of the file).
  function codec.copy(v)
    local tv = type(v)
    if tv == "string" or tv == "number" or tv == "boolean" or tv == "nil" then return v end
    local seen = {}
    local c = copy_value(v, tv, seen, 0)
    local err = seen[ERR]
    if err then return nil, err end
    return c
  end

  codec.MAX_DEPTH, codec.VALUE_DEPTH, codec.MAX_BYTES = MAX_DEPTH, VALUE_DEPTH, MAX_BYTES

  -- reset(): fresh scratch tables. For the kernel after an error unwound a call that held them
  -- (the allocator failing mid-encode), so later calls do not keep taking fresh ones.
  function codec.reset()
    ebuf, eseen, ebusy = {}, new_seen(), false
    drefs, dbusy = { n = 0, depth = 0 }, false
  end

  -- The codec in C (native/lua/lcodec.c) when this Lua module has it (ours; not wasmoon's): the
  -- same bytes, limits, sharing rules and errors (test/native-codec.test.ts compares the two on
  -- the same values), without a Lua table of parts or a Lua call per value. K.native is the
  -- `wippy.native` library to use, or false for this file's codec (the tests run both); by
  -- default package.loaded["wippy.native"]. K.error_registry, when given, is a table with
  -- is_error(v) == (registry[v] ~= nil) (the kernel's): C then tests values with one raw lookup
  -- instead of calling is_error.
  local native = K.native
  if native == nil then
    local pkg = package
    native = type(pkg) == "table" and type(pkg.loaded) == "table" and pkg.loaded["wippy.native"]
  end
  if native and native.codec then
    local c = native.codec(is_error, error_fields, make_error, K.error_registry)
    if c.MAX_DEPTH == MAX_DEPTH and c.VALUE_DEPTH == VALUE_DEPTH and c.MAX_BYTES == MAX_BYTES then
      codec.encode, codec.decode, codec.copy = c.encode, c.decode, c.copy
      codec.encode_args, codec.decode_args = c.encode_args, c.decode_args
      -- encode_frame(k, a1..ak, v1..vn): encode({ a1, ..., ak, { v1, ..., vn } }) without the two
      -- tables (lcodec.c); C only — without it the caller builds the tables (process.send)
      codec.encode_frame = c.encode_frame
      -- encode_frame_out(outbox, tid, k, ...): encode_frame's bytes appended to the kernel's step
      -- outbox (native/lua/lstep.c) for thread tid, no string made. The kernel's only.
      codec.encode_frame_out = c.encode_frame_out
      -- decode_at(addr, pos, len): decode(s, pos) from the bytes at an address of the Lua state's
      -- memory (the worker's input area; lcodec.c). The kernel's only: never give it to a process.
      codec.decode_at = c.decode_at
      -- decode_m_at(addr, pos, len): a message frame's fields at pos without the frame's table,
      -- or nil for any other frame (the kernel's batch delivery, frames.lua)
      codec.decode_m_at = c.decode_m_at
      -- deliver_run(addr, pos, len, pid, P, deliver, cur): the one-value message frames for pid from
      -- pos on, delivered by one C call (lcodec.c; the kernel's batch delivery, frames.lua)
      codec.deliver_run = c.deliver_run
      local lua_reset, c_reset = codec.reset, c.reset
      codec.reset = function() lua_reset(); c_reset() end
      codec.native = true
    end
  end

  return codec
end
