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

function join(path: string, name: string): string {
  return path === "" ? name : `${path}.${name}`;
}

function describe(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value);
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return typeof value === "object" ? "an object" : typeof value;
}

function checkFields(value: Record<string, unknown>, fields: readonly Field[], path: string, tag: string | undefined, depth: number): string | undefined {
  let present = tag === undefined ? 0 : 1;
  for (const f of fields) {
    if (!Object.hasOwn(value, f.name) || value[f.name] === undefined) {
      if (f.optional === true) continue;
      return `${join(path, f.name)}: missing`;
    }
    present++;
    const error = checkShape(value[f.name], f.schema, join(path, f.name), depth + 1);
    if (error !== undefined) return error;
  }
  const keys = Object.keys(value);
  if (keys.length !== present) {
    const known = new Set(fields.map((f) => f.name));
    const unknown = keys.find((k) => !known.has(k) && k !== tag);
    return `${path === "" ? "(top)" : path}: unknown field ${JSON.stringify(unknown ?? "?")}`;
  }
  return undefined;
}

/**
 * Why `value` does not have the shape and ranges of `schema` (one line naming the field), or
 * undefined when it does. Never throws, whatever `value` is.
 */
export function checkShape(value: unknown, schema: Schema, path: string, depth = 0): string | undefined {
  if (depth > DEPTH_MAX) return `${path}: nested too deeply`;
  const where = path === "" ? "(top)" : path;
  switch (schema.t) {
    case "int":
      if (typeof value !== "number" || !Number.isSafeInteger(value) || value < schema.min || value > schema.max) {
        return `${where}: must be an integer ${schema.min}..${schema.max}, got ${describe(value)}`;
      }
      return undefined;
    case "text": {
      if (typeof value !== "string") return `${where}: must be text, got ${describe(value)}`;
      const bytes = utf8Bytes(value);
      if (bytes < 0) return `${where}: not well-formed Unicode (a lone surrogate)`;
      if (bytes < schema.minBytes || bytes > schema.maxBytes) {
        return `${where}: must be ${schema.minBytes}..${schema.maxBytes} UTF-8 bytes, got ${bytes}`;
      }
      if (schema.rule === "name" || (schema.rule === "name-or-empty" && value !== "")) {
        if (!isName(value)) return `${where}: must be a name (letters, digits, '.', '_', '-', starting with a letter or digit), got ${describe(value)}`;
      }
      return undefined;
    }
    case "bool":
      return typeof value === "boolean" ? undefined : `${where}: must be true or false, got ${describe(value)}`;
    case "enum":
      return typeof value === "string" && schema.values.includes(value) ? undefined : `${where}: must be one of ${schema.values.join(", ")}, got ${describe(value)}`;
    case "array": {
      if (!Array.isArray(value)) return `${where}: must be an array, got ${describe(value)}`;
      if (value.length > schema.max) return `${where}: at most ${schema.max} entries, got ${value.length}`;
      for (let i = 0; i < value.length; i++) {
        const error = checkShape(value[i], schema.of, `${path}[${i}]`, depth + 1);
        if (error !== undefined) return error;
      }
      return undefined;
    }
    case "object":
      if (!isPlainObject(value)) return `${where}: must be an object, got ${describe(value)}`;
      return checkFields(value, schema.fields, path, undefined, depth);
    case "union": {
      if (!isPlainObject(value)) return `${where}: must be an object, got ${describe(value)}`;
      const tag = value[schema.tag];
      if (typeof tag !== "string" || !Object.hasOwn(schema.variants, tag)) {
        return `${join(path, schema.tag)}: must be one of ${Object.keys(schema.variants).join(", ")}, got ${describe(tag)}`;
      }
      return checkFields(value, schema.variants[tag]!, path, schema.tag, depth);
    }
  }
}

/**
 * The canonical JSON text of `value` (which must already have the schema's shape): fields in
 * schema order, optional fields only when present, no whitespace.
 */
export function writeCanonical(value: unknown, schema: Schema, depth = 0): string {
  assert(depth <= DEPTH_MAX, "canonical json: nested too deeply");
  switch (schema.t) {
    case "int":
      assert(typeof value === "number" && Number.isSafeInteger(value), () => `canonical json: ${describe(value)} is not a safe integer`);
      return String(value);
    case "text":
    case "enum":
      assert(typeof value === "string", () => `canonical json: ${describe(value)} is not text`);
      return JSON.stringify(value);
    case "bool":
      assert(typeof value === "boolean", "canonical json: not a boolean");
      return value ? "true" : "false";
    case "array": {
      assert(Array.isArray(value), "canonical json: not an array");
      let out = "[";
      for (let i = 0; i < value.length; i++) {
        if (i > 0) out += ",";
        out += writeCanonical(value[i], schema.of, depth + 1);
      }
      return `${out}]`;
    }
    case "object":
      assert(isPlainObject(value), "canonical json: not an object");
      return `{${writeFields(value, schema.fields, depth)}}`;
    case "union": {
      assert(isPlainObject(value), "canonical json: not an object");
      const tag = value[schema.tag];
      assert(typeof tag === "string" && Object.hasOwn(schema.variants, tag), () => `canonical json: unknown ${schema.tag} ${describe(tag)}`);
      const rest = writeFields(value, schema.variants[tag]!, depth);
      return `{${JSON.stringify(schema.tag)}:${JSON.stringify(tag)}${rest === "" ? "" : `,${rest}`}}`;
    }
  }
}

function writeFields(value: Record<string, unknown>, fields: readonly Field[], depth: number): string {
  let out = "";
  for (const f of fields) {
    const v = value[f.name];
    if (v === undefined) {
      assert(f.optional === true, () => `canonical json: missing field ${f.name}`);
      continue;
    }
    if (out !== "") out += ",";
    out += `${JSON.stringify(f.name)}:${writeCanonical(v, f.schema, depth + 1)}`;
  }
  return out;
}

/** A deep copy of `value` holding exactly the schema's fields, in schema order (the state stores only such copies). */
export function copyCanonical<T>(value: T, schema: Schema): T {
  return JSON.parse(writeCanonical(value, schema)) as T;
}
