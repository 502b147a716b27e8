// The typed-Lua lexer: source text -> an array of tokens with byte offsets and line numbers.
//
// It is Lua 5.4's lexer (llex.c) plus three punctuation tokens the dialect needs and plain Lua
// never produces: `?` (optional types), `!` (non-nil assertion) and `@` (type validators). Keeping
// the token set otherwise identical is what makes the compiler an identity on plain Lua: the parser
// sees exactly the tokens Lua would, and only dialect constructs produce edits. `->` is not a token:
// the type parser reads `-` immediately followed by `>` (plain Lua has no such pair: `a->b` is a
// syntax error there), so `a - -b` and `x-->y` (a comment) lex as they always did.
//
// Comments and whitespace are skipped, not tokenized: the emitter works on byte ranges of the
// original text, so it never needs to print them. Lines: a token's line is the line of its first
// byte; `\n`, `\r`, `\r\n` and `\n\r` each end one line, as in Lua.
//
// Everything is scanned with charCodeAt over a JS string (the source as the runtime holds it). A
// string's escape sequences are checked only as far as finding where the literal ends; Lua itself
// validates the escapes when the compiled chunk is loaded, with the same line number.

export const TK = {
  Name: 1,
  Keyword: 2,
  Number: 3,
  String: 4,
  Op: 5,
  Eof: 6,
} as const;
export type TokenKind = (typeof TK)[keyof typeof TK];

export interface Token {
  kind: TokenKind;
  /** Name or keyword text, operator text; for strings and numbers the raw source text. */
  value: string;
  /** Offset of the first character and one past the last. */
  start: number;
  end: number;
  line: number;
}

/** A syntax error: the message already says where (`line N near 'tok'`) in Lua's words. */
export class DialectSyntaxError extends Error {
  readonly line: number;
  /** The offending token as written (`<eof>` at the end of the text). */
  readonly token: string;
  readonly detail: string;

  constructor(detail: string, line: number, token: string) {
    super(`line ${line}: ${detail} near '${token}'`);
    this.name = 'DialectSyntaxError';
    this.line = line;
    this.token = token;
    this.detail = detail;
  }
}

const KEYWORDS = new Set([
  'and', 'break', 'do', 'else', 'elseif', 'end', 'false', 'for', 'function', 'goto', 'if', 'in',
  'local', 'nil', 'not', 'or', 'repeat', 'return', 'then', 'true', 'until', 'while',
]);

// Multi-character operators, longest first at each start character.
const OPS3 = new Set(['...']);
const OPS2 = new Set(['..', '==', '~=', '<=', '>=', '<<', '>>', '//', '::']);
const OPS1 = new Set(['+', '-', '*', '/', '%', '^', '#', '&', '~', '|', '<', '>', '=', '(', ')', '{', '}', '[', ']', ';', ':', ',', '.', '?', '!', '@']);

const C_NL = 10, C_CR = 13, C_DASH = 45, C_LBRACK = 91, C_RBRACK = 93, C_EQ = 61, C_BSL = 92, C_DOT = 46;

function isDigit(c: number): boolean { return c >= 48 && c <= 57; }
function isNameStart(c: number): boolean { return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === 95; }
function isNameChar(c: number): boolean { return isNameStart(c) || isDigit(c); }
function isSpace(c: number): boolean { return c === 32 || c === 9 || c === 11 || c === 12; }
function isHex(c: number): boolean { return isDigit(c) || (c >= 97 && c <= 102) || (c >= 65 && c <= 70); }

/** Tokenizes `src`; the last token is always Eof. Throws DialectSyntaxError on malformed text. */
export function tokenize(src: string): Token[] {
  const out: Token[] = [];
  const n = src.length;
  let i = 0;
  let line = 1;

  // Skips one line break at i (any of \n \r \r\n \n\r) and counts it.
  const newline = (): void => {
    const c = src.charCodeAt(i);
    i++;
    const d = src.charCodeAt(i);
    if ((d === C_NL || d === C_CR) && d !== c) i++;
    line++;
  };
  const fail = (msg: string, near: string, at = line): never => {
    throw new DialectSyntaxError(msg, at, near);
  };
  // At `[`: the level of a long bracket `[==[` (number of `=`), or -1 if it is not one.
  const longLevel = (at: number): number => {
    let j = at + 1;
    while (src.charCodeAt(j) === C_EQ) j++;
    return src.charCodeAt(j) === C_LBRACK ? j - at - 1 : -1;
  };
  // Skips a long bracket opened at i with `level`; i ends after the closing bracket.
  const skipLong = (level: number, what: string): void => {
    const startLine = line;
    i += level + 2;
    for (;;) {
      if (i >= n) fail(`unfinished long ${what} (starting at line ${startLine})`, '<eof>');
      const c = src.charCodeAt(i);
      if (c === C_RBRACK) {
        let j = i + 1;
        while (src.charCodeAt(j) === C_EQ) j++;
        if (j - i - 1 === level && src.charCodeAt(j) === C_RBRACK) { i = j + 1; return; }
        i++;
      } else if (c === C_NL || c === C_CR) {
        newline();
      } else {
        i++;
      }
    }
  };

  while (i < n) {
    const c = src.charCodeAt(i);
    if (c === C_NL || c === C_CR) { newline(); continue; }
    if (isSpace(c)) { i++; continue; }
    if (c === C_DASH && src.charCodeAt(i + 1) === C_DASH) {
      i += 2;
      if (src.charCodeAt(i) === C_LBRACK) {
        const level = longLevel(i);
        if (level >= 0) { skipLong(level, 'comment'); continue; }
      }
      while (i < n && src.charCodeAt(i) !== C_NL && src.charCodeAt(i) !== C_CR) i++;
      continue;
    }
    const start = i;
    const startLine = line;
    if (isNameStart(c)) {
      i++;
      while (i < n && isNameChar(src.charCodeAt(i))) i++;
      const word = src.slice(start, i);
      out.push({ kind: KEYWORDS.has(word) ? TK.Keyword : TK.Name, value: word, start, end: i, line: startLine });
      continue;
    }
    if (isDigit(c) || (c === C_DOT && isDigit(src.charCodeAt(i + 1)))) {
      // llex.c read_numeral: digits, letters, dots, and a sign right after an exponent mark.
      let expo1 = 101, expo2 = 69; // e E
      if (c === 48 && (src.charCodeAt(i + 1) | 32) === 120) { expo1 = 112; expo2 = 80; i += 2; } // 0x: p P
      for (;;) {
        const d = src.charCodeAt(i);
        if ((d === expo1 || d === expo2) && (src.charCodeAt(i + 1) === 43 || src.charCodeAt(i + 1) === 45)) i += 2;
        else if (isHex(d) || d === C_DOT || isNameChar(d)) i++;
        else break;
      }
      const text = src.slice(start, i);
      if (!/^(0[xX]([0-9a-fA-F]*\.?[0-9a-fA-F]*)([pP][+-]?[0-9]+)?|[0-9]*\.?[0-9]*([eE][+-]?[0-9]+)?)$/.test(text) || text === '0x' || text === '0X') {
        fail('malformed number', text);
      }
      out.push({ kind: TK.Number, value: text, start, end: i, line: startLine });
      continue;
    }
    if (c === 34 || c === 39) { // " '
      i++;
      for (;;) {
        if (i >= n) fail('unfinished string', src.slice(start, Math.min(n, start + 20)), startLine);
        const d = src.charCodeAt(i);
        if (d === c) { i++; break; }
        if (d === C_NL || d === C_CR) fail('unfinished string', src.slice(start, i), startLine);
        if (d === C_BSL) {
          i++;
          const e = src.charCodeAt(i);
          if (e === C_NL || e === C_CR) newline();
          else if (e === 122) { // \z skips following whitespace, line breaks included
            i++;
            for (;;) {
              const w = src.charCodeAt(i);
              if (w === C_NL || w === C_CR) newline();
              else if (isSpace(w)) i++;
              else break;
            }
          } else if (i < n) i++;
          continue;
        }
        i++;
      }
      out.push({ kind: TK.String, value: src.slice(start, i), start, end: i, line: startLine });
      continue;
    }
    if (c === C_LBRACK) {
      const level = longLevel(i);
      if (level >= 0) {
        skipLong(level, 'string');
        out.push({ kind: TK.String, value: src.slice(start, i), start, end: i, line: startLine });
        continue;
      }
      if (src.charCodeAt(i + 1) === C_EQ) fail('invalid long string delimiter', src.slice(i, i + 2));
    }
    const three = src.slice(i, i + 3);
    const two = src.slice(i, i + 2);
    const one = src[i]!;
    const op = OPS3.has(three) ? three : OPS2.has(two) ? two : OPS1.has(one) ? one : undefined;
    if (op === undefined) fail('unexpected symbol', one);
    i += op!.length;
    out.push({ kind: TK.Op, value: op!, start, end: i, line: startLine });
  }
  out.push({ kind: TK.Eof, value: '<eof>', start: n, end: n, line });
  return out;
}
