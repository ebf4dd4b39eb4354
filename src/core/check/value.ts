// Values carried by history operations. Jepsen's histories are EDN data, so a value is
// an EDN datum: nil, booleans, numbers, strings, keywords, symbols, vectors and lists
// (both as arrays), maps, sets, and tagged literals. JSON values are a subset.

/** An EDN keyword such as `:read`; `name` excludes the colon. Compared by name. */
export class Keyword {
  readonly name: string;
  constructor(name: string) {
    this.name = name;
  }
}

/** An EDN symbol such as `foo`; compared by name. */
export class EdnSymbol {
  readonly name: string;
  constructor(name: string) {
    this.name = name;
  }
}

/** An EDN character literal such as `\a`. */
export class EdnChar {
  readonly char: string;
  constructor(char: string) {
    this.char = char;
  }
}

/** An EDN map; entries keep their textual order (it is only used for lookup and printing). */
export class EdnMap {
  readonly entries: ReadonlyArray<readonly [Value, Value]>;
  constructor(entries: ReadonlyArray<readonly [Value, Value]>) {
    this.entries = entries;
  }
  /** The value stored under keyword `:name`, or undefined when absent. */
  getKeyword(name: string): Value | undefined {
    for (const [key, value] of this.entries) {
      if (key instanceof Keyword && key.name === name) return value;
    }
    return undefined;
  }
}

/** An EDN set `#{...}`; items in textual order. */
export class EdnSet {
  readonly items: readonly Value[];
  constructor(items: readonly Value[]) {
    this.items = items;
  }
}

/** A tagged literal such as `#inst "2020-01-01"`. */
export class EdnTagged {
  readonly tag: string;
  readonly value: Value;
  constructor(tag: string, value: Value) {
    this.tag = tag;
    this.value = value;
  }
}

export type Value = null | boolean | number | string | Keyword | EdnSymbol | EdnChar | EdnMap | EdnSet | EdnTagged | readonly Value[];

/** Keywords repeat on every event of a history: short ones are interned, one object per name. */
const internedKeywords = new Map<string, Keyword>();
const INTERNED_KEYWORD_LENGTH_MAX = 64;
const INTERNED_KEYWORDS_MAX = 100_000;

/** The keyword `:name` (interned when short, so identical keywords are usually the same object). */
export function keyword(name: string): Keyword {
  let interned = internedKeywords.get(name);
  if (interned === undefined) {
    interned = new Keyword(name);
    if (name.length <= INTERNED_KEYWORD_LENGTH_MAX && internedKeywords.size < INTERNED_KEYWORDS_MAX) internedKeywords.set(name, interned);
  }
  return interned;
}

export function isKeyword(value: Value | undefined, name?: string): value is Keyword {
  return value instanceof Keyword && (name === undefined || value.name === name);
}

/**
 * A canonical text for a value: two values are equal exactly when their keys are equal.
 * Vectors and lists are not distinguished (Jepsen does not distinguish them either).
 * Map and set items are sorted so that textual order does not matter.
 */
export function valueKey(value: Value): string {
  if (value === null) return "nil";
  switch (typeof value) {
    case "boolean":
      return value ? "true" : "false";
    case "number":
      return Number.isInteger(value) ? String(value) : `${value}d`;
    case "string":
      return JSON.stringify(value);
    default:
      break;
  }
  if (value instanceof Keyword) return `:${value.name}`;
  if (value instanceof EdnSymbol) return `'${value.name}`;
  if (value instanceof EdnChar) return `\\${JSON.stringify(value.char)}`;
  if (value instanceof EdnMap) {
    const parts = value.entries.map(([k, v]) => `${valueKey(k)} ${valueKey(v)}`).sort();
    return `{${parts.join(", ")}}`;
  }
  if (value instanceof EdnSet) return `#{${value.items.map(valueKey).sort().join(" ")}}`;
  if (value instanceof EdnTagged) return `#${value.tag} ${valueKey(value.value)}`;
  return `[${value.map(valueKey).join(" ")}]`;
}

/** Human-readable EDN text of a value (used in errors, reports and the EDN writer). */
export function showValue(value: Value): string {
  if (value === null) return "nil";
  switch (typeof value) {
    case "boolean":
      return value ? "true" : "false";
    case "number":
      return String(value);
    case "string":
      return JSON.stringify(value);
    default:
      break;
  }
  if (value instanceof Keyword) return `:${value.name}`;
  if (value instanceof EdnSymbol) return value.name;
  if (value instanceof EdnChar) return showChar(value.char);
  if (value instanceof EdnMap) return `{${value.entries.map(([k, v]) => `${showValue(k)} ${showValue(v)}`).join(", ")}}`;
  if (value instanceof EdnSet) return `#{${value.items.map(showValue).join(" ")}}`;
  if (value instanceof EdnTagged) return `#${value.tag} ${showValue(value.value)}`;
  return `[${value.map(showValue).join(" ")}]`;
}

function showChar(char: string): string {
  switch (char) {
    case "\n":
      return "\\newline";
    case " ":
      return "\\space";
    case "\t":
      return "\\tab";
    case "\r":
      return "\\return";
    default:
      return `\\${char}`;
  }
}

/** The value as a plain JSON-compatible datum (keywords become ":name" strings). */
export function toJsonValue(value: Value): unknown {
  if (value === null || typeof value !== "object") return value;
  if (value instanceof Keyword) return `:${value.name}`;
  if (value instanceof EdnSymbol) return value.name;
  if (value instanceof EdnChar) return value.char;
  if (value instanceof EdnMap) return value.entries.map(([k, v]) => [toJsonValue(k), toJsonValue(v)]);
  if (value instanceof EdnSet) return value.items.map(toJsonValue);
  if (value instanceof EdnTagged) return toJsonValue(value.value);
  return value.map(toJsonValue);
}
