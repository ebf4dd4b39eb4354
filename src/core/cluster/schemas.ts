// The shapes of types.ts as schemas (canonical-json.ts): field order for canonical bytes, and
// the range of every number and text. Commands carry the strict ranges a proposer must respect;
// records (in snapshots and results) carry the looser ranges the state itself can reach.

import { CLUSTER_LIMITS as L } from "./types.ts";
import { arrayOf, bool, field, int, object, oneOf, optionalField, text, union, type Field, type Schema } from "./canonical-json.ts";

const SAFE_MAX = Number.MAX_SAFE_INTEGER;

/** Free text that only people read (a report's detail, a failure's reason). */
export const DETAIL_BYTES_MAX = 1_024;
/** Reserved addresses listed by one IP pool. */
export const RESERVED_ADDRESSES_MAX = 1_024;
/** A health check's interval, timeout and window: at most a day. */
export const HEALTH_MS_MAX = 86_400_000;
/** Overcommit ratios: at most 10x (10,000 per mille). */
export const OVERCOMMIT_PERMILLE_MAX = 10_000;

const count = int(0, SAFE_MAX);
const nodeId = int(1, SAFE_MAX);
const vmId = int(1, SAFE_MAX);
const name = text(1, L.nameBytesMax, "name");
const nameOrEmpty = text(0, L.nameBytesMax, "name-or-empty");
const detail = text(0, DETAIL_BYTES_MAX);
const port = int(1, 65_535);

const vmResources = object(field("vcpus", int(1, L.vcpusMax)), field("memoryMib", int(1, L.memoryMibMax)), field("diskGib", int(0, L.diskGibMax)));
const nodeResources = object(field("vcpus", int(0, L.vcpusMax)), field("memoryMib", int(0, L.memoryMibMax)), field("diskGib", int(0, L.diskGibMax)));
const label = object(field("key", text(1, L.labelKeyBytesMax)), field("value", text(0, L.labelValueBytesMax)));
const feature = text(1, L.nameBytesMax);

const registrationFields: Field[] = [
  field("id", nodeId),
  field("address", text(0, L.labelValueBytesMax)),
  field("capacity", nodeResources),
  field(
    "overcommit",
    object(
      field("cpuPermille", int(1, OVERCOMMIT_PERMILLE_MAX)),
      field("memoryPermille", int(1, OVERCOMMIT_PERMILLE_MAX)),
      field("diskPermille", int(1, OVERCOMMIT_PERMILLE_MAX)),
      field("reserve", nodeResources),
    ),
  ),
  field("labels", arrayOf(label, L.labelsMax)),
  field("features", arrayOf(feature, L.featuresMax)),
  field("topology", object(field("datacenter", nameOrEmpty), field("zone", nameOrEmpty), field("rack", nameOrEmpty))),
];
export const nodeRegistrationSchema = object(...registrationFields);

const healthCheck = union("kind", {
  none: [],
  process: [],
  tcp: [field("port", port), field("intervalMs", int(1, HEALTH_MS_MAX)), field("timeoutMs", int(1, HEALTH_MS_MAX)), field("failuresMax", int(1, 1_000))],
  http: [
    field("port", port),
    field("path", text(1, L.pathBytesMax)),
    field("expectStatus", int(100, 599)),
    field("intervalMs", int(1, HEALTH_MS_MAX)),
    field("timeoutMs", int(1, HEALTH_MS_MAX)),
    field("failuresMax", int(1, 1_000)),
  ],
  console: [field("pattern", text(1, DETAIL_BYTES_MAX)), field("withinMs", int(1, HEALTH_MS_MAX))],
});

const locality = [field("mode", oneOf("require", "prefer", "exclude")), field("value", name)];
const constraint = union("kind", {
  label: [field("key", text(1, L.labelKeyBytesMax)), field("value", text(0, L.labelValueBytesMax))],
  feature: [field("feature", feature)],
  datacenter: locality,
  zone: locality,
  spread: [field("domain", oneOf("datacenter", "zone", "rack"))],
  pinned: [field("nodeId", nodeId)],
});

export const vmSpecSchema = object(
  field("tenant", name),
  field("name", name),
  field("resources", vmResources),
  field("image", object(field("kernel", text(1, L.pathBytesMax)), field("initrd", text(0, L.pathBytesMax)), field("rootDisk", text(0, L.pathBytesMax)))),
  field("kernelCmdline", text(0, L.kernelCmdlineBytesMax)),
  field(
    "interfaces",
    arrayOf(
      object(
        field("mode", oneOf("user")),
        field("ipPool", nameOrEmpty),
        field("portForwards", arrayOf(object(field("protocol", oneOf("tcp", "udp")), field("hostPort", port), field("guestPort", port)), L.portForwardsMax)),
      ),
      L.interfacesMax,
    ),
  ),
  field("priority", int(0, L.priorityMax)),
  field("preemptible", bool),
  field("restartPolicy", oneOf("always", "on-failure", "never")),
  field("healthCheck", healthCheck),
  field("antiAffinity", object(field("group", nameOrEmpty), field("mode", oneOf("hard", "soft")), field("weight", int(0, 1_000)), field("maxPerNode", int(0, 1_000)))),
  field("constraints", arrayOf(constraint, L.constraintsMax)),
);

const desired = oneOf("running", "stopped");
const observedPhase = oneOf("unknown", "starting", "running", "stopped", "exited", "crashed", "unhealthy");
const quota = object(field("vmsMax", count), field("vcpusMax", count), field("memoryMibMax", count), field("diskGibMax", count), field("vmsPerNodeMax", count));
export const ipPoolSpecSchema = object(
  field("name", name),
  field("cidr", text(9, 18)),
  field("gateway", text(7, 15)),
  field("reserved", arrayOf(text(7, 15), RESERVED_ADDRESSES_MAX)),
);
const expectedGeneration = count; // 0: no check (see docs/ORCHESTRATOR.md)

export const commandSchema = union("kind", {
  "node-register": [field("node", nodeRegistrationSchema)],
  "node-heartbeat": [field("nodeId", nodeId), field("epoch", int(1, SAFE_MAX))],
  "node-set-state": [field("nodeId", nodeId), field("state", oneOf("ready", "cordoned", "draining"))],
  "node-declare-down": [field("nodeId", nodeId), field("epoch", int(1, SAFE_MAX)), field("renewedIndex", count)],
  "node-remove": [field("nodeId", nodeId)],
  "vm-create": [field("spec", vmSpecSchema), field("desired", desired)],
  "vm-update": [field("vmId", vmId), field("expectedGeneration", expectedGeneration), field("spec", vmSpecSchema)],
  "vm-set-desired": [field("vmId", vmId), field("expectedGeneration", expectedGeneration), field("desired", desired)],
  "vm-delete": [field("vmId", vmId), field("expectedGeneration", expectedGeneration)],
  "vm-migrate": [field("vmId", vmId), field("expectedGeneration", expectedGeneration), field("targetNodeId", count)],
  "placements-commit": [
    field("checkIndex", count),
    field("placements", arrayOf(object(field("vmId", vmId), field("expectedGeneration", int(1, SAFE_MAX)), field("nodeId", nodeId)), L.placementsPerCommandMax)),
    field("evictions", arrayOf(object(field("vmId", vmId), field("expectedGeneration", int(1, SAFE_MAX)), field("forVmId", vmId)), L.placementsPerCommandMax)),
  ],
  "vm-observed": [
    field("nodeId", nodeId),
    field("epoch", int(1, SAFE_MAX)),
    field("reports", arrayOf(object(field("vmId", vmId), field("placement", int(1, SAFE_MAX)), field("phase", observedPhase), field("detail", detail)), L.reportsPerCommandMax)),
  ],
  "vm-fail": [field("vmId", vmId), field("expectedGeneration", expectedGeneration), field("reason", detail)],
  "tenant-set": [field("name", name), field("quota", quota)],
  "tenant-remove": [field("name", name)],
  "ip-pool-create": [field("pool", ipPoolSpecSchema)],
  "ip-pool-remove": [field("name", name)],
});

export const envelopeSchema = object(field("stampUs", count), field("requestId", text(0, L.requestIdBytesMax)), field("body", commandSchema));

// ---------------------------------------------------------------------------------------
// Records: what the state holds, for snapshots and recorded results.

const anyResources = object(field("vcpus", count), field("memoryMib", count), field("diskGib", count));

export const nodeRecordSchema = object(
  ...registrationFields,
  field("state", oneOf("ready", "cordoned", "draining", "down")),
  field("lease", object(field("epoch", count), field("renewedIndex", count))),
  field("allocated", anyResources),
  field("generation", count),
);

export const vmRecordSchema = object(
  field("id", vmId),
  field("spec", vmSpecSchema),
  field("desired", desired),
  field("phase", oneOf("pending", "scheduled", "starting", "running", "stopping", "stopped", "failed", "deleting")),
  field("nodeId", count),
  field("token", object(field("nodeId", count), field("epoch", count), field("placement", count))),
  field("generation", count),
  field("observed", object(field("phase", observedPhase), field("index", count), field("detail", detail))),
  field("addresses", arrayOf(object(field("pool", name), field("address", text(7, 15)), field("mac", text(17, 17))), L.interfacesMax)),
  field("restarts", count),
  field("reason", text(0, SAFE_MAX)),
  optionalField("migrateTargetNodeId", nodeId),
);

export const tenantRecordSchema = object(field("name", name), field("quota", quota), field("usage", object(field("vms", count), field("resources", anyResources))));

export const resultSchema: Schema = union("status", {
  ok: [
    field(
      "detail",
      union("kind", {
        none: [],
        node: [field("node", nodeRecordSchema)],
        vm: [field("vm", vmRecordSchema)],
        placements: [field("placed", arrayOf(vmId, SAFE_MAX)), field("skipped", arrayOf(vmId, SAFE_MAX)), field("evicted", arrayOf(vmId, SAFE_MAX))],
      }),
    ),
  ],
  rejected: [field("code", text(1, 64)), field("message", text(0, SAFE_MAX))],
});

export const eventSchema = object(
  field("index", count),
  field("sequence", count),
  field("kind", text(1, 64)),
  field("stampUs", count),
  field("nodeId", count),
  field("vmId", count),
  field("detail", text(0, SAFE_MAX)),
);
