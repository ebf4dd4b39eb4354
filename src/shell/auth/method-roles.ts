// The one table of who may call what: every API method and the roles allowed to call it. A
// method missing from the table is a startup assertion failure (assertTableCovers, called when
// the node builds its routes) and a test failure (the role matrix), never an open door; a row
// for a method that does not exist fails the same way. New methods (the VM and node API of the
// orchestrator) join by adding rows. A row that allows "tenant" promises that its handler
// scopes the call to the caller's tenant (Caller.tenant): a tenant sees and changes only its own
// VMs and quotas, and other tenants' are invisible to it (answered as if absent).
//
// Today's choices (docs/SECURITY.md has the matrix, generated from this table):
//   kv reads        admin, operator, read-only (tenants get no kv: it is the cluster's own map)
//   kv writes       admin, operator
//   cluster status  admin, operator, read-only (the nodes are operators' business, not tenants')
//   membership, leadership, tokens: admin only
//   VMs             reads (Get, List, Watch, Console, Events): every role, a tenant its own VMs only;
//                   changes (Create, Plan, Start, Stop, Restart, Delete): admin, operator, tenant (its own);
//                   Migrate: admin, operator (where a VM runs is the operators' business)
//   nodes           reads: admin, operator, read-only; cordon, uncordon, drain: admin, operator
//   tenants         SetQuota: admin; GetQuota, Usage: every role, a tenant its own only
//   failpoints      Set, Clear, List: admin only (fault injection on the serving node)
import type { DescService } from "@bufbuild/protobuf";
import { ROLES, type Role } from "../../core/replica/token-book.ts";

/** "<package.Service>/<Method>": the path every protocol (Connect, gRPC, gRPC-Web) calls. */
export type MethodKey = `${string}/${string}`;

export const METHOD_ROLES: Readonly<Record<MethodKey, readonly Role[]>> = {
  "blixard.v1.KvService/Get": ["admin", "operator", "read-only"],
  "blixard.v1.KvService/Put": ["admin", "operator"],
  "blixard.v1.KvService/CompareAndSet": ["admin", "operator"],
  "blixard.v1.KvService/Delete": ["admin", "operator"],
  "blixard.v1.KvService/List": ["admin", "operator", "read-only"],
  "blixard.v1.KvService/Watch": ["admin", "operator", "read-only"],
  "blixard.v1.KvService/Append": ["admin", "operator"],
  "blixard.v1.KvService/ReadList": ["admin", "operator", "read-only"],
  // A txn may write: a writer's call, even when its branches only read.
  "blixard.v1.KvService/Txn": ["admin", "operator"],
  "blixard.v1.ClusterService/Status": ["admin", "operator", "read-only"],
  "blixard.v1.ClusterService/AddLearner": ["admin"],
  "blixard.v1.ClusterService/Promote": ["admin"],
  "blixard.v1.ClusterService/Remove": ["admin"],
  "blixard.v1.ClusterService/TransferLeader": ["admin"],
  "blixard.v1.TokenService/CreateToken": ["admin"],
  "blixard.v1.TokenService/ListTokens": ["admin"],
  "blixard.v1.TokenService/RevokeToken": ["admin"],
  "blixard.v1.VmService/Create": ["admin", "operator", "tenant"],
  "blixard.v1.VmService/Plan": ["admin", "operator", "tenant"],
  "blixard.v1.VmService/Get": ["admin", "operator", "tenant", "read-only"],
  "blixard.v1.VmService/List": ["admin", "operator", "tenant", "read-only"],
  "blixard.v1.VmService/Start": ["admin", "operator", "tenant"],
  "blixard.v1.VmService/Stop": ["admin", "operator", "tenant"],
  "blixard.v1.VmService/Restart": ["admin", "operator", "tenant"],
  "blixard.v1.VmService/Delete": ["admin", "operator", "tenant"],
  "blixard.v1.VmService/Migrate": ["admin", "operator"],
  "blixard.v1.VmService/Watch": ["admin", "operator", "tenant", "read-only"],
  "blixard.v1.VmService/Console": ["admin", "operator", "tenant", "read-only"],
  "blixard.v1.VmService/Events": ["admin", "operator", "tenant", "read-only"],
  "blixard.v1.NodeService/List": ["admin", "operator", "read-only"],
  "blixard.v1.NodeService/Get": ["admin", "operator", "read-only"],
  "blixard.v1.NodeService/Cordon": ["admin", "operator"],
  "blixard.v1.NodeService/Uncordon": ["admin", "operator"],
  "blixard.v1.NodeService/Drain": ["admin", "operator"],
  "blixard.v1.TenantService/SetQuota": ["admin"],
  "blixard.v1.TenantService/GetQuota": ["admin", "operator", "tenant", "read-only"],
  "blixard.v1.TenantService/Usage": ["admin", "operator", "tenant", "read-only"],
  // Fault injection on the serving node (docs/FAILPOINTS.md): admin only, the list too (it shows what is broken on purpose).
  "blixard.v1.FailpointService/Set": ["admin"],
  "blixard.v1.FailpointService/Clear": ["admin"],
  "blixard.v1.FailpointService/List": ["admin"],
};

export function methodKey(service: DescService, methodName: string): MethodKey {
  return `${service.typeName}/${methodName}`;
}

/** The roles a method allows, or undefined for a method the table does not know (refused). */
export function rolesFor(key: string, table: Readonly<Record<string, readonly Role[]>> = METHOD_ROLES): readonly Role[] | undefined {
  return Object.hasOwn(table, key) ? table[key] : undefined;
}

/**
 * Every method of every served service has a row, every row names a served method, and every
 * row names known roles with admin among them. Throws (a startup failure) otherwise.
 */
export function assertTableCovers(services: readonly DescService[], table: Readonly<Record<string, readonly Role[]>> = METHOD_ROLES): void {
  const served = new Set<string>();
  for (const service of services) for (const method of service.methods) served.add(methodKey(service, method.name));
  const problems: string[] = [];
  for (const key of [...served].sort()) if (!Object.hasOwn(table, key)) problems.push(`${key} has no row in the role table (src/shell/auth/method-roles.ts)`);
  for (const [key, roles] of Object.entries(table).sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
    if (!served.has(key)) problems.push(`the role table names ${key}, which no service serves`);
    if (roles.length === 0 || roles.some((role) => !(ROLES as readonly string[]).includes(role))) problems.push(`${key}: unknown or no roles`);
    if (!roles.includes("admin")) problems.push(`${key}: admin may do everything`);
  }
  if (problems.length > 0) throw new Error(`role table incomplete: ${problems.join("; ")}`);
}
