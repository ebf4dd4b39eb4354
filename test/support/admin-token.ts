// The admin token every test harness runs with (docs/SECURITY.md): made once per test process,
// given to nodes as their bootstrap token (only its hash), and sent by the harness's clients.
import { authorizationHeader, newToken } from "../../src/shell/auth/bearer-token.ts";

export const ADMIN_TOKEN = newToken();
/** For NodeRuntime.start's config. */
export const BOOTSTRAP_TOKENS = [{ id: ADMIN_TOKEN.id, hashHex: ADMIN_TOKEN.hashHex }] as const;
/** For `blixard node`. */
export const BOOTSTRAP_TOKEN_FLAG = ["--bootstrap-token-hash", `${ADMIN_TOKEN.id}:${ADMIN_TOKEN.hashHex}`] as const;
/** For raw fetch and http calls. */
export const ADMIN_HEADERS: Readonly<Record<string, string>> = { authorization: authorizationHeader(ADMIN_TOKEN.text) };
