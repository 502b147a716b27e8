// The Lua `time` module (src/lua/lib/time.lua) under a fake kernel (test/lua/time_fake.lua): a
// hand-advanced clock, timers fired in deadline order, non-blocking table channels, and IANA
// zones from Node's Intl. Each test gets a fresh Lua state and runs a Lua snippet whose asserts
// (eq, fails) raise on mismatch, so a failing expectation rejects doString with its message.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { LuaFactory } from 'wasmoon';

const TIME_SRC = readFileSync(path.resolve('src/lua/lib/time.lua'), 'utf8');
const ASSERTS_SRC = readFileSync(path.resolve('test/lua/asserts.lua'), 'utf8');
const FAKE_SRC = readFileSync(path.resolve('test/lua/time_fake.lua'), 'utf8');
const factory = new LuaFactory();

// Offset of an IANA zone at a Unix second, via Intl; undefined for an unknown zone.
const zoneFormats = new Map<string, Intl.DateTimeFormat | null>();
function zoneFormat(name: string): Intl.DateTimeFormat | null {
  let f = zoneFormats.get(name);
  if (f === undefined) {
    try {
      f = new Intl.DateTimeFormat('en-US', {
        timeZone: name, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric',
        hour: 'numeric', minute: 'numeric', second: 'numeric',
      });
    } catch {
      f = null;
    }
    zoneFormats.set(name, f);
  }
  return f;
}
function tzOffset(name: string, sec: number): number | undefined {
  const f = zoneFormat(name);
  if (!f) return undefined;
  const p: Record<string, number> = {};
  for (const part of f.formatToParts(new Date(sec * 1000))) p[part.type] = Number(part.value);
  const asUtc = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second);
  return Math.round(asUtc / 1000 - sec);
}
// Abbreviation ("EST", "CET") when Intl has a real one; none for "GMT+9"-style names.
function tzAbbr(name: string, sec: number): string | undefined {
  const parts = new Intl.DateTimeFormat('en-US', { timeZone: name, timeZoneName: 'short' })
    .formatToParts(new Date(sec * 1000));
  const v = parts.find((x) => x.type === 'timeZoneName')?.value;
  return v && /^[A-Z]{3,5}$/.test(v) ? v : undefined;
}

const PRELUDE = String.raw`
F, K, time = assert(load(FAKE_SRC, "@test/lua/time_fake.lua", "t"))()(TIME_SRC)
UTC = time.utc
assert(load(ASSERTS_SRC, "@test/lua/asserts.lua", "t"))()
function D(s) return assert(time.parse_duration(s)) end
function drain(ch)
  local out = {}
  while ch:len() > 0 do out[#out + 1] = (ch:receive()) end
  return out
end
`;

async function lua(code: string): Promise<unknown> {
  const engine = await factory.createEngine({ openStandardLibs: true, injectObjects: false, enableProxy: false });
  try {
    engine.global.set('TIME_SRC', TIME_SRC);
    engine.global.set('FAKE_SRC', FAKE_SRC);
    engine.global.set('ASSERTS_SRC', ASSERTS_SRC);
    engine.global.set('js_tz_offset', tzOffset);
    engine.global.set('js_tz_abbr', tzAbbr);
    await engine.doString(PRELUDE);
    return await engine.doString(code);
  } finally {
    engine.global.close();
  }
}

describe('durations', () => {
  test('parse and canonical format round trip', async () => {
    await lua(String.raw`
      local cases = {
        { "300ms", 300000000, "300ms" },
        { "1h30m45s", 5445000000000, "1h30m45s" },
        { "2.5s", 2500000000, "2.5s" },
        { "-1.5h", -5400000000000, "-1h30m0s" },
        { "0", 0, "0s" }, { "+0", 0, "0s" }, { "-0", 0, "0s" }, { "0s", 0, "0s" },
        { "1ns", 1, "1ns" }, { "100ns", 100, "100ns" },
        { "1us", 1000, "1µs" }, { "1µs", 1000, "1µs" }, { "1μs", 1000, "1µs" },
        { "1.5ms", 1500000, "1.5ms" }, { ".5s", 500000000, "500ms" }, { "1.s", 1000000000, "1s" },
        { "1.000000001s", 1000000001, "1.000000001s" },
        { "1h1m1s1ms1us1ns", 3661001001001, "1h1m1.001001001s" },
        { "2h30m45s500ms", 9045500000000, "2h30m45.5s" },
        { "72h", 259200000000000, "72h0m0s" }, { "1m", 60000000000, "1m0s" },
        { "+5s", 5000000000, "5s" }, { "1.5m", 90000000000, "1m30s" },
        { "0.3333333333333333333h", 1200000000000, "20m0s" },
        { "0.100000000000000000000h", 360000000000, "6m0s" },
        { "9007199254740993ns", 9007199254740993, "2501h59m59.254740993s" },
        { "9223372036854775807ns", math.maxinteger, "2562047h47m16.854775807s" },
        { "9223372036854775.807us", math.maxinteger, "2562047h47m16.854775807s" },
        { "9223372036.854775807s", math.maxinteger, "2562047h47m16.854775807s" },
        { "-9223372036854775808ns", math.mininteger, "-2562047h47m16.854775808s" },
        { "-9223372036.854775808s", math.mininteger, "-2562047h47m16.854775808s" },
      }
      for _, c in ipairs(cases) do
        local d, err = time.parse_duration(c[1])
        assert(d, c[1] .. ": " .. tostring(err))
        eq(d:nanoseconds(), c[2], c[1])
        eq(math.type(d:nanoseconds()), "integer", c[1])
        eq(tostring(d), c[3], "tostring " .. c[1])
        -- the canonical form parses back to the same duration
        eq(time.parse_duration(tostring(d)):nanoseconds(), c[2], "reparse " .. c[1])
      end
    `);
  });

  test('invalid duration strings give Invalid with Go messages', async () => {
    await lua(String.raw`
      local cases = {
        { "", 'time: invalid duration ""' },
        { "3", 'time: missing unit in duration "3"' },
        { "-", 'time: invalid duration "-"' },
        { "s", 'time: invalid duration "s"' },
        { ".", 'time: invalid duration "."' },
        { "-.", 'time: invalid duration "-."' },
        { ".s", 'time: invalid duration ".s"' },
        { "+.s", 'time: invalid duration "+.s"' },
        { "1d", 'time: unknown unit "d" in duration "1d"' },
        { "1h30", 'time: missing unit in duration "1h30"' },
        { "\x85\x85", 'time: invalid duration "\\x85\\x85"' },
        { "hello \xffff world", 'time: invalid duration "hello \\xffff world"' },
        { "9223372036854775808ns", 'time: invalid duration "9223372036854775808ns"' },
        { "9223372036854775810ns", 'time: invalid duration "9223372036854775810ns"' },
        { "-9223372036854775809ns", 'time: invalid duration "-9223372036854775809ns"' },
        { "9223372036854775.808us", 'time: invalid duration "9223372036854775.808us"' },
        { "9223372036854ms775us808ns", 'time: invalid duration "9223372036854ms775us808ns"' },
        { "3000000h", 'time: invalid duration "3000000h"' },
        { "1 s", 'time: unknown unit " s" in duration "1 s"' },
      }
      for _, c in ipairs(cases) do fails("Invalid", c[2], time.parse_duration(c[1])) end
      fails("Invalid", "duration must be number or string", time.parse_duration(true))
      fails("Invalid", "duration must be number or string", time.parse_duration({}))
      fails("Invalid", "duration must be number or string", time.parse_duration(0/0))
    `);
  });

  test('numbers are nanoseconds; Duration accessors', async () => {
    await lua(String.raw`
      eq(tostring(time.parse_duration(1500)), "1.5µs")
      eq(tostring(time.parse_duration(90 * time.SECOND)), "1m30s")
      eq(tostring(time.parse_duration(5 * time.MINUTE)), "5m0s")
      eq(time.parse_duration(1.9):nanoseconds(), 1, "floats truncate")
      eq(time.parse_duration(-1.9):nanoseconds(), -1, "toward zero")
      local d = D("1h30m45s500ms")
      eq(time.parse_duration(d), d, "a Duration passes through")
      eq(d:nanoseconds(), 5445500000000)
      eq(d:microseconds(), 5445500000)
      eq(d:milliseconds(), 5445500)
      eq(d:seconds(), 5445.5)
      eq(d:minutes(), 90.75833333333334)
      eq(d:hours(), 1.5126388888888889)
      eq(math.type(d:milliseconds()), "integer")
      eq(math.type(d:seconds()), "float")
      local n = D("-1.5ms")
      eq(n:milliseconds(), -1, "Go truncates toward zero")
      eq(n:microseconds(), -1500)
      eq(n:seconds(), -0.0015)
      eq(time.NANOSECOND, 1); eq(time.MICROSECOND, 1000); eq(time.MILLISECOND, 1000000)
      eq(time.SECOND, 1000000000); eq(time.MINUTE, 60000000000); eq(time.HOUR, 3600000000000)
      eq(math.type(time.SECOND), "integer")
    `);
  });
});

describe('calendar', () => {
  test('date normalises like Go and add_date crosses month, year and leap boundaries', async () => {
    await lua(String.raw`
      local function ymd(t) return t:format("2006-01-02 15:04:05.999999999") end
      eq(ymd(time.date(2023, 12, 31, 23, 59, 59, 1000000000, UTC)), "2024-01-01 00:00:00")
      eq(ymd(time.date(2024, 13, 1, 0, 0, 0, 0, UTC)), "2025-01-01 00:00:00")
      eq(ymd(time.date(2024, 0, 1, 0, 0, 0, 0, UTC)), "2023-12-01 00:00:00")
      eq(ymd(time.date(2024, 3, 0, 0, 0, 0, 0, UTC)), "2024-02-29 00:00:00")
      eq(ymd(time.date(1900, 3, 0, 0, 0, 0, 0, UTC)), "1900-02-28 00:00:00")
      eq(ymd(time.date(2000, 3, 0, 0, 0, 0, 0, UTC)), "2000-02-29 00:00:00")
      eq(ymd(time.date(2024, 1, 1, -1, 0, 0, 0, UTC)), "2023-12-31 23:00:00")
      eq(ymd(time.date(2024, 1, 1, 0, 0, -1, -1, UTC)), "2023-12-31 23:59:58.999999999")
      eq(ymd(time.date(2024, -11, 1, 0, 90, 0, 0, UTC)), "2023-01-01 01:30:00")

      local feb29 = time.date(2024, 2, 29, 12, 0, 0, 0, UTC)
      eq(ymd(feb29:add_date(1, 0, 0)), "2025-03-01 12:00:00", "Feb 29 + 1y")
      eq(ymd(feb29:add_date(4, 0, 0)), "2028-02-29 12:00:00")
      eq(ymd(feb29:add_date(0, 12, 0)), "2025-03-01 12:00:00")
      eq(ymd(time.date(2024, 1, 31, 0, 0, 0, 0, UTC):add_date(0, 1, 0)), "2024-03-02 00:00:00")
      eq(ymd(time.date(2023, 1, 31, 0, 0, 0, 0, UTC):add_date(0, 1, 0)), "2023-03-03 00:00:00")
      eq(ymd(time.date(2024, 3, 1, 0, 0, 0, 0, UTC):add_date(0, 0, -1)), "2024-02-29 00:00:00")
      eq(ymd(time.date(2024, 1, 1, 0, 0, 0, 0, UTC):add_date(0, -1, 0)), "2023-12-01 00:00:00")
      eq(ymd(time.date(2024, 12, 31, 0, 0, 0, 0, UTC):add_date(0, 0, 1)), "2025-01-01 00:00:00")
      eq(ymd(time.date(2024, 1, 1, 0, 0, 0, 0, UTC):add_date(0, 0, 366)), "2025-01-01 00:00:00")
      eq(ymd(time.date(2023, 1, 1, 0, 0, 0, 0, UTC):add_date(0, 0, 365)), "2024-01-01 00:00:00")
      fails("Invalid", nil, feb29:add_date("x", 0, 0))
    `);
  });

  test('civil conversion round-trips across +-2000 years; weekday and year_day', async () => {
    await lua(String.raw`
      local prev
      for day = -800000, 800000, 997 do
        local t = time.unix(day * 86400, 0):utc()
        local y, m, d = t:date()
        eq(time.date(y, m, d, 0, 0, 0, 0, UTC):unix(), day * 86400, "day " .. day)
        eq(t:weekday(), (day + 4) % 7, "weekday " .. day)
        local yd = t:year_day()
        assert(yd >= 1 and yd <= 366)
        eq(time.date(y, 1, yd, 0, 0, 0, 0, UTC):unix(), day * 86400, "year_day " .. day)
      end
      -- every day of a leap year and the next, one after another
      local t = time.date(2023, 12, 31, 0, 0, 0, 0, UTC)
      local count = 0
      while t:year() < 2026 do
        local n = t:add("24h")
        local y, m, d = n:date()
        local py, pm, pd = t:date()
        if pm == m then eq(d, pd + 1) else eq(d, 1); eq(pd >= 28, true) end
        t, count = n, count + 1
      end
      eq(count, 366 + 365 + 1)
      eq(time.date(2024, 12, 29, 0, 0, 0, 0, UTC):weekday(), time.SUNDAY)
      eq(time.date(1970, 1, 1, 0, 0, 0, 0, UTC):weekday(), time.THURSDAY)
      eq(time.date(2000, 1, 1, 0, 0, 0, 0, UTC):weekday(), time.SATURDAY)
      eq(time.date(1, 1, 1, 0, 0, 0, 0, UTC):weekday(), time.MONDAY)
      eq(time.date(2024, 12, 31, 0, 0, 0, 0, UTC):year_day(), 366)
      eq(time.date(2023, 12, 31, 0, 0, 0, 0, UTC):year_day(), 365)
      eq(time.date(2024, 3, 1, 0, 0, 0, 0, UTC):year_day(), 61)
      eq(time.JANUARY, 1); eq(time.DECEMBER, 12); eq(time.SUNDAY, 0); eq(time.SATURDAY, 6)
    `);
  });

  test('unix, unix_nano, accessors, zero time, pre-epoch', async () => {
    await lua(String.raw`
      eq(time.unix(1703862245, 0):utc():format_rfc3339(), "2023-12-29T15:04:05Z")
      local js = 1703862245123
      local t = time.unix(js // 1000, (js % 1000) * 1000000)
      eq(t:unix(), 1703862245); eq(t:nanosecond(), 123000000)
      eq(t:unix_nano(), 1703862245123000000)
      eq(time.unix(1703862245, 1500000000):unix(), 1703862246, "nsec overflows into sec")
      eq(time.unix(0, -1):utc():format(time.RFC3339NANO), "1969-12-31T23:59:59.999999999Z")
      eq(time.date(1969, 12, 31, 23, 59, 59, 0, UTC):unix(), -1)
      eq(tostring(time.unix(0, 0):location()), "Local", "time.unix is Local")
      local u = time.date(2024, 12, 29, 15, 4, 5, 6, UTC)
      local y, m, d = u:date()
      eq(y * 10000 + m * 100 + d, 20241229)
      local h, mi, s = u:clock()
      eq(h * 10000 + mi * 100 + s, 150405)
      eq(u:year(), 2024); eq(u:month(), 12); eq(u:day(), 29)
      eq(u:hour(), 15); eq(u:minute(), 4); eq(u:second(), 5); eq(u:nanosecond(), 6)
      local zero = time.date(1, 1, 1, 0, 0, 0, 0, UTC)
      eq(zero:is_zero(), true); eq(zero:unix(), -62135596800)
      eq(zero:add(1):is_zero(), false)
      eq(u:is_zero(), false)
      fails("Invalid", nil, time.unix("x"))
      fails("Invalid", nil, time.date(2024, "x", 1))
    `);
  });

  test('add, sub, comparisons and metamethods', async () => {
    await lua(String.raw`
      local t1 = time.date(2024, 1, 1, 0, 0, 0, 0, UTC)
      local t2 = time.date(2024, 1, 2, 0, 0, 0, 0, UTC)
      eq(t1:before(t2), true); eq(t2:after(t1), true); eq(t1:equal(t1), true)
      eq(t2:before(t1), false); eq(t1:after(t2), false); eq(t1:equal(t2), false)
      eq(t1 < t2, true); eq(t1 <= t1, true); eq(t2 <= t1, false); eq(t1 == t2, false)
      eq(t1 == time.date(2024, 1, 1, 0, 0, 0, 0, UTC), true, "__eq compares instants")
      local ist = time.fixed_zone("IST", 5 * 3600 + 1800)
      eq(t1:in_location(ist) == t1, true, "same instant in another zone")
      eq(t1:in_location(ist):equal(t1), true)
      local diff = t2:sub(t1)
      eq(tostring(diff), "24h0m0s"); eq(diff:hours(), 24.0)
      eq(tostring(t1:sub(t2)), "-24h0m0s")
      eq(t1:add("24h") == t2, true)
      eq(t1:add(24 * time.HOUR) == t2, true)
      eq(t1:add(D("24h")) == t2, true)
      eq(t1:add(-1):format(time.RFC3339NANO), "2023-12-31T23:59:59.999999999Z")
      eq(t1:add("1.5s"):nanosecond(), 500000000)
      fails("Invalid", 'time: unknown unit "x" in duration "1x"', t1:add("1x"))
      fails("Invalid", "duration must be number or string", t1:add({}))
      fails("Invalid", nil, t1:sub(5))
      fails("Invalid", nil, t1:before("x"))
      -- sub saturates at the Duration range
      local zero = time.date(1, 1, 1, 0, 0, 0, 0, UTC)
      eq(t1:sub(zero):nanoseconds(), math.maxinteger)
      eq(tostring(zero:sub(t1)), "-2562047h47m16.854775808s")
      local ok, err = pcall(function() return t1 < 5 end)
      eq(ok, false)
    `);
  });

  test('round and truncate (multiples since the zero time, Duration only)', async () => {
    await lua(String.raw`
      local t = time.date(2024, 12, 29, 15, 34, 56, 700000000, UTC)
      local f = function(x) return x:format(time.RFC3339NANO) end
      eq(f(t:round(D("1h"))), "2024-12-29T16:00:00Z")
      eq(f(t:truncate(D("1h"))), "2024-12-29T15:00:00Z")
      eq(f(t:truncate(D("15m"))), "2024-12-29T15:30:00Z")
      eq(f(t:round(D("1s"))), "2024-12-29T15:34:57Z")
      eq(f(t:truncate(D("1s"))), "2024-12-29T15:34:56Z")
      eq(f(t:round(D("300ms"))), "2024-12-29T15:34:56.7Z")
      eq(f(t:round(D("24h"))), "2024-12-30T00:00:00Z")
      -- weeks count from Monday 0001-01-01, so a week truncates to a Monday
      eq(f(t:truncate(D("168h"))), "2024-12-23T00:00:00Z")
      eq(f(t:truncate(D("7m"))), "2024-12-29T15:29:00Z", "odd unit: 7-minute grid from the zero time")
      -- halfway rounds up
      eq(f(time.date(2024, 1, 1, 0, 30, 0, 0, UTC):round(D("1h"))), "2024-01-01T01:00:00Z")
      eq(f(time.date(2024, 1, 1, 0, 29, 59, 999999999, UTC):round(D("1h"))), "2024-01-01T00:00:00Z")
      -- before the zero time and before the epoch
      eq(f(time.date(0, 6, 15, 12, 0, 0, 0, UTC):truncate(D("24h"))), "0000-06-15T00:00:00Z")
      eq(f(time.date(1969, 12, 31, 23, 59, 59, 500000000, UTC):round(D("1s"))), "1970-01-01T00:00:00Z")
      eq(t:round(D("0s")) == t, true, "d <= 0 returns t")
      -- keeps the location
      local ist = time.fixed_zone("IST", 19800)
      eq(t:in_location(ist):truncate(D("24h")):format(time.RFC3339), "2024-12-29T05:30:00+05:30")
      fails("Invalid", nil, t:round(time.HOUR))
      fails("Invalid", nil, t:truncate("1h"))
    `);
  });
});

describe('format', () => {
  test('layout constants and directives', async () => {
    await lua(String.raw`
      local t = time.date(2024, 12, 29, 15, 4, 5, 123456789, UTC)
      local cases = {
        { time.RFC3339, "2024-12-29T15:04:05Z" },
        { time.RFC3339NANO, "2024-12-29T15:04:05.123456789Z" },
        { time.RFC1123, "Sun, 29 Dec 2024 15:04:05 UTC" },
        { time.RFC1123Z, "Sun, 29 Dec 2024 15:04:05 +0000" },
        { time.RFC822, "29 Dec 24 15:04 UTC" },
        { time.RFC822Z, "29 Dec 24 15:04 +0000" },
        { time.RFC850, "Sunday, 29-Dec-24 15:04:05 UTC" },
        { time.ANSIC, "Sun Dec 29 15:04:05 2024" },
        { time.UNIX_DATE, "Sun Dec 29 15:04:05 UTC 2024" },
        { time.RUBY_DATE, "Sun Dec 29 15:04:05 +0000 2024" },
        { time.KITCHEN, "3:04PM" },
        { time.STAMP, "Dec 29 15:04:05" },
        { time.STAMP_MILLI, "Dec 29 15:04:05.123" },
        { time.STAMP_MICRO, "Dec 29 15:04:05.123456" },
        { time.STAMP_NANO, "Dec 29 15:04:05.123456789" },
        { time.DATE_TIME, "2024-12-29 15:04:05" },
        { time.DATE_ONLY, "2024-12-29" },
        { time.TIME_ONLY, "15:04:05" },
        { time.LAYOUT, "12/29 03:04:05PM '24 +0000" },
        { "Mon Jan 2, 2006", "Sun Dec 29, 2024" },
        { "Monday January 2 2006", "Sunday December 29 2024" },
        { "1/2/06 3:4:5 pm", "12/29/24 3:4:5 pm" },
        { "__2 002", "364 364" },
        { "15:04:05.000", "15:04:05.123" },
        { "15:04:05,999999", "15:04:05,123456" },
        { "05.0000000000000", "05.123456789" },
        { "2006_01", "2024_12" },
        { "_2006", "_2024" },
        { "Z07:00 Z0700 Z07 -07:00:00 -070000", "Z Z Z +00:00:00 +000000" },
        { "Janet Monaco Mondays", "Janet Monaco Sundays" },
        { "no directives here", "no directives here" },
        { "", "" },
      }
      for _, c in ipairs(cases) do eq(t:format(c[1]), c[2], "layout " .. c[1]) end
      eq(t:format_rfc3339(), "2024-12-29T15:04:05Z")
      eq(tostring(t), "2024-12-29 15:04:05.123456789 +0000 UTC")
      local r = time.date(2024, 1, 5, 0, 7, 9, 120000000, UTC)
      eq(r:format("_2|02|2|__2|002|.999|.000|3|03|PM|pm"), " 5|05|5|  5|005|.12|.120|12|12|AM|am")
      eq(r:add("12h"):format("3:04 PM"), "12:07 PM")
      eq(r:format(".999999999"), ".12")
      eq(time.date(2024, 1, 5, 0, 0, 0, 0, UTC):format("05.999"), "00", "zero fraction is dropped")
      eq(tostring(time.date(2024, 1, 5, 0, 0, 0, 0, UTC)), "2024-01-05 00:00:00 +0000 UTC")
      eq(time.date(-5, 1, 1, 0, 0, 0, 0, UTC):format("2006 06"), "-0005 05")
      eq(time.date(12345, 1, 1, 0, 0, 0, 0, UTC):format("2006"), "12345")
      fails("Invalid", nil, t:format(42))
    `);
  });

  test('zones: fixed offsets, names and numeric forms', async () => {
    await lua(String.raw`
      local t = time.date(2024, 12, 29, 15, 4, 5, 0, UTC)
      local ist = time.fixed_zone("IST", 5 * 3600 + 30 * 60)
      local i = t:in_location(ist)
      eq(i:format(time.RFC3339), "2024-12-29T20:34:05+05:30")
      eq(i:format("-0700 -07 -07:00 Z07:00:00 MST"), "+0530 +05 +05:30 +05:30:00 IST")
      eq(tostring(i), "2024-12-29 20:34:05 +0530 IST")
      local odd = time.fixed_zone("", -(3 * 3600 + 30 * 60 + 15))
      eq(t:in_location(odd):format("MST|-070000|Z07:00:00|-07"), "-0330|-033015|-03:30:15|-03")
      local pst = time.fixed_zone("PST", -8 * 3600)
      eq(time.date(2024, 1, 15, 12, 0, 0, 0, pst):utc():format(time.RFC3339), "2024-01-15T20:00:00Z")
      eq(t:in_location(pst):day(), 29); eq(t:in_location(pst):hour(), 7)
      eq(time.date(2024, 1, 1, 1, 0, 0, 0, pst):utc():day(), 1)
      eq(time.date(2024, 1, 1, 20, 0, 0, 0, pst):utc():day(), 2, "date moves with the offset")
      eq(t:utc():location(), UTC)
      eq(t:in_location(ist):location(), ist)
      fails("Invalid", nil, t:in_location("IST"))
    `);
  });

  test('IANA zones (offsets from the host) and DST transitions', async () => {
    await lua(String.raw`
      local ny = assert(time.load_location("America/New_York"))
      local summer = time.date(2024, 7, 4, 12, 0, 0, 0, ny)
      eq(summer:format(time.RFC3339), "2024-07-04T12:00:00-04:00")
      eq(summer:utc():hour(), 16)
      eq(summer:format("MST"), "EDT")
      local winter = time.date(2024, 1, 15, 14, 0, 0, 0, ny)
      eq(winter:format(time.RFC1123Z), "Mon, 15 Jan 2024 14:00:00 -0500")
      eq(tostring(winter), "2024-01-15 14:00:00 -0500 EST")
      -- a clock reading skipped by spring-forward resolves as Go does (to 01:30 EST)
      eq(tostring(time.date(2024, 3, 10, 2, 30, 0, 0, ny)), "2024-03-10 01:30:00 -0500 EST")
      -- an ambiguous fall-back reading takes the first (EDT) occurrence
      eq(tostring(time.date(2024, 11, 3, 1, 30, 0, 0, ny)), "2024-11-03 01:30:00 -0400 EDT")
      -- adding 24h across the transition is 24 real hours; add_date keeps the clock
      local before = time.date(2024, 3, 9, 12, 0, 0, 0, ny)
      eq(before:add("24h"):format("15:04 MST"), "13:00 EDT")
      eq(before:add_date(0, 0, 1):format("15:04 MST"), "12:00 EDT")
      eq(tostring(before:add_date(0, 0, 1):sub(before)), "23h0m0s")
      local tokyo = assert(time.load_location("Asia/Tokyo"))
      eq(time.date(2024, 12, 29, 0, 0, 0, 0, UTC):in_location(tokyo):format("2006-01-02 15:04 -07:00"),
        "2024-12-29 09:00 +09:00")
    `);
  });

  test('Local follows K.local_offset', async () => {
    await lua(String.raw`
      F.localoff = 3600
      eq(time.unix(0, 0):hour(), 1)
      eq(time.unix(0, 0):format("MST -07:00"), "+0100 +01:00", "no abbreviation: numeric")
      eq(time.date(2024, 1, 15, 12, 0, 0, 0):utc():hour(), 11, "time.date defaults to Local")
      eq(time.date(2024, 1, 15, 12, 0, 0, 0, UTC):in_local():hour(), 13)
      F.localoff = 0
      eq(tostring(time.unix(0, 0)), "1970-01-01 00:00:00 +0000 UTC")
      F.localzone = "Europe/Berlin"
      eq(time.date(2024, 7, 1, 12, 0, 0, 0):format("15:04 -0700 MST"), "12:00 +0200 +0200")
      eq(time.date(2024, 1, 1, 12, 0, 0, 0):utc():hour(), 11)
    `);
  });
});

describe('parse', () => {
  test('layouts, zones and locations', async () => {
    await lua(String.raw`
      local t = assert(time.parse(time.RFC3339, "2024-12-29T15:04:05Z"))
      eq(t:unix(), 1735484645); eq(t:location(), UTC)
      t = assert(time.parse(time.RFC3339, "2024-12-29T15:04:05.123+05:30"))
      eq(t:unix(), 1735484645 - 19800); eq(t:nanosecond(), 123000000)
      eq(t:format(time.RFC3339NANO), "2024-12-29T15:04:05.123+05:30")
      eq(tostring(t:location()), "", "an offset that is not Local's makes a nameless fixed zone")
      F.localoff = 19800
      t = assert(time.parse(time.RFC3339, "2024-12-29T15:04:05+05:30"))
      eq(tostring(t:location()), "Local", "an offset matching Local gives Local")
      F.localoff = 0
      t = assert(time.parse("2006-01-02", "2024-12-29"))
      eq(t:format(time.RFC3339), "2024-12-29T00:00:00Z")
      t = assert(time.parse("15:04:05", "14:30:00"))
      eq(t:format(time.DATE_TIME), "0000-01-01 14:30:00", "no date: year 0, like Go")
      -- an abbreviation Local does not know: fixed zone with that name and offset 0
      t = assert(time.parse("2006-01-02 15:04:05 MST", "2024-12-29 14:30:00 EST"))
      eq(t:utc():format(time.DATE_TIME), "2024-12-29 14:30:00")
      eq(t:format("MST"), "EST")
      t = assert(time.parse(time.RFC1123, "Sun, 29 Dec 2024 15:04:05 GMT"))
      eq(t:unix(), 1735484645); eq(tostring(t:location()), "GMT")
      t = assert(time.parse("2006-01-02 15:04 MST", "2024-12-29 15:04 GMT+3"))
      eq(t:format("-07:00"), "+03:00", "GMT+3 records +3h (the instant stays as read in UTC, as Go)")
      t = assert(time.parse(time.RFC1123, "Sun, 29 Dec 2024 15:04:05 UTC"))
      eq(t:location(), UTC)
      -- in a location
      local ny = assert(time.load_location("America/New_York"))
      t = assert(time.parse("2006-01-02 15:04", "2024-12-29 14:30", ny))
      eq(t:utc():format(time.DATE_TIME), "2024-12-29 19:30:00"); eq(t:location(), ny)
      t = assert(time.parse("2006-01-02 15:04 MST", "2024-07-01 14:30 EDT", ny))
      eq(t:utc():format(time.DATE_TIME), "2024-07-01 18:30:00", "abbreviation known to the zone")
      t = assert(time.parse(time.RFC3339, "2024-07-01T14:30:00-04:00", ny))
      eq(t:location(), ny, "an offset matching the zone keeps it")
      -- names, case and 12-hour clock
      t = assert(time.parse("Jan 2 2006", "dec 29 2024"))
      eq(t:month(), 12)
      t = assert(time.parse("Monday, January 2, 2006", "sunday, DECEMBER 29, 2024"))
      eq(t:day(), 29)
      eq(assert(time.parse(time.KITCHEN, "12:30AM")):hour(), 0)
      eq(assert(time.parse(time.KITCHEN, "12:30PM")):hour(), 12)
      eq(assert(time.parse("3:04pm", "1:05pm")):hour(), 13)
      eq(assert(time.parse(time.ANSIC, "Sun Dec  9 15:04:05 2024")):day(), 9)
      eq(assert(time.parse("2006-01-02  15:04", "2024-01-02 15:04")):hour(), 15, "spaces collapse")
      -- fractions
      eq(assert(time.parse("15:04:05", "10:00:00.25")):nanosecond(), 250000000, "fraction not in layout")
      eq(assert(time.parse("15:04:05.999", "10:00:00")):nanosecond(), 0, ".999 is optional")
      eq(assert(time.parse("15:04:05.999", "10:00:00.1234567891")):nanosecond(), 123456789)
      eq(assert(time.parse("15:04:05,000", "10:00:00,123")):nanosecond(), 123000000)
      -- day of year
      eq(assert(time.parse("2006 002", "2024 060")):format(time.DATE_ONLY), "2024-02-29")
      eq(assert(time.parse("2006 002", "2023 060")):format(time.DATE_ONLY), "2023-03-01")
      eq(assert(time.parse("2006 __2", "2023   9")):format(time.DATE_ONLY), "2023-01-09")
      eq(assert(time.parse("06-01-02", "69-01-02")):year(), 1969)
      eq(assert(time.parse("06-01-02", "68-01-02")):year(), 2068)
    `);
  });

  test('format then parse gives the same instant', async () => {
    await lua(String.raw`
      local ist = time.fixed_zone("IST", 19800)
      local layouts = { time.RFC3339NANO, time.RFC1123Z, time.RUBY_DATE, "2006-01-02T15:04:05.000000000-07:00:00", "Jan _2 2006 3:04:05.999999999PM Z0700" }
      for _, t in ipairs({ time.date(2024, 2, 29, 23, 59, 59, 999999999, UTC), time.date(1999, 12, 31, 0, 0, 0, 1000, ist), time.date(2024, 7, 4, 12, 0, 0, 500, time.fixed_zone("X", -9000)) }) do
        for _, l in ipairs(layouts) do
          local s = t:format(l)
          local p, err = time.parse(l, s)
          assert(p, l .. " / " .. s .. ": " .. tostring(err))
          if l == time.RFC1123Z or l == time.RUBY_DATE then eq(p:unix(), t:unix(), l) else eq(p == t, true, l .. " " .. s) end
          eq(p:format(l), s, "reformat " .. l)
        end
      end
    `);
  });

  test('failures are Invalid with Go messages', async () => {
    await lua(String.raw`
      fails("Invalid", 'parsing time "invalid" as "2006-01-02T15:04:05Z07:00": cannot parse "invalid" as "2006"',
        time.parse(time.RFC3339, "invalid"))
      fails("Invalid", 'parsing time "2024-02-30": day out of range', time.parse("2006-01-02", "2024-02-30"))
      fails("Invalid", 'parsing time "2023-02-29": day out of range', time.parse("2006-01-02", "2023-02-29"))
      fails("Invalid", 'parsing time "2024-13-01": month out of range', time.parse("2006-01-02", "2024-13-01"))
      fails("Invalid", 'parsing time "2024-01-01x": extra text: "x"', time.parse("2006-01-02", "2024-01-01x"))
      fails("Invalid", 'parsing time "25:00": hour out of range', time.parse("15:04", "25:00"))
      fails("Invalid", 'parsing time "10:61": minute out of range', time.parse("15:04", "10:61"))
      fails("Invalid", 'parsing time "2024-12-29T15:04:05" as "2006-01-02T15:04:05Z07:00": cannot parse "" as "Z07:00"',
        time.parse(time.RFC3339, "2024-12-29T15:04:05"))
      fails("Invalid", 'parsing time "10:00:00.12" as "15:04:05.000": cannot parse ".12" as ".000"',
        time.parse("15:04:05.000", "10:00:00.12"))
      fails("Invalid", 'parsing time "2023 366": day-of-year out of range', time.parse("2006 002", "2023 366"))
      fails("Invalid", 'parsing time "Dex 29" as "Jan 2": cannot parse "Dex 29" as "Jan"', time.parse("Jan 2", "Dex 29"))
      fails("Invalid", 'parsing time "3:04XM" as "3:04PM": cannot parse "XM" as "PM"', time.parse("3:04PM", "3:04XM"))
      fails("Invalid", 'parsing time "2024-12-29 15:04 +25:00": time zone offset hour out of range',
        time.parse("2006-01-02 15:04 -07:00", "2024-12-29 15:04 +25:00"))
      fails("Invalid", nil, time.parse(1, "x"))
      fails("Invalid", nil, time.parse("2006", "2024", "UTC"))
    `);
  });
});

describe('locations', () => {
  test('load_location, fixed_zone and names', async () => {
    await lua(String.raw`
      fails("Invalid", nil, time.load_location(""))
      fails("NotFound", "unknown time zone Not/AZone", time.load_location("Not/AZone"))
      fails("Invalid", nil, time.load_location(5))
      local ny = assert(time.load_location("America/New_York"))
      eq(rawequal(ny, time.load_location("America/New_York")), true, "loaded once")
      eq(tostring(ny), "America/New_York"); eq(ny:string(), "America/New_York")
      eq(time.load_location("UTC"), UTC); eq(time.load_location("Local"), time.localtz)
      eq(tostring(UTC), "UTC"); eq(UTC:string(), "UTC")
      eq(tostring(time.localtz), "Local")
      local ist = time.fixed_zone("IST", 19800)
      eq(tostring(ist), "IST"); eq(ist:string(), "IST")
      fails("Invalid", nil, time.fixed_zone("X", "y"))
      eq(getmetatable(ist), "time.Location", "metatables are protected")
      eq(getmetatable(time.now()), "time.Time")
    `);
  });
});

describe('clock and timers', () => {
  test('now follows the wall clock', async () => {
    await lua(String.raw`
      local t = time.now()
      eq(t:unix(), 1700000000); eq(t:nanosecond(), 0); eq(tostring(t:location()), "Local")
      F.advance(1500.25)
      t = time.now()
      eq(t:unix(), 1700000001); eq(t:nanosecond(), 500250000)
      local elapsed = time.now():sub(time.unix(1700000000, 0))
      eq(elapsed:milliseconds(), 1500)
    `);
  });

  test('sleep takes numbers (ns), strings and Durations', async () => {
    await lua(String.raw`
      eq(time.sleep("1.5s"), true)
      eq(F.slept[1], 1500.0)
      time.sleep(10)
      eq(F.slept[2], 0.00001)
      time.sleep(D("2ms")); eq(F.slept[3], 2.0)
      time.sleep(500 * time.MILLISECOND); eq(F.slept[4], 500.0)
      time.sleep(-5); eq(F.slept[5], 0)
      fails("Invalid", "duration must be number or string", time.sleep({}))
      fails("Invalid", "duration must be number or string", time.sleep(nil))
      fails("Invalid", 'time: invalid duration "abc"', time.sleep("abc"))
      eq(#F.slept, 5, "bad arguments do not sleep")
      eq(F.now, 2002.00001)
    `);
  });

  test('after delivers one Time, then the channel is closed', async () => {
    await lua(String.raw`
      local ch = time.after("5s")
      eq(F.subs, 1, "a pending after holds a subscription")
      F.advance(4999)
      eq(ch:len(), 0)
      F.advance(1)
      local v, ok = ch:receive()
      eq(ok, true); eq(getmetatable(v), "time.Time"); eq(v:unix(), 1700000005)
      eq(select(2, ch:receive()), false, "closed after the value")
      eq(ch:receive(), nil)
      eq(F.subs, 0, "released when fired")
      fails("Invalid", "time.after: duration must be > 0", time.after(0))
      fails("Invalid", "time.after: duration must be > 0", time.after("-1s"))
      fails("Invalid", "duration must be number or string", time.after(true))
      fails("Invalid", nil, time.after("soon"))
      eq(F.subs, 0, "failures do not subscribe")
      local a, b = time.after(time.SECOND), time.after(D("500ms"))
      F.advance(600)
      eq(b:len(), 1); eq(a:len(), 0)
      F.advance(400)
      eq(a:len(), 1); eq(F.subs, 0)
    `);
  });

  test('timer: fires once, channel()/response() identity, stop', async () => {
    await lua(String.raw`
      local t = assert(time.timer("1s"))
      eq(rawequal(t:channel(), t:response()), true)
      eq(F.subs, 1)
      F.advance(1000)
      local v = t:channel():receive(); eq(v:unix(), 1700000001)
      eq(F.subs, 0)
      F.advance(5000)
      eq(t:channel():len(), 0, "fires once")
      eq(t:stop(), false, "already fired")
      eq(select(2, t:channel():receive()), false, "stop closes the channel")

      local s = assert(time.timer(time.SECOND))
      F.advance(500)
      eq(s:stop(), true, "stopped before firing")
      eq(F.subs, 0)
      eq(select(2, s:response():receive()), false)
      F.advance(2000)
      eq(s:stop(), false)
      eq(F.live_timers(), 0)

      fails("Invalid", "time.timer: duration must be > 0", time.timer(0))
      fails("Invalid", "time.timer: duration must be > 0", time.timer(-time.SECOND))
      fails("Invalid", nil, time.timer("x"))
      eq(F.subs, 0)
    `);
  });

  test('timer: reset re-arms and a stale arm never fires', async () => {
    await lua(String.raw`
      local t = time.timer("1s")
      F.advance(500)
      eq(t:reset("1s"), true, "was pending")
      F.advance(600) -- past the first deadline (1000)
      eq(t:channel():len(), 0, "the first arm is gone")
      F.advance(400) -- 1500
      eq(t:channel():len(), 1)
      eq(t:channel():receive():unix(), 1700000001)
      eq(F.subs, 0)

      -- a kernel that cannot cancel: the old arm still runs, finds itself stale, does nothing
      F.cancel_noop = true
      local u = time.timer("1s") -- due at 2500
      F.advance(200)
      eq(u:reset("2s"), true) -- due at 3700
      F.advance(1000) -- 2700: stale arm ran
      eq(u:channel():len(), 0)
      eq(F.subs, 1, "still subscribed for the live arm")
      F.advance(1000)
      eq(u:channel():len(), 1)
      eq(F.subs, 0)
      F.cancel_noop = false

      -- reset after firing re-arms the same channel
      local ch = u:channel()
      ch:receive()
      eq(u:reset(time.SECOND), false, "had fired")
      eq(F.subs, 1)
      F.advance(1000)
      eq(rawequal(u:channel(), ch), true); eq(ch:len(), 1)

      -- reset after stop arms a fresh channel
      local w = time.timer("1s")
      local old = w:channel()
      w:stop()
      eq(w:reset("1s"), false)
      eq(rawequal(w:channel(), old), false)
      F.advance(1000)
      eq(w:channel():len(), 1); eq(select(2, old:receive()), false)

      -- many resets: only the last one fires, exactly once
      local m = time.timer("10ms")
      for _ = 1, 20 do F.advance(5); m:reset("10ms") end
      F.advance(1000)
      eq(m:channel():len(), 1)
      eq(F.subs, 0)

      -- d <= 0 raises; a bad string returns nil, err
      local ok, err = pcall(m.reset, m, 0)
      eq(ok, false); assert(tostring(err):find("duration must be > 0", 1, true), tostring(err))
      ok = pcall(m.reset, m, "-1s"); eq(ok, false)
      fails("Invalid", nil, m:reset("x"))
    `);
  });

  test('ticker: periodic, drops ticks when full, stop closes', async () => {
    await lua(String.raw`
      local tk = assert(time.ticker("100ms"))
      local ch = tk:channel()
      eq(rawequal(ch, tk:response()), true)
      F.advance(350)
      local got = drain(ch)
      eq(#got, 3)
      eq(got[2]:sub(got[1]):milliseconds(), 100)
      eq(got[3]:sub(got[1]):milliseconds(), 200)
      F.advance(5000) -- 50 ticks, nobody reading
      eq(ch:len(), 16, "capacity 16, the rest dropped")
      local first = ch:receive()
      eq(first:unix_nano() - got[3]:unix_nano(), 100000000, "the oldest ticks are kept")
      F.advance(100)
      eq(ch:len(), 16, "room for one more tick")
      eq(F.subs, 1)
      eq(tk:stop(), true)
      eq(F.subs, 0); eq(F.live_timers(), 0)
      F.advance(1000)
      eq(#drain(ch), 16, "buffered ticks survive stop")
      eq(select(2, ch:receive()), false, "then closed")
      eq(tk:stop(), true, "stop is idempotent")
      fails("Invalid", "time.ticker: duration must be > 0", time.ticker(0))
      fails("Invalid", nil, time.ticker({}))
    `);
  });

  test('ticker: a late scheduler skips missed ticks and keeps the grid', async () => {
    await lua(String.raw`
      local tk = time.ticker("100ms")
      F.jump(1050)
      eq(tk:channel():len(), 1, "one tick for the late wake-up")
      F.advance(49)
      eq(tk:channel():len(), 1)
      F.advance(1) -- 1100 is on the original grid
      eq(tk:channel():len(), 2)
      tk:stop()
    `);
  });
});

test('lua helper sanity: a failing expectation rejects', async () => {
  await assert.rejects(lua('eq(1, 2, "one")'), /one: got 1, want 2/);
});
