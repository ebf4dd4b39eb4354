// The role matrix: what every caller gets from every method, derived from the one role table.
// The role matrix test (test/shell/auth/role-matrix.test.ts) calls every method with every role
// and without a token and requires exactly these cells, and requires docs/SECURITY.md to hold
// renderRoleMatrix()'s table between its markers.
import { ROLES, type Role } from "../../core/replica/token-book.ts";
import { METHOD_ROLES, rolesFor } from "./method-roles.ts";

/** A column of the matrix: a role's token, or no token at all. */
export type MatrixCaller = Role | "no token";
export const MATRIX_CALLERS: readonly MatrixCaller[] = [...ROLES, "no token"];

export type MatrixCell = "allowed" | "PermissionDenied" | "Unauthenticated";

export function expectedCell(method: string, caller: MatrixCaller, table: Readonly<Record<string, readonly Role[]>> = METHOD_ROLES): MatrixCell {
  if (caller === "no token") return "Unauthenticated";
  return rolesFor(method, table)?.includes(caller) === true ? "allowed" : "PermissionDenied";
}

export const MATRIX_BEGIN = "<!-- role-matrix:begin (generated from src/shell/auth/method-roles.ts; BLIXARD_UPDATE_ROLE_MATRIX=1 node scripts/test.mjs role-matrix) -->";
export const MATRIX_END = "<!-- role-matrix:end -->";

/** The matrix as a Markdown table, methods in table order. */
export function renderRoleMatrix(table: Readonly<Record<string, readonly Role[]>> = METHOD_ROLES): string {
  const header = `| method | ${MATRIX_CALLERS.join(" | ")} |`;
  const rule = `|---|${MATRIX_CALLERS.map(() => "---").join("|")}|`;
  const rows = Object.keys(table).map((method) => `| \`${method}\` | ${MATRIX_CALLERS.map((caller) => expectedCell(method, caller, table)).join(" | ")} |`);
  return [MATRIX_BEGIN, header, rule, ...rows, MATRIX_END].join("\n");
}
