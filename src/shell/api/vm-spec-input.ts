// A VM spec from a document a person wrote: the file of `blixard vm create -f vm.yaml` (YAML or
// JSON; docs/VM-API.md documents every field). Pure: text in, a VmSpec or ONE line out.
//
// Every field but name and resources has a default, so the smallest spec is three lines. What
// this refuses (unknown fields, zero memory, a name that is not an RFC 1123 label, a value of the
// wrong type) comes back as "spec.<path>: <why>", the path in the document's own words. The
// server validates again: the cluster state's command validation is the last word, and some
// rules (quotas, capacity, a tenant that does not exist) only it can check.
import YAML from "yaml";
import { z } from "zod";
import { CLUSTER_LIMITS as L, type VmSpec } from "../../core/cluster/types.ts";
import { DEFAULT_IMAGE } from "../vm/launch-plan.ts";

/** A spec document larger than this is refused before it is parsed. */
export const SPEC_DOCUMENT_BYTES_MAX = 256 * 1024;

/** RFC 1123 label: lowercase letters, digits and '-', 1..63, starting and ending with a letter or digit. */
export const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

export function isDnsLabel(text: string): boolean {
  return DNS_LABEL.test(text);
}

const dnsLabel = z.string().regex(DNS_LABEL, { message: "must be a DNS label (RFC 1123: 1-63 lowercase letters, digits or '-', starting and ending with a letter or digit)" });
const int = (min: number, max: number) => z.int().min(min).max(max);
const port = int(1, 65_535);
const text = (max: number) => z.string().max(max);

const portForward = z.strictObject({
  protocol: z.enum(["tcp", "udp"]).default("tcp"),
  hostPort: port,
  guestPort: port,
});

const networkInterface = z.strictObject({
  mode: z.enum(["user"]).default("user"),
  ipPool: text(L.nameBytesMax).default(""),
  portForwards: z.array(portForward).max(L.portForwardsMax).default([]),
});

const HEALTH_MS_MAX = 86_400_000;
const healthCheck = z.discriminatedUnion("kind", [
  z.strictObject({ kind: z.literal("none") }),
  z.strictObject({ kind: z.literal("process") }),
  z.strictObject({
    kind: z.literal("tcp"),
    port,
    intervalMs: int(1, HEALTH_MS_MAX).default(5_000),
    timeoutMs: int(1, HEALTH_MS_MAX).default(1_000),
    failuresMax: int(1, 1_000).default(3),
  }),
  z.strictObject({
    kind: z.literal("http"),
    port,
    path: z.string().min(1).max(L.pathBytesMax).default("/"),
    expectStatus: int(100, 599).default(200),
    intervalMs: int(1, HEALTH_MS_MAX).default(5_000),
    timeoutMs: int(1, HEALTH_MS_MAX).default(1_000),
    failuresMax: int(1, 1_000).default(3),
  }),
  z.strictObject({ kind: z.literal("console"), pattern: z.string().min(1).max(1_024), withinMs: int(1, HEALTH_MS_MAX).default(60_000) }),
]);

const locality = { mode: z.enum(["require", "prefer", "exclude"]).default("require"), value: z.string().min(1).max(L.nameBytesMax) };
const constraint = z.discriminatedUnion("kind", [
  z.strictObject({ kind: z.literal("label"), key: z.string().min(1).max(L.labelKeyBytesMax), value: text(L.labelValueBytesMax).default("") }),
  z.strictObject({ kind: z.literal("feature"), feature: z.string().min(1).max(L.nameBytesMax) }),
  z.strictObject({ kind: z.literal("datacenter"), ...locality }),
  z.strictObject({ kind: z.literal("zone"), ...locality }),
  z.strictObject({ kind: z.literal("spread"), domain: z.enum(["datacenter", "zone", "rack"]) }),
  z.strictObject({ kind: z.literal("pinned"), nodeId: int(1, Number.MAX_SAFE_INTEGER) }),
]);

const specDocument = z.strictObject({
  /** "" lets the server choose: the caller's own tenant for a tenant token, "default" otherwise. */
  tenant: text(L.nameBytesMax).default(""),
  name: dnsLabel,
  resources: z.strictObject({
    vcpus: int(1, L.vcpusMax),
    memoryMib: int(1, L.memoryMibMax),
    diskGib: int(0, L.diskGibMax).default(0),
  }),
  image: z
    .strictObject({
      kernel: z.string().min(1).max(L.pathBytesMax).default(DEFAULT_IMAGE),
      initrd: text(L.pathBytesMax).default(DEFAULT_IMAGE),
      rootDisk: text(L.pathBytesMax).default(""),
    })
    .default({ kernel: DEFAULT_IMAGE, initrd: DEFAULT_IMAGE, rootDisk: "" }),
  kernelCmdline: text(L.kernelCmdlineBytesMax).default(""),
  interfaces: z.array(networkInterface).max(L.interfacesMax).default([{ mode: "user", ipPool: "", portForwards: [] }]),
  priority: int(0, L.priorityMax).default(0),
  preemptible: z.boolean().default(false),
  restartPolicy: z.enum(["always", "on-failure", "never"]).default("always"),
  healthCheck: healthCheck.default({ kind: "none" }),
  antiAffinity: z
    .strictObject({
      group: text(L.nameBytesMax).default(""),
      mode: z.enum(["hard", "soft"]).default("hard"),
      weight: int(0, 1_000).default(100),
      maxPerNode: int(0, 1_000).default(1),
    })
    .default({ group: "", mode: "hard", weight: 100, maxPerNode: 1 }),
  constraints: z.array(constraint).max(L.constraintsMax).default([]),
});

/** The document's shape before defaults, for tools that write spec files. */
export type VmSpecDocument = z.input<typeof specDocument>;

export type SpecInputResult = { readonly ok: true; readonly spec: VmSpec } | { readonly ok: false; readonly error: string };

function pathText(path: readonly PropertyKey[]): string {
  let out = "spec";
  for (const part of path) out += typeof part === "number" ? `[${part}]` : `.${String(part)}`;
  return out;
}

/** One zod issue as "spec.<path>: <why>". */
function issueLine(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case "unrecognized_keys":
      return `${pathText([...issue.path, issue.keys[0]!])}: unknown field`;
    case "too_small":
      if (issue.origin === "string") return `${pathText(issue.path)}: must not be empty${Number(issue.minimum) > 1 ? ` (at least ${issue.minimum} characters)` : ""}`;
      if (issue.origin === "array") return `${pathText(issue.path)}: needs at least ${issue.minimum} entries`;
      return `${pathText(issue.path)}: must be at least ${issue.minimum}`;
    case "too_big":
      if (issue.origin === "string") return `${pathText(issue.path)}: at most ${issue.maximum} characters`;
      if (issue.origin === "array") return `${pathText(issue.path)}: at most ${issue.maximum} entries`;
      return `${pathText(issue.path)}: must be at most ${issue.maximum}`;
    case "invalid_type":
      return `${pathText(issue.path)}: ${issue.input === undefined ? "is required" : `must be ${issue.expected === "int" || issue.expected === "number" ? "an integer" : `a ${issue.expected}`}`}`;
    case "invalid_value":
      return `${pathText(issue.path)}: must be one of ${issue.values.map((v) => JSON.stringify(v)).join(", ")}`;
    case "invalid_union": {
      // A discriminated union with a bad or missing kind, or a DNS label that also failed "".
      const discriminator = (issue as { discriminator?: string }).discriminator;
      if (discriminator !== undefined) {
        const path = issue.path[issue.path.length - 1] === discriminator ? issue.path : [...issue.path, discriminator];
        return `${pathText(path)}: unknown or missing kind`;
      }
      const inner = issue.errors.flat().find((i) => i.code !== "invalid_value");
      return inner !== undefined ? issueLine({ ...inner, path: [...issue.path, ...inner.path] } as z.core.$ZodIssue) : `${pathText(issue.path)}: ${issue.message}`;
    }
    default:
      return `${pathText(issue.path)}: ${issue.message}`;
  }
}

/** A spec from an already parsed document (a YAML or JSON value). */
export function specFromDocument(document: unknown): SpecInputResult {
  if (document === null || typeof document !== "object" || Array.isArray(document)) return { ok: false, error: "spec: must be a mapping of fields (name, resources, ...)" };
  const parsed = specDocument.safeParse(document, { reportInput: true });
  if (!parsed.success) return { ok: false, error: issueLine(parsed.error.issues[0]!).split("\n")[0]! };
  return { ok: true, spec: parsed.data as VmSpec };
}

/** A spec from the text of a YAML or JSON file (JSON is YAML). */
export function specFromText(textInput: string): SpecInputResult {
  if (Buffer.byteLength(textInput, "utf8") > SPEC_DOCUMENT_BYTES_MAX) return { ok: false, error: `spec: the document is larger than ${SPEC_DOCUMENT_BYTES_MAX} bytes` };
  let document: unknown;
  try {
    document = YAML.parse(textInput, { uniqueKeys: true, maxAliasCount: 100 });
  } catch (error) {
    return { ok: false, error: `spec: not YAML or JSON: ${(error as Error).message.split("\n")[0]}` };
  }
  return specFromDocument(document);
}

/** The spec as the document a person would write (every field, so it reads back to the same spec). */
export function specToDocument(spec: VmSpec): Record<string, unknown> {
  return JSON.parse(JSON.stringify(spec)) as Record<string, unknown>;
}
