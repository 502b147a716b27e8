// Generators for registry YAML (test/fuzz-registry.test.ts): a valid app with one entry of every
// kind, mutations that put a wrong value into one field of one entry, random structures, token
// soup, alias bombs, deep nesting and binary files.
import fc from 'fast-check';

/** One valid entry of every kind the schema knows, with every field it accepts set. */
export const VALID_ENTRIES: Array<Record<string, unknown>> = [
  { name: 'host', kind: 'process.host', host: { workers: 1, queue_size: 16, local_queue_size: 16, max_reductions: 0, max_memory_mb: 0 }, lifecycle: { auto_start: false } },
  { name: 'term', kind: 'terminal.host', hide_logs: false },
  { name: 'lib', kind: 'library.lua', source: 'return {}', modules: [], imports: {} },
  { name: 'proc', kind: 'process.lua', source: 'return { main = function() end }', method: 'main', modules: ['time'], imports: { u: 'lib' }, meta: { comment: 'c' } },
  { name: 'fn', kind: 'function.lua', source: 'return { f = function() end }', method: 'f', modules: [], imports: {} },
  { name: 'reg', kind: 'registry.entry', anything: [1, 'two', { three: 3 }] },
  {
    name: 'svc', kind: 'process.service', process: 'proc', host: 'host', input: [1, 'x'],
    lifecycle: {
      auto_start: false, startup: 'optional', start_timeout: '1s', stop_timeout: '500ms', stable_threshold: '1m30s',
      requires: ['reg'], depends_on: [],
      restart: { initial_delay: '1s', max_delay: '2s', backoff_factor: 2, jitter: 0.1, max_attempts: 3 },
      security: { actor: { id: 'svc-actor', meta: { role: 'x' } }, groups: ['grp'], policies: [] },
    },
  },
  { name: 'files', kind: 'fs.directory', directory: './data', auto_init: false, mode: '0755' },
  {
    name: 'wasm', kind: 'process.wasm', fs: 'files', path: '/x.wasm', hash: `sha256:${'0'.repeat(64)}`, method: 'run', wit: 'w',
    transport: 'payload', imports: [],
    wasi: { args: ['a'], cwd: '/', env: [{ id: 'reg', name: 'X', required: false }], mounts: [{ fs: 'files', guest: '/data', read_only: true }] },
    limits: { max_execution_ms: 10 },
  },
  { name: 'grp', kind: 'security.policy', policy: { actions: ['process.send'], resources: '*', effect: 'allow', conditions: [{ field: 'actor.id', operator: 'eq', value: 'x' }] }, groups: [] },
  { name: 'expr', kind: 'security.policy.expr', policy: { actions: '*', resources: ['*'], effect: 'deny', expression: 'false' }, groups: ['grp'] },
];

/** Every field path in `v` (maps and lists, leaves and inner nodes): [['host'], ['host', 'workers'], ...]. */
export function fieldPaths(v: unknown, prefix: Array<string | number> = []): Array<Array<string | number>> {
  const out: Array<Array<string | number>> = [];
  if (Array.isArray(v)) {
    v.forEach((x, i) => { out.push([...prefix, i]); out.push(...fieldPaths(x, [...prefix, i])); });
  } else if (typeof v === 'object' && v !== null) {
    for (const [k, x] of Object.entries(v)) { out.push([...prefix, k]); out.push(...fieldPaths(x, [...prefix, k])); }
  }
  return out;
}

/** A deep copy of `v` with the value at `path` replaced. */
export function setAt(v: unknown, path: Array<string | number>, value: unknown): unknown {
  const copy = structuredClone(v) as Record<string | number, unknown>;
  let node = copy;
  for (const p of path.slice(0, -1)) node = node[p] as Record<string | number, unknown>;
  node[path[path.length - 1]!] = value;
  return copy;
}

/** Values that are wrong somewhere: other types, edge numbers, odd strings, nested junk. */
export const wrongValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom<unknown>(
    null, true, false, 0, -1, -0, 1.5, 1e308, -1e308, 2 ** 53 + 2, Number.MAX_SAFE_INTEGER, '', ' ', ':', 'a:b:c', '::',
    '\u0000', 'file://', 'file:///', 'file://missing.lua', 'file://../../../etc/passwd', 'file:///../outside', '0', '10',
    '-5s', '1x', 'NaN', '.inf', 'yes', '~', [], {}, [[]], [{}], { a: { b: { c: null } } }, 'sha256:zz', '@x', '{app|0x1}',
  ),
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 20 }),
  fc.integer(),
  fc.double(),
  fc.jsonValue({ maxDepth: 3 }),
  fc.nat(200_000).map((n) => 'x'.repeat(n)),
);

/** The whole valid app as one definition-file object. */
export function validFile(entries = VALID_ENTRIES): Record<string, unknown> {
  return { version: '1.0', namespace: 'app', entries };
}

/** A mutation of the valid app: one field of one entry (or of the file itself) set to a wrong value. */
export const mutatedFile: fc.Arbitrary<{ where: string; file: Record<string, unknown> }> = fc
  .tuple(fc.nat(), fc.nat(), wrongValue)
  .map(([e, f, value]) => {
    const file = validFile();
    const paths = fieldPaths(file);
    const path = paths[f % paths.length]!;
    // bias towards entries: half the time, pick a path inside entry e
    const entryPaths = paths.filter((p) => p[0] === 'entries' && p[1] === e % VALID_ENTRIES.length && p.length > 2);
    const chosen = f % 2 === 0 && entryPaths.length > 0 ? entryPaths[(f >> 1) % entryPaths.length]! : path;
    return { where: chosen.join('.'), file: setAt(file, chosen, value) as Record<string, unknown> };
  });

/** Pieces of YAML syntax, to be glued into plausible but broken documents. */
const TOKENS = [
  'namespace: app\n', 'entries:\n', '  - name: a\n', '    kind: registry.entry\n', '    kind: process.lua\n',
  '    source: "return {}"\n', '    method: main\n', 'name: x\n', 'kind: process.host\n', '- ', ': ', ':', '-', '\n', '  ', '\t',
  '&a ', '*a ', '&b [*a, *a]\n', '<<: *a\n', '!!binary ', '!!omap ', '!!set ', '!!str ', '!!int ', '!foo ', '!<tag:x> ',
  '{', '}', '[', ']', ',', '"', "'", '|\n', '>-\n', '#c\n', '---\n', '...\n', '%YAML 1.2\n', '%TAG ! tag:x,\n', '? ',
  'entries: []\n', 'entries: {}\n', 'entries: 1\n', 'namespace: ~\n', 'namespace: [a]\n', 'namespace: "a b"\n',
  '\u0000', '\ufeff', '\u2028', '\r\n', '\\', 'null', '1e999', '0x1F', '.nan', '2001-12-14t21:59:43.10-05:00',
];

/** Token soup: random sequences of YAML syntax. */
export const tokenSoup: fc.Arbitrary<string> = fc.array(fc.constantFrom(...TOKENS), { maxLength: 60 }).map((t) => t.join(''));

/** A definition file holding a random JSON-ish structure where entries, or a whole entry, should be. */
export const randomStructure: fc.Arbitrary<Record<string, unknown>> = fc.oneof(
  fc.record({ namespace: fc.oneof(fc.constant('app'), fc.jsonValue({ maxDepth: 2 })), entries: fc.jsonValue({ maxDepth: 4 }) }),
  fc.record({ namespace: fc.constant('app'), entries: fc.array(fc.dictionary(fc.constantFrom('name', 'kind', 'meta', 'source', 'host', 'lifecycle', 'x'), fc.jsonValue({ maxDepth: 3 })), { maxLength: 5 }) }),
  fc.record({ namespace: fc.constant('app'), name: fc.jsonValue({ maxDepth: 2 }), kind: fc.jsonValue({ maxDepth: 2 }) }, { requiredKeys: ['namespace'] }),
  fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 6 }),
);

/** "Billion laughs": `levels` anchors, each a list of `fan` aliases of the previous one. */
export function aliasBomb(levels: number, fan: number, where: 'data' | 'namespace' | 'name' | 'config'): string {
  let s = 'anchors:\n  l0: &l0 "lol"\n';
  for (let i = 1; i <= levels; i++) s += `  l${i}: &l${i} [${Array(fan).fill(`*l${i - 1}`).join(', ')}]\n`;
  const top = `*l${levels}`;
  if (where === 'namespace') return `${s}namespace: ${top}\nentries: []\n`;
  if (where === 'name') return `${s}namespace: app\nentries:\n  - name: ${top}\n    kind: registry.entry\n`;
  if (where === 'config') return `${s}security: ${top}\n`;
  return `${s}namespace: app\nentries:\n  - name: a\n    kind: registry.entry\n    x: ${top}\n`;
}

/** Nesting `depth` levels deep, in flow or block style, as the value of an entry field. */
export function deepFile(depth: number, style: 'flow-seq' | 'flow-map' | 'block-seq' | 'block-map'): string {
  const head = 'namespace: app\nentries:\n  - name: a\n    kind: registry.entry\n    x:';
  if (style === 'flow-seq') return `${head} ${'['.repeat(depth)}${']'.repeat(depth)}\n`;
  if (style === 'flow-map') return `${head} ${'{a: '.repeat(depth)}1${'}'.repeat(depth)}\n`;
  const lines: string[] = [head];
  for (let i = 0; i < depth; i++) lines.push(style === 'block-seq' ? `${' '.repeat(6 + 2 * i)}-` : `${' '.repeat(6 + i)}k:`);
  return `${lines.join('\n')}\n`;
}

/** Recursive aliases (a value that contains itself), in each place a file can hold one. */
export const RECURSIVE_ALIASES: string[] = [
  'namespace: &a [*a]\nentries: []\n',
  'namespace: app\nentries: &a [*a]\n',
  'namespace: app\nentries:\n  - name: &a [*a]\n    kind: x\n',
  'namespace: app\nentries:\n  - name: a\n    kind: &k {k: *k}\n',
  'namespace: app\nentries:\n  - name: a\n    kind: registry.entry\n    x: &a [*a]\n',
  'namespace: app\nentries:\n  - name: a\n    kind: registry.entry\n    meta: &a {x: *a}\n',
  'namespace: app\nentries:\n  - name: a\n    kind: process.host\n    host: &a {workers: *a}\n',
  'namespace: app\nentries:\n  - name: a\n    kind: process.service\n    process: p\n    host: h\n    lifecycle: &a {requires: *a}\n',
  'namespace: app\nentries:\n  - &e {name: a, kind: registry.entry, <<: *e}\n',
];
