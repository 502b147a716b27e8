// The token cursor both grammars (parser.ts for Lua, type-grammar.ts for types) read through, and
// the edit list they write to.
//
// An edit is "blank the source range [start, end) and put `text` at its start". Erasing an
// annotation is an edit without text: every character but line breaks becomes a space, so every
// following token keeps its line (and its column). A replacement (a `type` declaration becoming a
// runtime value) puts its text on the first line of the range and keeps only the range's line
// breaks after it. An insertion is an empty range with text. The emitter applies them in order.

import { DialectSyntaxError, TK, type Token } from './lexer.js';

export interface Edit {
  start: number;
  end: number;
  text?: string;
}

export class Cursor {
  readonly src: string;
  readonly toks: Token[];
  readonly edits: Edit[] = [];
  i = 0;

  constructor(src: string, toks: Token[]) {
    this.src = src;
    this.toks = toks;
  }

  get tok(): Token { return this.toks[this.i]!; }
  peek(k = 1): Token { return this.toks[Math.min(this.i + k, this.toks.length - 1)]!; }
  /** The last consumed token. */
  get prev(): Token { return this.toks[Math.max(0, this.i - 1)]!; }
  next(): Token { const t = this.toks[this.i]!; if (t.kind !== TK.Eof) this.i++; return t; }

  /** Is the current token the operator or keyword `v`? */
  is(v: string): boolean { const t = this.tok; return (t.kind === TK.Op || t.kind === TK.Keyword) && t.value === v; }
  isAt(k: number, v: string): boolean { const t = this.peek(k); return (t.kind === TK.Op || t.kind === TK.Keyword) && t.value === v; }
  isName(v?: string): boolean { return this.tok.kind === TK.Name && (v === undefined || this.tok.value === v); }
  accept(v: string): boolean { if (this.is(v)) { this.i++; return true; } return false; }

  expect(v: string, opener?: { what: string; line: number }): Token {
    if (this.is(v)) return this.next();
    if (opener && opener.line !== this.tok.line) this.fail(`'${v}' expected (to close '${opener.what}' at line ${opener.line})`);
    return this.fail(`'${v}' expected`);
  }

  name(): Token {
    if (this.tok.kind !== TK.Name) this.fail('<name> expected');
    return this.next();
  }

  fail(msg: string, t: Token = this.tok): never {
    throw new DialectSyntaxError(msg, t.line, shown(t));
  }

  /** Erase the tokens from index `from` up to (not including) the current one. */
  eraseFrom(from: number): void {
    if (from >= this.i) return;
    this.edits.push({ start: this.toks[from]!.start, end: this.toks[this.i - 1]!.end });
  }
}

/** A token as an error message quotes it: long ones cut. */
function shown(t: Token): string {
  const v = t.value;
  const first = v.split(/\r\n|\n|\r/)[0]!;
  return first.length > 40 ? `${first.slice(0, 37)}...` : first !== v ? `${first}...` : v;
}
