// Canonical JSON by schema: one description of a type's shape says in which order its fields
// are written (so the same value always gives the same bytes, whatever order its object keys
// were created in), which ranges its numbers and texts keep, and how untrusted parsed JSON is
// checked field by field. The command codec, the snapshot and the validator all walk the same
// schemas (schemas.ts), so the wire, the snapshot and the proposer's check cannot disagree.
//
// Numbers are non-negative safe integers only (types.ts, "Numbers"), so their JSON text is
// exact on every engine. Texts are checked for well-formed UTF-16 (no lone surrogates, which
// JSON's \uD800 escape can smuggle in) and measured in UTF-8 bytes.

import { assert } from "../assert.ts";

export type TextRule = "any" | "name" | "name-or-empty";

export type Schema =
  | { readonly t: "int"; readonly min: number; readonly max: number }
  | { readonly t: "text"; readonly minBytes: number; readonly maxBytes: number; readonly rule: TextRule }
  | { readonly t: "bool" }
  | { readonly t: "enum"; readonly values: readonly string[] }
  | { readonly t: "array"; readonly of: Schema; readonly max: number }
  | { readonly t: "object"; readonly fields: readonly Field[] }
  /** A discriminated union: the tag field comes first, then the variant's own fields. */
  | { readonly t: "union"; readonly tag: string; readonly variants: Readonly<Record<string, readonly Field[]>> };

export interface Field {
  readonly name: string;
  readonly schema: Schema;
  /** May be absent (written only when present). */
  readonly optional?: boolean;
}

/** Nesting bound for the checker and the writer: the deepest schema (a snapshot's requestId results) is far below it. */
const DEPTH_MAX = 16;

// Schema builders, so schemas.ts reads like the types it mirrors.
export const int = (min: number, max: number): Schema => ({ t: "int", min, max });
export const text = (minBytes: number, maxBytes: number, rule: TextRule = "any"): Schema => ({ t: "text", minBytes, maxBytes, rule });
export const bool: Schema = { t: "bool" };
export const oneOf = (...values: string[]): Schema => ({ t: "enum", values });
export const arrayOf = (of: Schema, max: number): Schema => ({ t: "array", of, max });
export const object = (...fields: Field[]): Schema => ({ t: "object", fields });
export const field = (name: string, schema: Schema): Field => ({ name, schema });
export const optionalField = (name: string, schema: Schema): Field => ({ name, schema, optional: true });
export const union = (tag: string, variants: Record<string, Field[]>): Schema => ({ t: "union", tag, variants });

/** Names: a letter or digit, then letters, digits, '.', '_' or '-' (DNS-like, safe in paths and logs). */
function isName(value: string): boolean {
  if (value.length === 0) return false;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    const alnum = (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
    if (alnum) continue;
    if (i > 0 && (c === 45 || c === 46 || c === 95)) continue;
    return false;
  }
  return true;
}

/** UTF-8 length of a well-formed string, or -1 when it holds a lone surrogate. */
export function utf8Bytes(value: string): number {
  let bytes = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff) {
      const next = i + 1 < value.length ? value.charCodeAt(i + 1) : 0;
      if (next < 0xdc00 || next > 0xdfff) return -1;
      bytes += 4;
      i++;
    } else if (c >= 0xdc00 && c <= 0xdfff) return -1;
    else bytes += 3;
  }
  return bytes;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function describe(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value);
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return typeof value === "object" ? "an object" : typeof value;
}

// Schemas are compiled once into closures (a checker and a writer per schema node), so a
// 4,096-entry batch costs a few function calls per field, and a path string is built only on
// the way back from an error.

interface Problem {
  path: string;
  readonly message: string;
}

type Checker = (value: unknown, depth: number) => Problem | undefined;
type Writer = (value: unknown, depth: number) => string;

function within(problem: Problem, step: string): Problem {
  problem.path = problem.path === "" ? step : problem.path.startsWith("[") ? `${step}${problem.path}` : `${step}.${problem.path}`;
  return problem;
}

const checkers = new WeakMap<Schema, Checker>();
const writers = new WeakMap<Schema, Writer>();

function checker(schema: Schema): Checker {
  let compiled = checkers.get(schema);
  if (compiled === undefined) {
    compiled = compileChecker(schema);
    checkers.set(schema, compiled);
  }
  return compiled;
}

function writer(schema: Schema): Writer {
  let compiled = writers.get(schema);
  if (compiled === undefined) {
    compiled = compileWriter(schema);
    writers.set(schema, compiled);
  }
  return compiled;
}

function problem(message: string): Problem {
  return { path: "", message };
}

function compileFields(fields: readonly Field[], tag: string | undefined): (value: Record<string, unknown>, depth: number) => Problem | undefined {
  const names = fields.map((f) => f.name);
  const known = new Set(names);
  if (tag !== undefined) known.add(tag);
  const children = fields.map((f) => checker(f.schema));
  return (value, depth) => {
    let present = tag === undefined ? 0 : 1;
    for (let i = 0; i < fields.length; i++) {
      const f = fields[i]!;
      const v = value[f.name];
      if (v === undefined || !Object.hasOwn(value, f.name)) {
        if (f.optional === true) continue;
        return within(problem("missing"), f.name);
      }
      present++;
      const found = children[i]!(v, depth + 1);
      if (found !== undefined) return within(found, f.name);
    }
    let keyCount = 0;
    for (const _key in value) keyCount++;
    if (keyCount !== present) {
      const unknown = Object.keys(value).find((k) => !known.has(k));
      return problem(`unknown field ${JSON.stringify(unknown ?? "?")}`);
    }
    return undefined;
  };
}

function compileChecker(schema: Schema): Checker {
  switch (schema.t) {
    case "int": {
      const { min, max } = schema;
      return (value) =>
        typeof value === "number" && Number.isSafeInteger(value) && value >= min && value <= max ? undefined : problem(`must be an integer ${min}..${max}, got ${describe(value)}`);
    }
    case "text": {
      const { minBytes, maxBytes, rule } = schema;
      return (value) => {
        if (typeof value !== "string") return problem(`must be text, got ${describe(value)}`);
        const bytes = utf8Bytes(value);
        if (bytes < 0) return problem("not well-formed Unicode (a lone surrogate)");
        if (bytes < minBytes || bytes > maxBytes) return problem(`must be ${minBytes}..${maxBytes} UTF-8 bytes, got ${bytes}`);
        if ((rule === "name" || (rule === "name-or-empty" && value !== "")) && !isName(value)) {
          return problem(`must be a name (letters, digits, '.', '_', '-', starting with a letter or digit), got ${describe(value)}`);
        }
        return undefined;
      };
    }
    case "bool":
      return (value) => (typeof value === "boolean" ? undefined : problem(`must be true or false, got ${describe(value)}`));
    case "enum": {
      const values = new Set(schema.values);
      const list = schema.values.join(", ");
      return (value) => (typeof value === "string" && values.has(value) ? undefined : problem(`must be one of ${list}, got ${describe(value)}`));
    }
    case "array": {
      const max = schema.max;
      const element = checker(schema.of);
      return (value, depth) => {
        if (depth > DEPTH_MAX) return problem("nested too deeply");
        if (!Array.isArray(value)) return problem(`must be an array, got ${describe(value)}`);
        if (value.length > max) return problem(`at most ${max} entries, got ${value.length}`);
        for (let i = 0; i < value.length; i++) {
          const found = element(value[i], depth + 1);
          if (found !== undefined) return within(found, `[${i}]`);
        }
        return undefined;
      };
    }
    case "object": {
      const fields = compileFields(schema.fields, undefined);
      return (value, depth) => {
        if (depth > DEPTH_MAX) return problem("nested too deeply");
        return isPlainObject(value) ? fields(value, depth) : problem(`must be an object, got ${describe(value)}`);
      };
    }
    case "union": {
      const tagName = schema.tag;
      const variants = new Map(Object.entries(schema.variants).map(([tag, fields]) => [tag, compileFields(fields, tagName)] as const));
      const list = Object.keys(schema.variants).join(", ");
      return (value, depth) => {
        if (depth > DEPTH_MAX) return problem("nested too deeply");
        if (!isPlainObject(value)) return problem(`must be an object, got ${describe(value)}`);
        const tag = value[tagName];
        const fields = typeof tag === "string" && Object.hasOwn(schema.variants, tag) ? variants.get(tag) : undefined;
        if (fields === undefined) return within(problem(`must be one of ${list}, got ${describe(tag)}`), tagName);
        return fields(value, depth);
      };
    }
  }
}

/**
 * Why `value` does not have the shape and ranges of `schema` (one line naming the field, under
 * `path`), or undefined when it does. Never throws, whatever `value` is.
 */
export function checkShape(value: unknown, schema: Schema, path: string): string | undefined {
  const found = checker(schema)(value, 0);
  if (found === undefined) return undefined;
  const full = path === "" ? found.path : found.path === "" ? path : found.path.startsWith("[") ? `${path}${found.path}` : `${path}.${found.path}`;
  return `${full === "" ? "(top)" : full}: ${found.message}`;
}

function compileWriterFields(fields: readonly Field[], opening: string): (value: Record<string, unknown>, depth: number) => string {
  const prefixes = fields.map((f, i) => `${i === 0 && opening === "{" ? "" : ","}${JSON.stringify(f.name)}:`);
  const anyOptional = fields.some((f) => f.optional === true);
  const children = fields.map((f) => writer(f.schema));
  return (value, depth) => {
    let out = opening;
    let first = opening === "{";
    for (let i = 0; i < fields.length; i++) {
      const f = fields[i]!;
      const v = value[f.name];
      if (v === undefined) {
        assert(f.optional === true, () => `canonical json: missing field ${f.name}`);
        continue;
      }
      const prefix = anyOptional ? `${first ? "" : ","}${JSON.stringify(f.name)}:` : prefixes[i]!;
      first = false;
      out += prefix + children[i]!(v, depth + 1);
    }
    return `${out}}`;
  };
}

function compileWriter(schema: Schema): Writer {
  switch (schema.t) {
    case "int":
      return (value) => {
        assert(typeof value === "number" && Number.isSafeInteger(value), () => `canonical json: ${describe(value)} is not a safe integer`);
        return `${value}`;
      };
    case "text":
    case "enum":
      return (value) => {
        assert(typeof value === "string", () => `canonical json: ${describe(value)} is not text`);
        return JSON.stringify(value);
      };
    case "bool":
      return (value) => {
        assert(typeof value === "boolean", "canonical json: not a boolean");
        return value ? "true" : "false";
      };
    case "array": {
      const element = writer(schema.of);
      return (value, depth) => {
        assert(Array.isArray(value) && depth <= DEPTH_MAX, "canonical json: not an array, or nested too deeply");
        let out = "[";
        for (let i = 0; i < value.length; i++) out += (i > 0 ? "," : "") + element(value[i], depth + 1);
        return `${out}]`;
      };
    }
    case "object": {
      const fields = compileWriterFields(schema.fields, "{");
      return (value, depth) => {
        assert(isPlainObject(value) && depth <= DEPTH_MAX, "canonical json: not an object, or nested too deeply");
        return fields(value, depth);
      };
    }
    case "union": {
      const tagName = schema.tag;
      const variants = new Map(
        Object.entries(schema.variants).map(([tag, fields]) => [tag, compileWriterFields(fields, `{${JSON.stringify(tagName)}:${JSON.stringify(tag)}`)] as const),
      );
      return (value, depth) => {
        assert(isPlainObject(value) && depth <= DEPTH_MAX, "canonical json: not an object, or nested too deeply");
        const tag = value[tagName];
        const fields = typeof tag === "string" && Object.hasOwn(schema.variants, tag) ? variants.get(tag) : undefined;
        assert(fields !== undefined, () => `canonical json: unknown ${tagName} ${describe(tag)}`);
        return fields(value, depth);
      };
    }
  }
}

/**
 * The canonical JSON text of `value` (which must already have the schema's shape): fields in
 * schema order, optional fields only when present, no whitespace.
 */
export function writeCanonical(value: unknown, schema: Schema): string {
  return writer(schema)(value, 0);
}

/** A deep copy of `value` holding exactly the schema's fields, in schema order (the state stores only such copies). */
export function copyCanonical<T>(value: T, schema: Schema): T {
  return JSON.parse(writeCanonical(value, schema)) as T;
}
