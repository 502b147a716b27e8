// Derives the Lua side of the wire and the field tables of docs/design/protocol.md from the spec
// (src/wire/spec.ts), so the field order is written down once.
//
// What it owns. The text of src/lua/kernel/wire.lua (luaSource) and of the generated section of
// docs/design/protocol.md (docTables). gen.ts writes both; test/wire.test.ts compares the files in
// the repository with these texts and fails when they differ, and round-trips every frame through
// a Lua state running the generated module. It may call only spec.ts.
//
// Why generated and checked in, not generated at build time. The Lua file is read as it is by
// engines and by tests that load kernel modules in a bare Lua state from src/, and a reader of the
// kernel should find the indices next to the code that uses them; a build step would make
// src/lua/kernel incomplete. The cost is one command after a spec change (`npm run build && node
// dist/src/wire/gen.js`), which the test names when the files are stale.
//
// Both functions take the spec as arguments (defaulting to the real one), so the test can derive
// a deliberately wrong Lua side and see the round trip fail.
import { FRAMES, RECORDS, CONSTANTS, RPC_HEAD, type FrameSpec, type WireType } from './spec.js';

export interface WireSpec {
  frames: Readonly<Record<string, FrameSpec>>;
  records: Readonly<Record<string, { readonly fields: readonly (readonly [string, WireType])[]; readonly doc: string }>>;
}
export const SPEC: WireSpec = { frames: FRAMES, records: RECORDS };

const LUA_KEYWORDS = new Set(['and', 'break', 'do', 'else', 'elseif', 'end', 'false', 'for', 'function', 'goto', 'if',
  'in', 'local', 'nil', 'not', 'or', 'repeat', 'return', 'then', 'true', 'until', 'while']);

function luaName(kind: string, what: string): string {
  if (!/^[a-z_][a-z0-9_]*$/.test(what) || LUA_KEYWORDS.has(what)) throw new Error(`wire spec: ${kind}.${what} is not usable as a Lua name`);
  return what;
}
/** The Lua constant holding field `field` of `kind`: "M_TOPIC". */
export const constName = (kind: string, field: string): string => `${kind.toUpperCase()}_${field.toUpperCase()}`;
const q = (s: string): string => JSON.stringify(s); // Lua accepts JSON string literals for these ASCII texts

/** The text of src/lua/kernel/wire.lua for `spec`. */
export function luaSource(spec: WireSpec = SPEC): string {
  const L: string[] = [];
  L.push(
    '-- GENERATED from src/wire/spec.ts by `node dist/src/wire/gen.js`: do not edit by hand. test/wire.test.ts',
    '-- fails when this file and the spec disagree.',
    '--',
    '-- The wire protocol, Lua side: the field index of every frame and positional record that crosses a',
    '-- thread, a constructor per kind, and the constants both languages share. docs/design/protocol.md',
    '-- describes each frame (direction, sender, handler). A frame `f` has its kind at f[W.KIND] (1) and',
    '-- its fields after it: f[W.M_TOPIC] is the topic of an "m" frame. Every targeted frame has its',
    '-- target PID at f[W.PID] (2). Records have no kind: W.TASK_PID is 1.',
    '--',
    '-- Use. Copy what a module needs into locals once (`local M_PID, M_TOPIC = W.M_PID, W.M_TOPIC`): a',
    '-- local costs nothing to read. The constructors (W.m(pid, from, topic, n, payloads), ...) build',
    '-- the same array a table constructor would, at the cost of one call; a frame with a nil field is',
    '-- not a sequence and is sent as a map, as before.',
    '--',
    '-- Module shape: like every kernel file it returns a function (it takes no dependencies) that',
    '-- returns the module table.',
    'return function()',
    '  local W = {}',
    '  W.KIND = 1',
    '  W.PID = 2 -- the target of every targeted frame',
    '  -- Every rpc frame (s, nreg, nlook, nunreg) starts with the same head: where the "rep" goes and',
    '  -- the request id; the request\'s own fields start at W.RPC_ARGS.',
  );
  RPC_HEAD.forEach(([name], i) => L.push(`  W.RPC_${name.toUpperCase()} = ${i + 2}`));
  L.push(`  W.RPC_ARGS = ${RPC_HEAD.length + 2}`);
  checkSpec(spec);
  const targeted: string[] = [];
  for (const [kind, s] of Object.entries(spec.frames)) {
    if (s.targeted) targeted.push(kind);
    L.push('', `  -- ${q(kind)} (${s.dir.join(', ')}${s.targeted ? '; targeted' : ''}${s.rpc ? '; rpc' : ''})`);
    const params: string[] = [];
    s.fields.forEach(([name], i) => {
      L.push(`  W.${constName(kind, name)} = ${i + 2}`);
      params.push(luaName(kind, name));
    });
    L.push(`  function W.${luaName('kind', kind)}(${params.join(', ')}) return { ${[q(kind), ...params].join(', ')} } end`);
  }
  for (const [kind, r] of Object.entries(spec.records)) {
    L.push('', `  -- record ${q(kind)}`);
    const params: string[] = [];
    r.fields.forEach(([name], i) => {
      L.push(`  W.${constName(kind, name)} = ${i + 1}`);
      params.push(luaName(kind, name));
    });
    L.push(`  function W.${luaName('record', kind)}(${params.join(', ')}) return { ${params.join(', ')} } end`);
  }
  L.push('', '  -- Frames addressed to one process: forwarded by a home worker, held until the process starts.');
  L.push(`  W.TARGETED = { ${targeted.map((k) => `${k} = true`).join(', ')} }`);
  L.push('');
  for (const [name, v] of Object.entries(CONSTANTS)) L.push(`  W.${name} = ${q(v)}`);
  L.push(
    '',
    '  -- The PID host of a function.lua process of entry `id` on thread `tid`, and the test for it.',
    '  local FN_HOST_MARK, find = W.FN_HOST_MARK, string.find',
    '  function W.fn_host(id, tid) return id .. FN_HOST_MARK .. tid end',
    '  function W.is_fn_host(host) return find(host, FN_HOST_MARK, 1, true) ~= nil end',
    '  return W',
    'end',
    '',
  );
  return L.join('\n');
}

/** The rules the kernel's generic code relies on: throws naming the first frame that breaks one. */
export function checkSpec(spec: WireSpec = SPEC): void {
  for (const [kind, s] of Object.entries(spec.frames)) {
    if (s.targeted && s.fields[0]?.[0] !== 'pid') throw new Error(`wire spec: targeted frame "${kind}" must have its target "pid" first`);
    if (s.rpc && !RPC_HEAD.every(([n], i) => s.fields[i]?.[0] === n)) {
      throw new Error(`wire spec: rpc frame "${kind}" must start with ${RPC_HEAD.map(([n]) => n).join(', ')}`);
    }
    const seen = new Set<string>();
    for (const [name] of s.fields) {
      if (seen.has(name)) throw new Error(`wire spec: frame "${kind}" has field "${name}" twice`);
      seen.add(name);
    }
  }
}

const BEGIN = '<!-- wire:begin (generated from src/wire/spec.ts by `node dist/src/wire/gen.js`; do not edit) -->';
const END = '<!-- wire:end -->';

/**
 * The generated section of docs/design/protocol.md: one row per frame kind and record, fields as
 * "Lua index: name type" (the JS index is one less).
 */
export function docTables(spec: WireSpec = SPEC): string {
  // a "|" inside a cell ends the cell in a Markdown table, even in a code span: escape it
  const cell = (t: string): string => t.replace(/\|/g, '\\|');
  const cap = (t: string): string => cell(t.charAt(0).toUpperCase() + t.slice(1));
  const fields = (fs: readonly (readonly [string, WireType])[], base: number): string =>
    fs.length === 0 ? '(none)' : fs.map(([name, type], i) => `${i + base}: ${name} \`${cell(type)}\``).join('<br>');
  const L: string[] = [BEGIN, '', '| kind | direction | fields (Lua index: name `type`) | meaning |', '|---|---|---|---|'];
  for (const [kind, s] of Object.entries(spec.frames)) {
    const flags = [s.targeted ? 'targeted' : '', s.rpc ? 'rpc' : ''].filter(Boolean).join(', ');
    L.push(`| \`${kind}\` | ${s.dir.join('<br>')}${flags ? `<br>(${flags})` : ''} | ${fields(s.fields, 2)} | ${cap(s.doc)}. |`);
  }
  L.push('', '| record | fields (Lua index: name `type`) | meaning |', '|---|---|---|');
  for (const [kind, r] of Object.entries(spec.records)) L.push(`| \`${kind}\` | ${fields(r.fields, 1)} | ${cap(r.doc)}. |`);
  L.push('', END);
  return L.join('\n');
}

/** `doc` with its generated section replaced by `tables`; throws if the markers are missing. */
export function spliceDoc(doc: string, tables: string): string {
  const a = doc.indexOf('<!-- wire:begin');
  const b = doc.indexOf(END);
  if (a < 0 || b < a) throw new Error('docs/design/protocol.md: the <!-- wire:begin --> / <!-- wire:end --> markers are missing');
  return doc.slice(0, a) + tables + doc.slice(b + END.length);
}
