// A reader and printer for EDN (https://github.com/edn-format/edn), enough of it for
// Jepsen histories and more: nil, booleans, integers (with N), floats (with M),
// strings with escapes, characters, keywords, symbols, lists, vectors, maps, sets,
// tagged literals, `#_` discard, `;` comments, and commas as whitespace.
// Every error names file, line and column.
import { BadInputError } from "../errors.ts";
import type { Value } from "../value.ts";
import { EdnChar, EdnMap, EdnSet, EdnSymbol, EdnTagged, Keyword, keyword, showValue } from "../value.ts";

/** A top-level form with the place it starts; for a top-level vector or list, its elements' places too. */
export interface EdnForm {
  readonly value: Value;
  readonly line: number;
  readonly column: number;
  /** Start places of the elements when the form is a vector or list. */
  readonly elementPlaces?: ReadonlyArray<{ readonly line: number; readonly column: number }>;
}

const RECENT_KEYWORDS_PER_LENGTH_MAX = 8;
/** Nesting limit: deeper input is rejected as bad input instead of overflowing the stack. */
const DEPTH_MAX = 200;

const NAMED_CHARS: Record<string, string> = { newline: "\n", space: " ", tab: "\t", return: "\r", formfeed: "\f", backspace: "\b" };

class Reader {
  private readonly text: string;
  private readonly file: string;
  private pos = 0;
  private line = 1;
  private lineStart = 0;
  private depth = 0;
  /** Keywords seen, by name length, for matching without slicing (readKeyword). */
  private readonly recentKeywords = new Map<number, Keyword[]>();

  /** `firstLine` and `firstColumn` place text embedded in a larger file (Jepsen log lines). */
  constructor(text: string, file: string, firstLine = 1, firstColumn = 1) {
    this.text = text;
    this.file = file;
    this.line = firstLine;
    this.lineStart = -(firstColumn - 1);
  }

  get currentLine(): number {
    return this.line;
  }

  get column(): number {
    return this.pos - this.lineStart + 1;
  }

  fail(reason: string, line = this.line, column = this.column): never {
    throw new BadInputError(this.file, line, column, reason);
  }

  advance(): string {
    const ch = this.text[this.pos];
    this.pos += 1;
    if (ch === "\n") {
      this.line += 1;
      this.lineStart = this.pos;
    }
    return ch;
  }

  /** Skips whitespace, commas, comments and `#_` discarded forms. */
  skipSpace(): void {
    const text = this.text;
    for (;;) {
      const code = text.charCodeAt(this.pos);
      if (code !== code) return; // NaN: end of input
      if (code === 32 || code === 44 || code === 9 || code === 13 || code === 12) {
        this.pos += 1;
      } else if (code === 10) {
        this.pos += 1;
        this.line += 1;
        this.lineStart = this.pos;
      } else if (code === 59) {
        const end = text.indexOf("\n", this.pos);
        this.pos = end < 0 ? text.length : end;
      } else if (code === 35 && text.charCodeAt(this.pos + 1) === 95) {
        this.pos += 2;
        this.skipSpace();
        if (this.atEnd()) this.fail("expected a form after #_");
        this.readForm();
      } else {
        return;
      }
    }
  }

  atEnd(): boolean {
    return this.pos >= this.text.length;
  }

  peek(): string | undefined {
    return this.text[this.pos];
  }

  /** Reads one form; the caller has skipped leading space and checked there is input. */
  readForm(): Value {
    const ch = this.text[this.pos];
    switch (ch) {
      case "(":
      case "[": {
        this.advance();
        return this.readSequence(ch === "(" ? ")" : "]", null);
      }
      case "{":
        this.advance();
        return this.readMap();
      case ")":
      case "]":
      case "}":
        return this.fail(`unexpected '${ch}'`);
      case '"':
        return this.readString();
      case "\\":
        return this.readChar();
      case "#":
        return this.readDispatch();
      case ":":
        return this.readKeyword();
      default:
        return this.readAtom();
    }
  }

  /** Reads elements until `close`; records element places into `places` when given. */
  readSequence(close: string, places: Array<{ line: number; column: number }> | null): Value[] {
    const openLine = this.line;
    const openColumn = this.column - 1;
    this.depth += 1;
    if (this.depth > DEPTH_MAX) this.fail(`nesting deeper than ${DEPTH_MAX}`);
    const items: Value[] = [];
    for (;;) {
      this.skipSpace();
      if (this.atEnd()) this.fail(`unclosed '${close === ")" ? "(" : close === "]" ? "[" : "{"}'`, openLine, openColumn);
      if (this.peek() === close) {
        this.advance();
        break;
      }
      if (places !== null) places.push({ line: this.line, column: this.column });
      items.push(this.readForm());
    }
    this.depth -= 1;
    return items;
  }

  private readMap(): EdnMap {
    const line = this.line;
    const column = this.column - 1;
    const items = this.readSequence("}", null);
    if (items.length % 2 !== 0) this.fail("a map needs an even number of forms", line, column);
    const entries: Array<readonly [Value, Value]> = [];
    for (let i = 0; i < items.length; i += 2) entries.push([items[i], items[i + 1]]);
    return new EdnMap(entries);
  }

  private readString(): string {
    const line = this.line;
    const column = this.column;
    // Fast path: no escape and no newline before the closing quote.
    const close = this.text.indexOf('"', this.pos + 1);
    if (close > 0) {
      const body = this.text.slice(this.pos + 1, close);
      if (body.indexOf("\\") < 0 && body.indexOf("\n") < 0) {
        this.pos = close + 1;
        return body;
      }
    }
    this.advance();
    let out = "";
    let runStart = this.pos;
    for (;;) {
      if (this.atEnd()) this.fail("unterminated string", line, column);
      const ch = this.text[this.pos];
      if (ch === '"') {
        out += this.text.slice(runStart, this.pos);
        this.advance();
        return out;
      }
      if (ch === "\\") {
        out += this.text.slice(runStart, this.pos);
        this.advance();
        const escape = this.atEnd() ? "" : this.advance();
        switch (escape) {
          case "n":
            out += "\n";
            break;
          case "t":
            out += "\t";
            break;
          case "r":
            out += "\r";
            break;
          case "b":
            out += "\b";
            break;
          case "f":
            out += "\f";
            break;
          case '"':
            out += '"';
            break;
          case "\\":
            out += "\\";
            break;
          case "u": {
            const hex = this.text.slice(this.pos, this.pos + 4);
            if (!/^[0-9a-fA-F]{4}$/.test(hex)) this.fail("bad \\u escape in string");
            out += String.fromCharCode(parseInt(hex, 16));
            this.pos += 4;
            break;
          }
          default:
            this.fail(`bad escape '\\${escape}' in string`, this.line, this.column - 1);
        }
        runStart = this.pos;
      } else {
        this.advance();
      }
    }
  }

  /** The end of the token starting at `start`. */
  private tokenEnd(start: number): number {
    const text = this.text;
    let pos = start;
    for (; pos < text.length; pos += 1) {
      const code = text.charCodeAt(pos);
      // Whitespace, comma, quote, semicolon and brackets end a token.
      if (code <= 32 || code === 44 || code === 34 || code === 59 || code === 40 || code === 41 || code === 91 || code === 93 || code === 123 || code === 125) break;
    }
    return pos;
  }

  private readToken(): string {
    const start = this.pos;
    this.pos = this.tokenEnd(start);
    return this.text.slice(start, this.pos);
  }

  private readChar(): EdnChar {
    const line = this.line;
    const column = this.column;
    this.advance();
    // The first character after the backslash is always taken, even a delimiter: `\(`.
    if (this.atEnd()) this.fail("expected a character after '\\'", line, column);
    const first = this.advance();
    const rest = this.readToken();
    const token = first + rest;
    if (token.length === 1) return new EdnChar(token);
    const named = NAMED_CHARS[token];
    if (named !== undefined) return new EdnChar(named);
    if (/^u[0-9a-fA-F]{4}$/.test(token)) return new EdnChar(String.fromCharCode(parseInt(token.slice(1), 16)));
    return this.fail(`unknown character literal '\\${token}'`, line, column);
  }

  private readDispatch(): Value {
    const line = this.line;
    const column = this.column;
    this.advance();
    const next = this.peek();
    if (next === "{") {
      this.advance();
      return new EdnSet(this.readSequence("}", null));
    }
    if (next === undefined || !/[A-Za-z]/.test(next)) this.fail(`unsupported dispatch '#${next ?? ""}'`, line, column);
    const tag = this.readToken();
    this.skipSpace();
    if (this.atEnd()) this.fail(`expected a form after tag #${tag}`, line, column);
    return new EdnTagged(tag, this.readForm());
  }

  private readKeyword(): Keyword {
    const line = this.line;
    const column = this.column;
    this.pos += 1;
    // Histories repeat a few keywords on every line: match them in place, without slicing.
    const start = this.pos;
    const end = this.tokenEnd(start);
    const candidates = this.recentKeywords.get(end - start);
    if (candidates !== undefined) {
      for (const candidate of candidates) {
        if (this.text.startsWith(candidate.name, start)) {
          this.pos = end;
          return candidate;
        }
      }
    }
    const name = this.readToken();
    if (name.length === 0 || (name.startsWith(":") && name.length === 1)) this.fail("empty keyword", line, column);
    const result = keyword(name);
    const sameLength = this.recentKeywords.get(name.length);
    if (sameLength === undefined) this.recentKeywords.set(name.length, [result]);
    else if (sameLength.length < RECENT_KEYWORDS_PER_LENGTH_MAX) sameLength.push(result);
    return result;
  }

  private readAtom(): Value {
    const line = this.line;
    const column = this.column;
    // Fast path: a plain integer, read from the character codes without slicing.
    const text = this.text;
    let pos = this.pos;
    const negative = text.charCodeAt(pos) === 45;
    if (negative) pos += 1;
    let digits = 0;
    let integer = 0;
    for (; pos < text.length && digits < 15; pos += 1, digits += 1) {
      const code = text.charCodeAt(pos);
      if (code < 48 || code > 57) break;
      integer = integer * 10 + (code - 48);
    }
    if (digits > 0 && this.tokenEnd(pos) === pos) {
      this.pos = pos;
      return negative ? -integer : integer;
    }
    const token = this.readToken();
    if (token.length === 0) this.fail(`unexpected '${this.peek() ?? "end of input"}'`, line, column);
    if (token === "nil") return null;
    if (token === "true") return true;
    if (token === "false") return false;
    const first = token[0];
    const startsNumber = (first >= "0" && first <= "9") || ((first === "-" || first === "+") && token.length > 1 && token[1] >= "0" && token[1] <= "9");
    if (startsNumber) {
      const number = parseNumber(token);
      if (number === undefined) this.fail(`bad number '${token}'`, line, column);
      return number;
    }
    return new EdnSymbol(token);
  }
}

function parseNumber(token: string): number | undefined {
  if (token.length < 16 && /^-?\d+$/.test(token)) return Number(token);
  if (/^[+-]?\d+N?$/.test(token)) return Number(token.endsWith("N") ? token.slice(0, -1) : token);
  if (/^[+-]?\d+(\.\d*)?([eE][+-]?\d+)?M?$/.test(token)) return Number(token.endsWith("M") ? token.slice(0, -1) : token);
  if (/^[+-]?\d+\/\d+$/.test(token)) {
    const [numerator, denominator] = token.split("/");
    const d = Number(denominator);
    return d === 0 ? undefined : Number(numerator) / d;
  }
  return undefined;
}

/** Reads every top-level form of an EDN document. Throws BadInputError with file, line and column. */
export function readEdnForms(text: string, file: string, firstLine = 1, firstColumn = 1): EdnForm[] {
  const reader = new Reader(text, file, firstLine, firstColumn);
  const forms: EdnForm[] = [];
  for (;;) {
    reader.skipSpace();
    if (reader.atEnd()) return forms;
    const line = reader.currentLine;
    const column = reader.column;
    const open = reader.peek();
    if (open === "[" || open === "(") {
      const places: Array<{ line: number; column: number }> = [];
      reader.advance();
      const items = reader.readSequence(open === "(" ? ")" : "]", places);
      forms.push({ value: items, line, column, elementPlaces: places });
    } else {
      forms.push({ value: reader.readForm(), line, column });
    }
  }
}

/** Reads exactly one EDN value (used for values embedded in other formats, e.g. Jepsen log lines). */
export function readEdnValue(text: string, file: string, line: number, column: number): Value {
  const forms = readEdnForms(text, file, line, column);
  if (forms.length !== 1) throw new BadInputError(file, line, column, forms.length === 0 ? "expected an EDN value" : `expected one EDN value, found ${forms.length}`);
  return forms[0].value;
}

/** EDN text of a value. */
export function writeEdn(value: Value): string {
  return showValue(value);
}
