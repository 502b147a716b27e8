// IANA time zones for the Lua `time` module (time.LoadLocation, Time:In), through Intl: the
// offset from UTC of a zone at an instant, and the zone's abbreviation when Intl has a proper one
// (EST, CET, ...; Intl's "GMT+1" style names are not abbreviations and are left out).
//
// Owns: one Intl.DateTimeFormat per zone name, cached (an unknown zone caches null). May call:
// nothing but Intl. The kernel reaches it through H.tz_offset (src/lua/engine.ts).
//
// Cost: a formatToParts per call; a Lua Time caches the offset of its own instant the first time
// it needs it (offsets of a given instant never change), so this is paid once per Time that is
// shown or computed in a zone, not per operation.

const formats = new Map<string, Intl.DateTimeFormat | null>();

function format(name: string): Intl.DateTimeFormat | null {
  let f = formats.get(name);
  if (f === undefined) {
    try {
      f = new Intl.DateTimeFormat('en-US', { timeZone: name, hourCycle: 'h23', year: 'numeric', month: '2-digit',
        day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', timeZoneName: 'short' });
    } catch { f = null; }
    formats.set(name, f);
  }
  return f;
}

/**
 * Offset in seconds of zone `name` at Unix time `secs`, and its abbreviation if Intl has a proper
 * one; undefined for a zone Intl does not know.
 */
export function tzOffset(name: string, secs: number): [number, string | undefined] | undefined {
  const f = format(name);
  if (!f) return undefined;
  const parts = f.formatToParts(new Date(secs * 1000));
  const get = (t: string) => Number(parts.find((p) => p.type === t)!.value);
  const asUtc = Date.UTC(get('year'), get('month') - 1, get('day'), get('hour'), get('minute'), get('second'));
  const abbr = parts.find((p) => p.type === 'timeZoneName')?.value;
  return [Math.round((asUtc - Math.floor(secs) * 1000) / 1000), abbr && /^[A-Z]{3,5}$/.test(abbr) ? abbr : undefined];
}
