// What a command must satisfy before it is proposed, and again when it is applied (a command
// that fails is rejected "invalid" on every replica alike): the shape and range of every field
// (schemas.ts), then what a schema cannot say: sortedness of labels and features, CIDR and
// address syntax, anti-affinity settings that mean something, no VM twice in one batch.
// Every message is one line that starts with the field's path.

import { checkShape } from "./canonical-json.ts";
import { validatePoolSpec } from "./ip-pool.ts";
import { envelopeSchema } from "./schemas.ts";
import type { ClusterCommand, CommandEnvelope, NodeRegistration, VmId, VmSpec } from "./types.ts";

function validateRegistration(node: NodeRegistration, path: string): string | undefined {
  for (let i = 1; i < node.labels.length; i++) {
    if (!(node.labels[i - 1]!.key < node.labels[i]!.key)) {
      return `${path}.labels[${i}]: keys must be sorted and unique, got ${JSON.stringify(node.labels[i]!.key)} after ${JSON.stringify(node.labels[i - 1]!.key)}`;
    }
  }
  for (let i = 1; i < node.features.length; i++) {
    if (!(node.features[i - 1]! < node.features[i]!)) {
      return `${path}.features[${i}]: must be sorted and unique, got ${JSON.stringify(node.features[i])} after ${JSON.stringify(node.features[i - 1])}`;
    }
  }
  return undefined;
}

function validateSpec(spec: VmSpec, path: string): string | undefined {
  const affinity = spec.antiAffinity;
  if (affinity.group !== "" && affinity.mode === "hard" && affinity.maxPerNode < 1) {
    return `${path}.antiAffinity.maxPerNode: must be 1..1000 for a hard group, got ${affinity.maxPerNode}`;
  }
  if (affinity.group !== "" && affinity.mode === "soft" && affinity.weight < 1) {
    return `${path}.antiAffinity.weight: must be 1..1000 for a soft group, got ${affinity.weight}`;
  }
  const forwards = new Set<string>();
  for (let i = 0; i < spec.interfaces.length; i++) {
    const ports = spec.interfaces[i]!.portForwards;
    for (let j = 0; j < ports.length; j++) {
      const key = `${ports[j]!.protocol}/${ports[j]!.hostPort}`;
      if (forwards.has(key)) return `${path}.interfaces[${i}].portForwards[${j}]: host port ${key} forwarded twice`;
      forwards.add(key);
    }
  }
  return undefined;
}

function validateUnique(ids: readonly VmId[], path: string, seen: Set<VmId>): string | undefined {
  for (let i = 0; i < ids.length; i++) {
    if (seen.has(ids[i]!)) return `${path}[${i}].vmId: vm ${ids[i]} appears twice in one placements-commit`;
    seen.add(ids[i]!);
  }
  return undefined;
}

function validateBody(body: ClusterCommand): string | undefined {
  switch (body.kind) {
    case "node-register":
      return validateRegistration(body.node, "body.node");
    case "vm-create":
    case "vm-update":
      return validateSpec(body.spec, "body.spec");
    case "ip-pool-create":
      return validatePoolSpec(body.pool, "body.pool");
    case "placements-commit": {
      const seen = new Set<VmId>();
      return (
        validateUnique(
          body.placements.map((p) => p.vmId),
          "body.placements",
          seen,
        ) ??
        validateUnique(
          body.evictions.map((e) => e.vmId),
          "body.evictions",
          seen,
        )
      );
    }
    default:
      return undefined;
  }
}

/**
 * Why the envelope is not a valid command (one line naming the field, e.g.
 * "body.spec.resources.vcpus: must be an integer 1..1024, got 0"), or undefined when it is.
 * Never throws, whatever it is given (it also checks the shape: types, missing and unknown fields).
 */
export function validateEnvelope(envelope: CommandEnvelope): string | undefined {
  return checkShape(envelope, envelopeSchema, "") ?? validateBody(envelope.body);
}
