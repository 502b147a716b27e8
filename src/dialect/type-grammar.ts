// The type grammar of the dialect (the Luau-style types Wippy's docs use), read off the shared
// token cursor into a small tree. Annotations are erased whole, so the tree only matters for
// `type X = ...` declarations, which become runtime type values (emitter.ts).
//
//   Type      := ['|'] Inter { '|' Inter }                       union (a leading | is allowed)
//   Inter     := Postfix { '&' Postfix }                         intersection
//   Postfix   := Primary { '?' | '@' Name '(' [explist] ')' }    optional, validators
//   Primary   := Name {'.' Name} ['<' Type {',' Type} '>']       named / generic instance
//              | nil | true | false | String | ['-'] Number      literal types
//              | '{' TableBody '}'
//              | '(' [Param {',' Param}] ')' ['->' Return]       function type / grouping / tuple
//              | '<' Generics '>' '(' ... ')' '->' Return         generic function type
//              | 'typeof' '(' exp ')' | 'function'
//   Param     := [Name ':'] Type | '...' [Type]
//   Return    := Type                                            `(a, b)` is a tuple
//   TableBody := Type                                            array {T}
//              | Field { (','|';') Field } [','|';']              record, map {[K]: V}
//   Field     := (Name|keyword) ['?'] ':' Type | '[' Type ']' ':' Type
//
// `->` is read as `-` immediately followed by `>`. A `>>` or `>=` closing nested generic
// arguments (`Map<string, List<number>>`) is split in place. After a type, `<const>` and
// `<close>` are local attributes, not generic arguments.

import { TK } from './lexer.js';
import type { Cursor } from './cursor.js';

export type TypeNode =
  | { k: 'name'; path: string[]; args: TypeNode[] }
  | { k: 'lit'; text: string }
  | { k: 'table'; fields: FieldNode[]; key?: TypeNode; val?: TypeNode; elem?: TypeNode }
  | { k: 'func'; params: TypeNode[]; rets: TypeNode[] }
  | { k: 'union'; items: TypeNode[] }
  | { k: 'inter'; items: TypeNode[] }
  | { k: 'opt'; inner: TypeNode }
  | { k: 'check'; inner: TypeNode; validators: Array<{ name: string; args: string }> }
  | { k: 'tuple'; items: TypeNode[] }
  | { k: 'vararg'; inner: TypeNode }
  | { k: 'any' };

export interface FieldNode {
  name: string;
  optional: boolean;
  type: TypeNode;
}

/** Parses Lua expressions for validator arguments and `typeof(...)` (from parser.ts). */
export type ExpList = (c: Cursor) => void;

export function parseType(c: Cursor, exps: ExpList): TypeNode {
  c.accept('|');
  const first = parseInter(c, exps);
  if (!c.is('|')) return first;
  const items = [first];
  while (c.accept('|')) items.push(parseInter(c, exps));
  return { k: 'union', items };
}

function parseInter(c: Cursor, exps: ExpList): TypeNode {
  const first = parsePostfix(c, exps);
  if (!c.is('&')) return first;
  const items = [first];
  while (c.accept('&')) items.push(parsePostfix(c, exps));
  return { k: 'inter', items };
}

function parsePostfix(c: Cursor, exps: ExpList): TypeNode {
  let t = parsePrimary(c, exps);
  for (;;) {
    if (c.accept('?')) { t = { k: 'opt', inner: t }; continue; }
    if (c.is('@')) {
      c.next();
      const name = c.name().value;
      const open = c.expect('(');
      const from = c.tok.start;
      if (!c.is(')')) exps(c);
      const to = c.tok.start;
      c.expect(')', { what: '(', line: open.line });
      const args = c.src.slice(from, to).replace(/\s+/g, ' ').trim();
      const validators = t.k === 'check' ? t.validators : [];
      validators.push({ name, args });
      if (t.k !== 'check') t = { k: 'check', inner: t, validators };
      continue;
    }
    return t;
  }
}

/** Is the cursor at `->` (two adjacent tokens)? */
export function isArrow(c: Cursor): boolean {
  return c.is('-') && c.isAt(1, '>') && c.peek().start === c.tok.end;
}

function parsePrimary(c: Cursor, exps: ExpList): TypeNode {
  const t = c.tok;
  if (t.kind === TK.Name) {
    if (t.value === 'typeof' && c.isAt(1, '(')) {
      c.next();
      const open = c.next();
      exps(c);
      c.expect(')', { what: '(', line: open.line });
      return { k: 'any' };
    }
    c.next();
    const path = [t.value];
    while (c.is('.') && c.peek().kind === TK.Name) { c.next(); path.push(c.next().value); }
    const args: TypeNode[] = [];
    if (c.is('<') && !isAttrib(c)) {
      c.next();
      if (!isClose(c)) {
        do args.push(parseType(c, exps)); while (c.accept(','));
      }
      closeAngle(c);
    }
    return { k: 'name', path, args };
  }
  if (t.kind === TK.String || t.kind === TK.Number) {
    c.next();
    return { k: 'lit', text: t.value };
  }
  if (c.is('-') && c.peek().kind === TK.Number) {
    c.next();
    return { k: 'lit', text: `-${c.next().value}` };
  }
  if (c.is('nil') || c.is('true') || c.is('false')) { c.next(); return { k: 'lit', text: t.value }; }
  if (c.is('function')) { c.next(); return { k: 'name', path: ['function'], args: [] }; }
  if (c.is('{')) return parseTable(c, exps);
  if (c.is('<')) { // generic function type: <T>(T) -> T
    parseGenericParams(c, exps);
    if (!c.is('(')) c.fail("'(' expected after generic parameters of a function type");
    return parsePrimary(c, exps);
  }
  if (c.is('(')) {
    const open = c.next();
    const items: TypeNode[] = [];
    if (!c.is(')')) {
      do {
        if (c.is('...')) {
          c.next();
          items.push({ k: 'vararg', inner: startsType(c) ? parseType(c, exps) : { k: 'any' } });
        } else {
          if (c.tok.kind === TK.Name && c.isAt(1, ':') && !c.isAt(1, '::')) { c.next(); c.next(); }
          items.push(parseType(c, exps));
        }
      } while (c.accept(','));
    }
    c.expect(')', { what: '(', line: open.line });
    if (isArrow(c)) {
      c.next(); c.next();
      const ret = parseType(c, exps);
      return { k: 'func', params: items, rets: ret.k === 'tuple' ? ret.items : [ret] };
    }
    if (items.length === 1 && items[0]!.k !== 'vararg') return items[0]!;
    return { k: 'tuple', items };
  }
  if (c.is('...')) {
    c.next();
    return { k: 'vararg', inner: startsType(c) ? parseType(c, exps) : { k: 'any' } };
  }
  return c.fail('type expected');
}

function parseTable(c: Cursor, exps: ExpList): TypeNode {
  const open = c.expect('{');
  const node: Extract<TypeNode, { k: 'table' }> = { k: 'table', fields: [] };
  if (c.accept('}')) return node;
  // An array type is a single type with no `name:` in front.
  if (!isFieldStart(c) && !c.is('[')) {
    node.elem = parseType(c, exps);
    c.accept(',') || c.accept(';');
    c.expect('}', { what: '{', line: open.line });
    return node;
  }
  while (!c.is('}')) {
    if (c.is('[')) {
      const b = c.next();
      if (c.tok.kind === TK.String && c.isAt(1, ']')) { // ["content-type"]: T is a named field
        const name = c.next().value;
        c.expect(']', { what: '[', line: b.line });
        const optional = c.accept('?');
        c.expect(':');
        node.fields.push({ name: luaStringValue(name), optional, type: parseType(c, exps) });
      } else {
        const key = parseType(c, exps);
        c.expect(']', { what: '[', line: b.line });
        c.expect(':');
        node.key = key;
        node.val = parseType(c, exps);
      }
    } else if (isFieldStart(c)) {
      const name = c.next().value;
      const optional = c.accept('?');
      c.expect(':');
      node.fields.push({ name, optional, type: parseType(c, exps) });
    } else {
      c.fail("field name or '[' expected in table type");
    }
    if (!c.accept(',') && !c.accept(';')) break;
  }
  c.expect('}', { what: '{', line: open.line });
  return node;
}

/** `name:` or `name?:` at the cursor (keywords allowed as field names). */
function isFieldStart(c: Cursor): boolean {
  const t = c.tok;
  if (t.kind !== TK.Name && t.kind !== TK.Keyword) return false;
  return (c.isAt(1, ':') || (c.isAt(1, '?') && c.isAt(2, ':')));
}

/** `<const>` / `<close>` after a local's type are attributes. */
function isAttrib(c: Cursor): boolean {
  const n = c.peek();
  return n.kind === TK.Name && (n.value === 'const' || n.value === 'close') && (c.isAt(2, '>') || c.isAt(2, '>=') || c.isAt(2, '>>'));
}

function isClose(c: Cursor): boolean { return c.is('>') || c.is('>>') || c.is('>='); }

/** Consumes one `>`, splitting `>>` or `>=` so the rest stays for the enclosing parser. */
export function closeAngle(c: Cursor): void {
  const t = c.tok;
  if (c.is('>')) { c.next(); return; }
  if (c.is('>>') || c.is('>=')) {
    c.toks.splice(c.i, 1, { ...t, value: '>', end: t.start + 1 }, { ...t, value: t.value.slice(1), start: t.start + 1 });
    c.next();
    return;
  }
  c.fail("'>' expected");
}

/** `<T, U: Bound, V = Default>` at the cursor; returns the parameter names. */
export function parseGenericParams(c: Cursor, exps: ExpList): string[] {
  c.expect('<');
  const names: string[] = [];
  do {
    if (c.is('...')) c.next();
    names.push(c.name().value);
    if (c.is('...')) c.next();
    if (c.accept(':')) parseType(c, exps);
    if (c.accept('=')) parseType(c, exps);
  } while (c.accept(','));
  closeAngle(c);
  return names;
}

/** Can a type start at the cursor? (for `...` with an optional element type) */
export function startsType(c: Cursor): boolean {
  const t = c.tok;
  if (t.kind === TK.Name || t.kind === TK.String || t.kind === TK.Number) return true;
  return c.is('{') || c.is('(') || c.is('nil') || c.is('true') || c.is('false') || c.is('function') || c.is('<');
}

/** The value of a short Lua string literal token, for field names written `["a-b"]`. */
function luaStringValue(raw: string): string {
  if (raw.startsWith('[')) return raw.replace(/^\[=*\[\n?/, '').replace(/\]=*\]$/, '');
  return raw.slice(1, -1).replace(/\\(.)/g, '$1');
}
