// End to end: `blixard image build` makes the default image from Debian's packages (once for this
// file), and real QEMU boots it under TCG from the qemu launcher's plan: the guest prints
// BLIXARD-READY and heartbeats with its id, answers BLIXARD-PING, serves /health through a
// loopback port forward, and powers off with QEMU exiting 0, both on BLIXARD-POWEROFF and on the
// ACPI power button (QMP system_powerdown). Skipped, saying why, only when apt-get cannot reach
// the archive or QEMU is not installed. Every QEMU is killed in `after`, temp dirs removed.
import { after, before, describe, test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type AddressInfo } from "node:net";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import type { VmInstanceSpec } from "../../../../src/core/agent/vm-backend.ts";
import { buildDefaultImage, ensureDefaultImage, ImageBuildError, readValidImage, type BuildResult } from "../../../../src/shell/vm/image/image-builder.ts";
import { readCpioNewc } from "../../../../src/shell/vm/image/cpio-newc.ts";
import { createQemuLauncher } from "../../../../src/shell/vm/qemu/qemu-launcher.ts";
import { hostTscKhz } from "../../../../src/shell/vm/qemu/accel-probe.ts";
import { QmpClient } from "../../../../src/shell/vm/qemu/qmp-client.ts";
import { DEFAULT_IMAGE } from "../../../../src/shell/vm/launch-plan.ts";
import { vmSpec } from "../../../support/cluster-view-fixture.ts";
import { waitUntil } from "../../../support/wait-until.ts";

const BOOT_DEADLINE_MS = 45_000;

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function httpStatus(port: number, path: string): Promise<number> {
  return new Promise((resolve) => {
    const req = request({ host: "127.0.0.1", port, path, timeout: 2_000 }, (response) => {
      response.resume();
      resolve(response.statusCode ?? 0);
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(0));
    req.end();
  });
}

interface Guest {
  readonly child: ChildProcess;
  readonly lines: string[];
  readonly startedMs: number;
  readonly exit: Promise<number | null>;
  /** ms from spawn to each line, by line index. */
  readonly atMs: number[];
}

describe("the default image boots under TCG", { timeout: 240_000 }, () => {
  let work: string;
  let image: BuildResult | undefined;
  let skipReason: string | undefined;
  const children: ChildProcess[] = [];
  let buildMs = 0;

  before(async () => {
    work = mkdtempSync(join(tmpdir(), "blixard-image-e2e-"));
    if (spawnSync("qemu-system-x86_64", ["--version"]).status !== 0) {
      skipReason = "qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)";
      return;
    }
    const started = Date.now();
    try {
      image = await buildDefaultImage({ outDir: join(work, "image"), progress: () => undefined });
      buildMs = Date.now() - started;
    } catch (error) {
      // Only apt's own failures (no network, no package lists, no apt) skip; any other build error fails the tests.
      if (!(error instanceof ImageBuildError) || !/could not download|no answer within|is not installed|not found.*run apt-get update/.test(error.message)) throw error;
      skipReason = `the image cannot be built here (apt-get cannot reach the archive?): ${error.message}`;
    }
  });
  after(() => {
    for (const child of children) {
      if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
        try {
          process.kill(-child.pid, "SIGKILL");
        } catch {
          child.kill("SIGKILL");
        }
      }
    }
    rmSync(work, { recursive: true, force: true });
  });

  const skipped = (t: TestContext): boolean => {
    if (skipReason === undefined) return false;
    t.skip(skipReason);
    return true;
  };

  function boot(vmId: number, hostPort: number): Guest {
    const vmDir = join(work, "vms", String(vmId));
    mkdirSync(vmDir, { recursive: true });
    const launcher = createQemuLauncher({ accel: { accel: "tcg", reason: "tcg: test" }, tscKhz: hostTscKhz().khz, imageDir: image!.dir });
    const spec = { ...vmSpec({ id: vmId, resources: { vcpus: 1, memoryMib: 128, diskGib: 1 } }), image: { kernel: DEFAULT_IMAGE, initrd: DEFAULT_IMAGE, rootDisk: "" }, interfaces: [{ mode: "user" as const, ipPool: "", portForwards: [{ protocol: "tcp" as const, hostPort, guestPort: 80 }] }] };
    const instance: VmInstanceSpec = { vmId, spec, addresses: [] };
    const plan = launcher.plan(instance, vmDir);
    assert.ok("argv" in plan, JSON.stringify(plan));
    const startedMs = Date.now();
    const child = spawn(plan.argv[0]!, plan.argv.slice(1), { stdio: ["pipe", "pipe", "pipe"], detached: true });
    children.push(child);
    const lines: string[] = [];
    const atMs: number[] = [];
    let partial = "";
    child.stdout!.on("data", (chunk: Buffer) => {
      partial += chunk.toString("utf8");
      for (let newline = partial.indexOf("\n"); newline >= 0; newline = partial.indexOf("\n")) {
        lines.push(partial.slice(0, newline).replace(/\r$/, ""));
        atMs.push(Date.now() - startedMs);
        partial = partial.slice(newline + 1);
      }
    });
    child.stderr!.on("data", (chunk: Buffer) => lines.push(`[stderr] ${chunk.toString("utf8").trim()}`));
    const exit = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    return { child, lines, startedMs, exit, atMs };
  }

  test("image build: vmlinuz, an initrd of our cpio with init, busybox, console and modules; a second build does nothing", async (t) => {
    if (skipped(t)) return;
    const manifest = image!.manifest;
    assert.match(manifest.kernelPackage, /^linux-image-.*-cloud-amd64$/);
    for (const name of ["virtio_mmio", "virtio_net", "virtio_blk", "net_failover"]) assert.ok(manifest.modules.includes(name), name);
    const entries = readCpioNewc(gunzipSync(readFileSync(join(image!.dir, "initrd.img"))));
    const paths = new Set(entries.map((entry) => entry.path));
    for (const path of ["init", "bin/busybox", "bin/sh", "dev/console", "lib/modules/load-order", "lib/modules/virtio_net.ko"]) assert.ok(paths.has(path), path);
    const again = await buildDefaultImage({ outDir: image!.dir, progress: () => undefined });
    assert.equal(again.built, false);
    assert.deepEqual(again.manifest, manifest);
    const said: string[] = [];
    assert.equal((await ensureDefaultImage(image!.dir, (line) => said.push(line))).built, false);
    assert.deepEqual(said, [], "a valid image is used as it is, silently");
    const damaged = join(work, "damaged");
    cpSync(image!.dir, damaged, { recursive: true });
    writeFileSync(join(damaged, "initrd.img"), "half a file");
    assert.deepEqual(readValidImage(damaged), { error: `${join(damaged, "initrd.img")} does not match its sha256 in the manifest` });
    const sizes = manifest.files.map((file) => `${file.name} ${file.bytes} B`).join(", ");
    t.diagnostic(`image build ${buildMs} ms; ${sizes}`);
  });

  test("boot to READY, heartbeats with the id, PING -> PONG, /health through the port forward, POWEROFF -> exit 0", { timeout: 60_000 }, async (t) => {
    if (skipped(t)) return;
    const port = await freePort();
    const guest = boot(41, port);
    const has = (prefix: string): boolean => guest.lines.some((line) => line.startsWith(prefix));
    await waitUntil("BLIXARD-READY vm=41", () => has("BLIXARD-READY vm=41") || guest.child.exitCode !== null, BOOT_DEADLINE_MS);
    assert.ok(has("BLIXARD-READY vm=41"), `the guest exited early:\n${guest.lines.join("\n")}`);
    const readyMs = guest.atMs[guest.lines.findIndex((line) => line.startsWith("BLIXARD-READY"))]!;
    const heartbeats = () => guest.lines.filter((line) => line.startsWith("BLIXARD-HEARTBEAT "));
    await waitUntil("three heartbeats", () => heartbeats().length >= 3, 10_000);
    for (const [index, line] of heartbeats().slice(0, 3).entries()) assert.equal(line, `BLIXARD-HEARTBEAT vm=41 seq=${index}`);
    guest.child.stdin!.write("BLIXARD-PING\n");
    await waitUntil("BLIXARD-PONG vm=41", () => has("BLIXARD-PONG vm=41"), 10_000);
    assert.ok(!guest.lines.includes("BLIXARD-PING"), "the console does not echo commands back");
    let status = 0;
    for (let attempt = 0; attempt < 40 && status !== 200; attempt++) {
      status = await httpStatus(port, "/health");
      if (status !== 200) await new Promise((resolve) => setTimeout(resolve, 250));
    }
    assert.equal(status, 200, "GET /health through the port forward");
    const rssKib = Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${guest.child.pid}/status`, "utf8"))?.[1] ?? 0);
    guest.child.stdin!.write("BLIXARD-POWEROFF\n");
    assert.equal(await guest.exit, 0, guest.lines.slice(-5).join("\n"));
    t.diagnostic(`TCG boot to READY ${readyMs} ms; idle guest RSS ${Math.round(rssKib / 1024)} MiB; load average ${readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ")}`);
  });

  test("the ACPI power button (QMP system_powerdown) powers it off: POWERDOWN, SHUTDOWN, exit 0", { timeout: 60_000 }, async (t) => {
    if (skipped(t)) return;
    const guest = boot(42, await freePort());
    const events: string[] = [];
    const qmp = await QmpClient.connect(join(work, "vms", "42", "qmp.sock"), { connectRetryMs: 10_000, onEvent: (event) => events.push(event.event) });
    try {
      await waitUntil("BLIXARD-READY vm=42", () => guest.lines.some((line) => line.startsWith("BLIXARD-READY vm=42")) || guest.child.exitCode !== null, BOOT_DEADLINE_MS);
      // acpid starts before READY is printed; a heartbeat later it is surely reading its events.
      await waitUntil("a heartbeat", () => guest.lines.some((line) => line.startsWith("BLIXARD-HEARTBEAT vm=42")), 10_000);
      await qmp.execute("system_powerdown");
      assert.equal(await guest.exit, 0, guest.lines.slice(-5).join("\n"));
      assert.ok(events.includes("POWERDOWN") && events.includes("SHUTDOWN"), events.join(" "));
      assert.ok(guest.lines.some((line) => line.includes("ACPI power button")), guest.lines.slice(-5).join("\n"));
    } finally {
      qmp.close();
    }
  });
});
