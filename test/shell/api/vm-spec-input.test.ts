// The spec file of `blixard vm create -f`: every bad document answers ONE line naming the field
// (the table), the smallest document gets the documented defaults, and any valid spec survives
// YAML, JSON and the protobuf message unchanged (fast-check).
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import YAML from "yaml";
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { specFromText, specToDocument } from "../../../src/shell/api/vm-spec-input.ts";
import { specFromProto, specToProto } from "../../../src/shell/api/vm-proto.ts";
import { VmSpecSchema } from "../../../src/shell/api/gen/blixard/v1/vm_pb.ts";
import { specArb } from "../../core/cluster/arbitraries.ts";
import type { VmSpec } from "../../../src/core/cluster/types.ts";

const base = "name: web\nresources: {vcpus: 1, memoryMib: 256}\n";

const BAD: ReadonlyArray<readonly [string, string]> = [
  ["name: web\nresources: {vcpus: 1, memoryMib: 0}", "spec.resources.memoryMib: must be at least 1"],
  ["name: web\nresources: {vcpus: 0, memoryMib: 1}", "spec.resources.vcpus: must be at least 1"],
  ["name: web\nresources: {vcpus: 2000, memoryMib: 1}", "spec.resources.vcpus: must be at most 1024"],
  ["name: web\nresources: {vcpus: 1.5, memoryMib: 1}", "spec.resources.vcpus: must be an integer"],
  ['name: web\nresources: {vcpus: "1", memoryMib: 1}', "spec.resources.vcpus: must be an integer"],
  ["name: web", "spec.resources: is required"],
  ["resources: {vcpus: 1, memoryMib: 1}", "spec.name: is required"],
  [`${base}colour: blue`, "spec.colour: unknown field"],
  ["name: web\nresources: {vcpus: 1, memoryMib: 1, cores: 2}", "spec.resources.cores: unknown field"],
  ["name: Web_1\nresources: {vcpus: 1, memoryMib: 1}", "spec.name: must be a DNS label (RFC 1123: 1-63 lowercase letters, digits or '-', starting and ending with a letter or digit)"],
  ["name: -web\nresources: {vcpus: 1, memoryMib: 1}", "spec.name: must be a DNS label (RFC 1123: 1-63 lowercase letters, digits or '-', starting and ending with a letter or digit)"],
  [`name: ${"a".repeat(64)}\nresources: {vcpus: 1, memoryMib: 1}`, "spec.name: must be a DNS label (RFC 1123: 1-63 lowercase letters, digits or '-', starting and ending with a letter or digit)"],
  [`${base}restartPolicy: sometimes`, 'spec.restartPolicy: must be one of "always", "on-failure", "never"'],
  [`${base}healthCheck: {kind: ping}`, "spec.healthCheck.kind: unknown or missing kind"],
  [`${base}healthCheck: {kind: tcp}`, "spec.healthCheck.port: is required"],
  [`${base}interfaces: [{portForwards: [{hostPort: 0, guestPort: 80}]}]`, "spec.interfaces[0].portForwards[0].hostPort: must be at least 1"],
  [`${base}interfaces: [{mode: tap}]`, 'spec.interfaces[0].mode: must be one of "user"'],
  [`${base}constraints: [{kind: label}]`, "spec.constraints[0].key: is required"],
  [`${base}priority: 1001`, "spec.priority: must be at most 1000"],
  [`${base}image: {kernel: ""}`, "spec.image.kernel: must not be empty"],
  ["[1, 2]", "spec: must be a mapping of fields (name, resources, ...)"],
  ["name: [unclosed", "spec: not YAML or JSON: Flow sequence in block collection must be sufficiently indented and end with a ]"],
  ["name: a\nname: b\nresources: {vcpus: 1, memoryMib: 1}", "spec: not YAML or JSON: Map keys must be unique"],
];

describe("vm spec input", () => {
  for (const [document, error] of BAD) {
    test(`refuses ${JSON.stringify(document.slice(0, 60))} naming the field`, () => {
      const parsed = specFromText(document);
      assert.equal(parsed.ok, false);
      if (!parsed.ok) {
        assert.equal(parsed.error.split(" at line")[0], error);
        assert.ok(!parsed.error.includes("\n"), "one line");
      }
    });
  }

  test("the smallest spec gets the documented defaults", () => {
    const parsed = specFromText(base);
    assert.ok(parsed.ok);
    assert.deepEqual(parsed.spec, {
      tenant: "",
      name: "web",
      resources: { vcpus: 1, memoryMib: 256, diskGib: 0 },
      image: { kernel: "default", initrd: "default", rootDisk: "" },
      kernelCmdline: "",
      interfaces: [{ mode: "user", ipPool: "", portForwards: [] }],
      priority: 0,
      preemptible: false,
      restartPolicy: "always",
      healthCheck: { kind: "none" },
      antiAffinity: { group: "", mode: "hard", weight: 100, maxPerNode: 1 },
      constraints: [],
    } satisfies VmSpec);
  });

  test("JSON is accepted as it is", () => {
    const parsed = specFromText(JSON.stringify({ name: "api", resources: { vcpus: 2, memoryMib: 512 }, healthCheck: { kind: "http", port: 8080 } }));
    assert.ok(parsed.ok);
    assert.deepEqual(parsed.spec.healthCheck, { kind: "http", port: 8080, path: "/", expectStatus: 200, intervalMs: 5_000, timeoutMs: 1_000, failuresMax: 3 });
  });

  test("property: a valid spec round-trips through YAML, JSON and the protobuf message", () => {
    const dnsName = fc.stringMatching(/^[a-z0-9]([-a-z0-9]{0,20}[a-z0-9])?$/);
    const forwards = fc.array(fc.record({ protocol: fc.constantFrom("tcp" as const, "udp" as const), hostPort: fc.integer({ min: 1, max: 65_535 }), guestPort: fc.integer({ min: 1, max: 65_535 }) }, { noNullPrototype: true }), { maxLength: 3 });
    fc.assert(
      fc.property(specArb, dnsName, forwards, (generated, name, portForwards) => {
        const spec: VmSpec = { ...generated, name, interfaces: generated.interfaces.map((nic) => ({ ...nic, portForwards })) };
        for (const text of [YAML.stringify(specToDocument(spec)), JSON.stringify(specToDocument(spec))]) {
          const parsed = specFromText(text);
          assert.ok(parsed.ok, parsed.ok ? "" : `${parsed.error}\n${text}`);
          assert.deepEqual(parsed.spec, spec);
        }
        const wire = fromBinary(VmSpecSchema, toBinary(VmSpecSchema, specToProto(spec)));
        assert.deepEqual(specFromProto(wire), spec);
      }),
      { numRuns: 200 },
    );
  });
});
