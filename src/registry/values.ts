// Small value helpers of the entry pipeline (schema.ts) and the kind schemas (kind-schemas.ts):
// quoting a value in a problem, telling a map from other values, and Go-style durations.

/** A value quoted in a problem, cut to 80 characters (a field may hold a 10 MB string). */
export function cut(s: string, max = 80): string {
  return s.length > max ? `${s.slice(0, max - 3)}...` : s;
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}

// Go-style durations, as the reference writes them in YAML: "10s", "500ms", "1m30s", "2.5s".
const DURATION_UNIT_MS: Record<string, number> = {
  ns: 1e-6, us: 1e-3, 'µs': 1e-3, 'μs': 1e-3, ms: 1, s: 1_000, m: 60_000, h: 3_600_000,
};
const DURATION_PART = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/y;

/**
 * Parses a duration to milliseconds. Strings need a unit (`"10s"`, `"1h30m"`); the only bare
 * number accepted is 0, because a bare `10` is ambiguous (the Lua `time` module reads it as
 * nanoseconds, a reader of YAML would guess seconds) and guessing wrong is silent.
 */
export function parseDuration(v: unknown): number {
  if (v === 0 || v === '0') return 0;
  if (typeof v === 'number') throw new Error(`duration ${v} needs a unit, e.g. "${v}s" or "${v}ms"`);
  if (typeof v !== 'string' || v === '') throw new Error('expected a duration like "10s" or "500ms"');
  let ms = 0;
  DURATION_PART.lastIndex = 0;
  while (DURATION_PART.lastIndex < v.length) {
    const start = DURATION_PART.lastIndex;
    const m = DURATION_PART.exec(v);
    if (!m || m.index !== start) throw new Error(`invalid duration "${cut(v)}" (expected e.g. "10s", "500ms", "1m30s")`);
    ms += Number(m[1]) * DURATION_UNIT_MS[m[2]!]!;
  }
  return ms;
}

