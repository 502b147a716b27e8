// What may cross from JS into a process: the check the job runner (and rt.spawn) runs on the
// arguments before anything is minted or sent.
//
// Owns: the rule, and the error that names the offending value by its path (`args[1].a.b`). May
// call: nothing (MAX_DEPTH comes from the codec, whose limit it mirrors).
//
// The rule. The codec (src/codec/msgpack.ts) writes plain data: null/undefined, booleans, numbers,
// strings, BigInts that fit 64 bits (int64, or uint64 above it), arrays, Maps, objects (their own
// enumerable fields), byte arrays, Dates and errors. It writes a function or a Symbol as nil (a
// value silently lost), throws msgpackr's internal RangeError for a BigInt past 64 bits, and its
// depth guard reports a cyclic value as "nested deeper than 512 levels". An argument list is data
// the caller wrote, so each of these is the caller's mistake and gets one clear TypeError naming
// where the value sits: "args[1].a.b is a function; a process argument must be data".
//
// Cost. One recursive walk of the arguments, allocation-free unless it fails: the path is kept as
// a stack of keys in two module-level arrays (reused; JS is single-threaded and the walk never
// re-enters) and formatted only for the error. Cycle detection compares each object with its
// ancestors on the current path (at most MAX_DEPTH of them): a value shared twice side by side is
// not a cycle and is allowed (it is written twice). For the tiny job `[7]` this is one array visit.
//
// Alternatives rejected: encode first and diagnose only on failure (free when nothing is wrong,
// but functions and Symbols do not fail the encode: they vanish), and a WeakSet of visited objects
// (an allocation per call, and it would reject a shared, acyclic value).
import { MAX_DEPTH } from '../codec/msgpack.js';

const MIN_I64 = -(1n << 63n);
const MAX_U64 = (1n << 64n) - 1n;

const ancestors: object[] = [];
const keys: Array<string | number | { mapKey: unknown }> = [];

/**
 * The TypeError for the first value in `v` that cannot cross into a process (its path starts with
 * `root`), or undefined when every value can.
 */
export function uncrossable(v: unknown, root = 'args'): TypeError | undefined {
  try {
    return walk(v, root);
  } finally {
    // Only after a throw (a getter, a Map's iterator): a walk pops what it pushes. Setting the
    // length of an empty array to 0 drops its backing store, which the next push allocates
    // again (~300 bytes per job, measured with the sampling heap profiler).
    if (ancestors.length !== 0) ancestors.length = 0;
    if (keys.length !== 0) keys.length = 0;
  }
}

function walk(v: unknown, root: string): TypeError | undefined {
  switch (typeof v) {
    case 'function': return fail(root, 'is a function; a process argument must be data');
    case 'symbol': return fail(root, 'is a Symbol; a process argument must be data');
    case 'bigint':
      if (v < MIN_I64 || v > MAX_U64) return fail(root, `is a BigInt beyond 64 bits (${v}); the codec carries int64 and uint64`);
      return undefined;
    case 'object': break;
    default: return undefined;
  }
  if (v === null || ArrayBuffer.isView(v) || v instanceof ArrayBuffer || v instanceof Date || v instanceof Error) return undefined;
  for (let i = 0; i < ancestors.length; i++) {
    if (ancestors[i] === v) return fail(root, `refers back to ${pathOf(root, i)}: a cyclic value cannot be sent to a process`);
  }
  if (ancestors.length >= MAX_DEPTH) return fail(root, `is nested deeper than ${MAX_DEPTH} levels`);
  ancestors.push(v);
  let bad: TypeError | undefined;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length && !bad; i++) { keys.push(i); bad = walk(v[i], root); keys.pop(); }
  } else if (v instanceof Map) {
    for (const [k, x] of v) {
      keys.push({ mapKey: k });
      bad = walk(k, root) ?? walk(x, root);
      keys.pop();
      if (bad) break;
    }
  } else {
    const o = v as Record<string, unknown>;
    for (const k in o) {
      if (!Object.prototype.hasOwnProperty.call(o, k)) continue;
      keys.push(k); bad = walk(o[k], root); keys.pop();
      if (bad) break;
    }
  }
  ancestors.pop();
  return bad;
}

function fail(root: string, what: string): TypeError {
  return new TypeError(`${pathOf(root, keys.length)} ${what}`);
}

/** The path of the value `n` keys deep on the current walk. */
function pathOf(root: string, n: number): string {
  let p = root;
  for (let i = 0; i < n; i++) {
    const k = keys[i]!;
    if (typeof k === 'number') p += `[${k}]`;
    else if (typeof k === 'object') p += `.get(${typeof k.mapKey === 'string' ? JSON.stringify(k.mapKey) : String(k.mapKey)})`;
    else p += /^[A-Za-z_$][\w$]*$/.test(k) ? `.${k}` : `[${JSON.stringify(k)}]`;
  }
  return p;
}
