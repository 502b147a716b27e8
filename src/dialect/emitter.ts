// Writes the compiled chunk: the original text with the parser's edits applied, and the Lua that
// builds a runtime type value for each `type` declaration.
//
// Line numbers are kept by construction: an erased range keeps its line breaks (everything else
// becomes spaces), a replacement puts its text on the range's first line followed by the range's
// line breaks, and the text the emitter writes never contains a line break. So every token that
// survives stays on the line the user wrote it on, and Lua's error messages and tracebacks name
// the user's lines.
//
// The runtime values are built by the `__types` table the sandbox provides (src/lua/lib/types.lua):
//
//   type Point = {x: number, y: number?}
//   -> local Point; Point = __types.named("Point", function() return
//        __types.record({{"x", __types.number}, {"y", __types.opt(__types.number)}}) end)
//
// The body is a closure evaluated on first use, so a type may refer to itself (`next: Node?`);
// a name it uses must be in scope where it is declared (a local type declared earlier, an imported
// library's `lib.User`, or a builtin). Generic parameters are `any` at run time: `Result<T, E>`
// checks the shape of both variants and accepts any value for T and E.

import type { Edit } from './cursor.js';
import type { ExportSite, TypeDecl } from './parser.js';
import type { TypeNode } from './type-grammar.js';

/** Builtin type names -> the runtime value's Lua expression. */
const BUILTIN: Record<string, string> = {
  number: '__types.number', integer: '__types.integer', string: '__types.string', boolean: '__types.boolean',
  any: '__types.any', unknown: '__types.unknown', never: '__types.never', nil: '__types["nil"]',
  table: '__types.table', function: '__types["function"]', thread: '__types.thread', userdata: '__types.userdata',
  error: '__types.error', self: '__types.any',
};

/** The Lua expression building the runtime value of `t` (one line). */
export function typeExpr(t: TypeNode, generics: ReadonlySet<string>): string {
  const sub = (x: TypeNode) => typeExpr(x, generics);
  switch (t.k) {
    case 'any': return '__types.any';
    case 'name': {
      if (t.path.length === 1) {
        const n = t.path[0]!;
        if (generics.has(n)) return '__types.any';
        const b = BUILTIN[n];
        if (b) return b;
      }
      return `__types.ref(function() return ${t.path.join('.')} end, ${JSON.stringify(t.path.join('.'))})`;
    }
    case 'lit': {
      if (t.text === 'nil') return '__types["nil"]';
      return `__types.lit(${oneLine(t.text)})`;
    }
    case 'opt': return `__types.opt(${sub(t.inner)})`;
    case 'union': return `__types.union({${t.items.map(sub).join(', ')}})`;
    case 'inter': return `__types.inter({${t.items.map(sub).join(', ')}})`;
    case 'check': return `__types.check(${sub(t.inner)}, {${t.validators.map((v) => `{${JSON.stringify(v.name)}, ${v.args}}`).join(', ')}})`;
    case 'vararg': return sub(t.inner);
    case 'tuple': return `__types.tuple({${t.items.map(sub).join(', ')}})`;
    case 'func': return `__types.func({${t.params.map(sub).join(', ')}}, {${t.rets.map(sub).join(', ')}})`;
    case 'table': {
      if (t.elem) return `__types.array(${sub(t.elem)})`;
      if (t.fields.length === 0 && t.key && t.val) return `__types.map(${sub(t.key)}, ${sub(t.val)})`;
      if (t.fields.length === 0 && !t.key) return '__types.table';
      const fields = t.fields.map((f) => `{${JSON.stringify(f.name)}, ${sub(f.type)}${f.optional ? ', true' : ''}}`).join(', ');
      return t.key && t.val ? `__types.record({${fields}}, ${sub(t.key)}, ${sub(t.val)})` : `__types.record({${fields}})`;
    }
  }
}

/** A literal's source text on one line (a long string with line breaks becomes a short one). */
function oneLine(text: string): string {
  if (!/[\r\n]/.test(text)) return text;
  const m = /^\[(=*)\[\r?\n?([\s\S]*)\]\1\]$/.exec(text);
  const body = m ? m[2]! : text.slice(1, -1);
  return `"${body.replace(/[\\"]/g, (x) => `\\${x}`).replace(/\r/g, '\\r').replace(/\n/g, '\\n')}"`;
}

/** The replacement text of one declaration. */
export function declText(d: TypeDecl): string {
  const generics = new Set([...d.params, ...d.generics]);
  return `local ${d.name}; ${d.name} = __types.named(${JSON.stringify(d.name)}, function() return ${typeExpr(d.type, generics)} end)`;
}

/** The edits that attach exported types to the main chunk's returned value. */
export function exportEdits(decls: TypeDecl[], sites: ExportSite[]): Edit[] {
  const names = decls.filter((d) => d.exported).map((d) => d.name);
  if (names.length === 0) return [];
  const table = `{${names.map((n) => `${n} = ${n}`).join(', ')}}`;
  const out: Edit[] = [];
  for (const s of sites) {
    out.push({ start: s.start, end: s.start, text: ' __types.export(' });
    out.push({ start: s.end, end: s.end, text: `, ${table})` });
  }
  return out;
}

/** Applies the edits to `src` (see the top of this file for why lines are kept). */
export function applyEdits(src: string, edits: Edit[]): string {
  if (edits.length === 0) return src;
  // Stable by start; an insertion at the end of one range and the start of the next keeps order.
  const sorted = edits.map((e, i) => ({ e, i })).sort((a, b) => a.e.start - b.e.start || a.i - b.i).map((x) => x.e);
  let out = '';
  let pos = 0;
  for (const e of sorted) {
    if (e.start < pos) continue; // nested in an edit already applied (a cast inside an erased type)
    out += src.slice(pos, e.start);
    const cut = src.slice(e.start, e.end);
    if (e.text !== undefined) out += e.text + cut.replace(/[^\r\n]/g, '');
    else out += cut.replace(/[^\r\n]/g, ' ');
    pos = e.end;
  }
  return out + src.slice(pos);
}
