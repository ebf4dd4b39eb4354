// The CLI's context file: written 0600 and read back; absent is undefined; malformed is a
// one-line UsageError naming the file; the path follows BLIXARD_CONTEXT, then XDG_CONFIG_HOME.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { contextPath, readContext, writeContext } from "../../../src/shell/cli/cli-context.ts";
import { UsageError } from "../../../src/shell/cli/usage-error.ts";

describe("CLI context file", () => {
  test("round-trips, mode 0600, and the path follows the environment", () => {
    const dir = mkdtempSync(join(tmpdir(), "blixard-context-"));
    try {
      const path = join(dir, "nested", "context.yaml");
      assert.equal(readContext(path), undefined);
      const context = { endpoints: ["http://127.0.0.1:8001", "http://127.0.0.1:8002"], token: "blx_0123456789abcdef_secret", ca: "/tmp/ca.pem" };
      writeContext(context, path);
      assert.deepEqual(readContext(path), context);
      assert.equal(statSync(path).mode & 0o777, 0o600);
      writeContext({ ...context, ca: "" }, path);
      assert.deepEqual(readContext(path), { ...context, ca: "" });
      assert.equal(contextPath({ BLIXARD_CONTEXT: path }), path);
      assert.equal(contextPath({ XDG_CONFIG_HOME: dir }), join(dir, "blixard", "context.yaml"));
      writeFileSync(path, "endpoints: 7\n");
      assert.throws(() => readContext(path), (error: unknown) => error instanceof UsageError && error.message.includes(path) && !error.message.includes("\n"));
      writeFileSync(path, "token: [unclosed\n");
      assert.throws(() => readContext(path), UsageError);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
