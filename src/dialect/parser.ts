// The Lua 5.4 grammar (lparser.c's statements and expressions) with the dialect's annotations,
// read by recursive descent. It builds no syntax tree: Lua code is left exactly as written, and
// the parser only records edits (cursor.ts) where dialect syntax must go:
//
//   * annotations — `: T` after a local, parameter, `for` variable or parameter list, generic
//     parameter lists `<T>`, the `!` non-nil assertion — are erased (blanked to spaces);
//   * unchecked casts `e :: T` and `e as T` are erased (they cost nothing at run time);
//   * `type X = T` / `export type X = T` is replaced, on its first line, by a local holding a
//     runtime type value (emitter.ts writes the Lua for T);
//   * in the main chunk, the first value of a top-level `return` gets the exported types added
//     (`return M` becomes `return __types.export(M, {User = User})`), so a library's
//     `export type User` is reachable as `lib.User` by the code that requires it.
//
// Why hand-written. No npm parser reads Lua 5.4 plus this type grammar: luaparse (the mature
// one) stops at Lua 5.3 — no `<const>`/`<close>` attributes — and has no types, and grafting a
// type grammar onto its internals would be a fork. The grammar is small (Lua's reference parser is
// one ~2,000-line C file), and a recursive-descent reader that follows lparser.c function for
// function keeps the two easy to compare. Correctness on plain Lua is tested by compiling every
// .lua file in the repository and checking the output is byte-identical (the compiler is an
// identity on untyped Lua), and by loading compiled typed sources in real Lua 5.4.
//
// Context-sensitive words. `type`, `export` and `as` are not reserved, so plain Lua keeps using
// them as names: `type X = …` is a declaration only when `type` is followed by a name and then
// `=` or `<` (in plain Lua two names in a row are a syntax error); `as` is a cast only when it
// follows an expression on the same line and a type can start after it. `::` after an expression
// is a cast unless it starts `::name::` written on one line, a goto label (so a cast followed by a
// label on the same line needs a `;` between them).

import { TK } from './lexer.js';
import type { Cursor } from './cursor.js';
import { parseGenericParams, parseType, startsType, type TypeNode } from './type-grammar.js';

/** A `type` declaration found in the source, for the emitter. */
export interface TypeDecl {
  name: string;
  params: string[];
  type: TypeNode;
  exported: boolean;
  /** Source range replaced by the runtime value. */
  start: number;
  end: number;
  /** Generic parameter names of the enclosing functions (they are `any` at run time). */
  generics: string[];
}

/** Where exported types get attached: the first value of each top-level return. */
export interface ExportSite {
  start: number;
  end: number;
}

const BLOCK_END = new Set(['end', 'else', 'elseif', 'until']);

// Binary operator priorities (left, right), from lparser.c.
const BINARY: Record<string, [number, number]> = {
  '+': [10, 10], '-': [10, 10], '*': [11, 11], '%': [11, 11], '^': [14, 13], '/': [11, 11], '//': [11, 11],
  '&': [6, 6], '|': [4, 4], '~': [5, 5], '<<': [7, 7], '>>': [7, 7], '..': [9, 8],
  '==': [3, 3], '<': [3, 3], '<=': [3, 3], '~=': [3, 3], '>': [3, 3], '>=': [3, 3],
  'and': [2, 2], 'or': [1, 1],
};
const UNARY_PRIORITY = 12;

export class LuaParser {
  readonly decls: TypeDecl[] = [];
  readonly exportSites: ExportSite[] = [];
  /** `typeof(x)` calls on locals with a declared type: where to add it. */
  readonly typeofs: Array<{ at: number; type: TypeNode; generics: string[] }> = [];
  private readonly c: Cursor;
  private readonly generics: string[][] = [];
  private depth = 0;
  /** Locals in scope, innermost last: name -> declared type (null when not annotated). */
  private readonly scopes: Array<Map<string, TypeNode | null>> = [new Map()];
  /** Expression lists inside types (validator arguments, `typeof(...)`), for type-grammar.ts. */
  private readonly exps = () => { this.explist(); };

  constructor(c: Cursor) {
    this.c = c;
  }

  /** The main chunk. */
  chunk(): void {
    this.block(true);
    if (this.c.tok.kind !== TK.Eof) this.c.fail("'<eof>' expected");
  }

  // ---- statements ---------------------------------------------------------------------------

  private blockEnds(): boolean {
    const t = this.c.tok;
    return t.kind === TK.Eof || (t.kind === TK.Keyword && BLOCK_END.has(t.value));
  }

  private block(main = false, locals?: Map<string, TypeNode | null>): void {
    this.enter();
    this.scopes.push(locals ?? new Map());
    while (!this.blockEnds()) {
      if (this.c.is('return')) { this.retstat(main); break; }
      this.statement(main);
    }
    this.scopes.pop();
    this.depth--;
  }

  private declare(name: string, type: TypeNode | null): void {
    this.scopes[this.scopes.length - 1]!.set(name, type);
  }

  /** The declared type of local `name` (null: a local without one; undefined: not a local). */
  private lookup(name: string): TypeNode | null | undefined {
    for (let i = this.scopes.length - 1; i >= 0; i--) {
      const t = this.scopes[i]!.get(name);
      if (t !== undefined) return t;
    }
    return undefined;
  }

  private enter(): void {
    // Lua's own limit is 200 C levels (LUAI_MAXCCALLS); this keeps a JS stack overflow from
    // becoming the error message for absurdly nested sources.
    if (++this.depth > 200) this.c.fail('chunk has too many syntax levels');
  }

  private statement(main: boolean): void {
    const c = this.c;
    const t = c.tok;
    if (t.kind === TK.Keyword) {
      switch (t.value) {
        case 'if': return this.ifstat();
        case 'while': { c.next(); this.expr(); c.expect('do'); this.block(); c.expect('end', { what: 'while', line: t.line }); return; }
        case 'do': { c.next(); this.block(); c.expect('end', { what: 'do', line: t.line }); return; }
        case 'for': return this.forstat();
        case 'repeat': { c.next(); this.block(); c.expect('until', { what: 'repeat', line: t.line }); this.expr(); return; }
        case 'function': return this.funcstat();
        case 'local': {
          c.next();
          if (c.accept('function')) { this.declare(c.name().value, null); this.funcbody(t.line); return; }
          return this.localstat();
        }
        case 'break': c.next(); return;
        case 'goto': c.next(); c.name(); return;
      }
    }
    if (c.is(';')) { c.next(); return; }
    if (c.is('::')) { c.next(); c.name(); c.expect('::'); return; }
    if (t.kind === TK.Name) {
      if (t.value === 'type' && c.peek().kind === TK.Name && (c.isAt(2, '=') || c.isAt(2, '<'))) {
        return this.typestat(c.i, false, main);
      }
      if (t.value === 'export' && c.peek().kind === TK.Name && c.peek().value === 'type' && c.peek(2).kind === TK.Name) {
        const from = c.i;
        c.next();
        return this.typestat(from, true, main);
      }
    }
    this.exprstat();
  }

  private ifstat(): void {
    const c = this.c;
    const t = c.next();
    this.expr();
    c.expect('then');
    this.block();
    while (c.is('elseif')) { c.next(); this.expr(); c.expect('then'); this.block(); }
    if (c.accept('else')) this.block();
    c.expect('end', { what: 'if', line: t.line });
  }

  private forstat(): void {
    const c = this.c;
    const t = c.next();
    const vars = new Map<string, TypeNode | null>();
    vars.set(c.name().value, this.annotation());
    if (c.accept('=')) {
      this.expr(); c.expect(','); this.expr();
      if (c.accept(',')) this.expr();
    } else if (c.is(',') || c.is('in')) {
      while (c.accept(',')) { const n = c.name().value; vars.set(n, this.annotation()); }
      c.expect('in');
      this.explist();
    } else {
      c.fail("'=' or 'in' expected");
    }
    c.expect('do');
    this.block(false, vars);
    c.expect('end', { what: 'for', line: t.line });
  }

  private funcstat(): void {
    const c = this.c;
    const t = c.next();
    c.name();
    while (c.is('.')) { c.next(); c.name(); }
    if (c.accept(':')) c.name();
    this.funcbody(t.line);
  }

  private localstat(): void {
    const c = this.c;
    const names: Array<[string, TypeNode | null]> = [];
    do {
      const n = c.name().value;
      this.attrib();
      const type = this.annotation();
      this.attrib();
      names.push([n, type]);
    } while (c.accept(','));
    if (c.accept('=')) this.explist();
    for (const [n, type] of names) this.declare(n, type); // in scope after the values, as in Lua
  }

  private attrib(): void {
    const c = this.c;
    if (c.is('<') && c.peek().kind === TK.Name && c.isAt(2, '>')) { c.next(); c.next(); c.next(); }
  }

  private retstat(main: boolean): void {
    const c = this.c;
    c.next();
    if (!this.blockEnds() && !c.is(';')) {
      const start = c.tok.start;
      this.expr();
      if (main && this.depth === 1) this.exportSites.push({ start, end: c.prev.end });
      while (c.accept(',')) this.expr();
    }
    c.accept(';');
    if (!this.blockEnds()) c.fail("'<eof>' expected");
  }

  private typestat(from: number, exported: boolean, main: boolean): void {
    const c = this.c;
    c.next(); // `type`
    const name = c.name().value;
    const params = c.is('<') ? parseGenericParams(c, this.exps) : [];
    c.expect('=');
    const type = parseType(c, this.exps);
    this.decls.push({
      name, params, type, exported: exported && main && this.depth === 1,
      start: c.toks[from]!.start, end: c.prev.end, generics: this.generics.flat(),
    });
  }

  private exprstat(): void {
    const c = this.c;
    const kind = this.suffixedexp();
    if (c.is('=') || c.is(',')) {
      if (kind !== 'var') c.fail('syntax error');
      while (c.accept(',')) { if (this.suffixedexp() !== 'var') c.fail('syntax error'); }
      c.expect('=');
      this.explist();
    } else if (kind !== 'call') {
      c.fail('syntax error');
    }
  }

  // ---- functions and annotations --------------------------------------------------------------

  /** An optional `: Type` annotation, erased. */
  private annotation(): TypeNode | null {
    const c = this.c;
    if (!c.is(':')) return null;
    const from = c.i;
    c.next();
    const type = parseType(c, this.exps);
    c.eraseFrom(from);
    return type;
  }

  private funcbody(line: number): void {
    const c = this.c;
    this.enter();
    let pushed = false;
    if (c.is('<')) {
      const from = c.i;
      this.generics.push(parseGenericParams(c, this.exps));
      pushed = true;
      c.eraseFrom(from);
    }
    c.expect('(');
    const params = new Map<string, TypeNode | null>();
    if (!c.is(')')) {
      do {
        if (c.accept('...')) { this.annotation(); break; }
        const n = c.name().value;
        params.set(n, this.annotation());
      } while (c.accept(','));
    }
    c.expect(')');
    if (c.is(':')) {
      const from = c.i;
      c.next();
      parseType(c, this.exps);
      c.eraseFrom(from);
    }
    this.block(false, params);
    c.expect('end', { what: 'function', line });
    if (pushed) this.generics.pop();
    this.depth--;
  }

  // ---- expressions ----------------------------------------------------------------------------

  explist(): void {
    this.expr();
    while (this.c.accept(',')) this.expr();
  }

  expr(limit = 0): void {
    const c = this.c;
    this.enter();
    if (c.is('not') || c.is('-') || c.is('#') || c.is('~')) {
      c.next();
      this.expr(UNARY_PRIORITY);
    } else {
      this.simpleexp();
    }
    for (;;) {
      const op = c.tok;
      if (op.kind !== TK.Op && op.kind !== TK.Keyword) break;
      const prio = BINARY[op.value];
      if (!prio || prio[0] <= limit) break;
      c.next();
      this.expr(prio[1]);
    }
    this.depth--;
  }

  private simpleexp(): void {
    const c = this.c;
    const t = c.tok;
    if (t.kind === TK.Number || t.kind === TK.String) c.next();
    else if (c.is('nil') || c.is('true') || c.is('false') || c.is('...')) c.next();
    else if (c.is('{')) this.table();
    else if (c.is('function')) { c.next(); this.funcbody(t.line); }
    else this.suffixedexp();
    this.casts();
  }

  /** `e :: T` and `e as T` (erased), repeated. */
  private casts(): void {
    const c = this.c;
    for (;;) {
      if (c.is('::') && !this.isLabel()) {
        const from = c.i;
        c.next();
        parseType(c, this.exps);
        c.eraseFrom(from);
        continue;
      }
      if (c.isName('as') && c.tok.line === c.prev.line) {
        const from = c.i;
        c.next();
        if (!startsType(c) || c.is('<')) { c.i = from; return; }
        parseType(c, this.exps);
        c.eraseFrom(from);
        continue;
      }
      return;
    }
  }

  /**
   * At `typeof` (the global) called as `typeof(x)` with `x` a local declared with a type: the
   * declared type is passed as a second argument (`typeof(x, <type>)`), so reflection sees the
   * declaration (`{number}`, `number?`), not just the value.
   */
  private typeofArg(): void {
    const c = this.c;
    if (this.lookup('typeof') !== undefined) return;
    if (!c.isAt(1, '(') || c.peek(2).kind !== TK.Name || !c.isAt(3, ')')) return;
    const declared = this.lookup(c.peek(2).value);
    if (!declared) return;
    this.typeofs.push({ at: c.peek(3).start, type: declared, generics: this.generics.flat() });
  }

  /** `::name::` written on one line is a goto label; anything else after an expression is a cast. */
  private isLabel(): boolean {
    const c = this.c;
    return c.peek().kind === TK.Name && c.isAt(2, '::') && c.peek(2).line === c.tok.line;
  }

  /** -> 'call' if it ended with a call, 'var' if assignable, else 'other'. */
  private suffixedexp(): 'call' | 'var' | 'other' {
    const c = this.c;
    let kind: 'call' | 'var' | 'other';
    if (c.tok.kind === TK.Name) {
      if (c.tok.value === 'typeof') this.typeofArg();
      c.next();
      kind = 'var';
    }
    else if (c.is('(')) {
      const open = c.next();
      this.expr();
      c.expect(')', { what: '(', line: open.line });
      kind = 'other';
    } else {
      return c.fail('unexpected symbol');
    }
    for (;;) {
      if (c.is('.')) { c.next(); c.name(); kind = 'var'; }
      else if (c.is('[')) { c.next(); this.expr(); c.expect(']'); kind = 'var'; }
      else if (c.is(':')) { c.next(); c.name(); this.args(); kind = 'call'; }
      else if (c.is('(') || c.is('{') || c.tok.kind === TK.String) { this.args(); kind = 'call'; }
      else if (c.is('!')) { const from = c.i; c.next(); c.eraseFrom(from); }
      else return kind;
    }
  }

  private args(): void {
    const c = this.c;
    if (c.tok.kind === TK.String) { c.next(); return; }
    if (c.is('{')) { this.table(); return; }
    const open = c.expect('(');
    if (!c.is(')')) this.explist();
    c.expect(')', { what: '(', line: open.line });
  }

  private table(): void {
    const c = this.c;
    const open = c.expect('{');
    while (!c.is('}')) {
      if (c.is('[')) { c.next(); this.expr(); c.expect(']'); c.expect('='); this.expr(); }
      else if (c.tok.kind === TK.Name && c.isAt(1, '=')) { c.next(); c.next(); this.expr(); }
      else this.expr();
      if (!c.accept(',') && !c.accept(';')) break;
    }
    c.expect('}', { what: '{', line: open.line });
  }
}

