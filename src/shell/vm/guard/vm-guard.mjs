// @ts-check
// The per-VM guard: one process per running VM instance, started detached by the host backend
// (src/shell/vm/host-backend.ts) as `node vm-guard.mjs <vmDir>`, so it outlives the node process:
// a kill -9 or a SIGSTOP of the node leaves it running, and it is what kills the VM when the
// node's lease runs out (docs/VMS.md, "Self-fencing"; docs/FENCING.md). Plain JavaScript with
// only node: builtins, so it starts in tens of milliseconds without a TypeScript loader.
//
// It reads <vmDir>/launch.json (LaunchFile, src/shell/vm/launch-plan.ts) and:
//   - refuses to spawn (stopped, exit fenced) when the node's fence.json deadline has passed;
//   - spawns plan.argv in its own process group with pipes, and writes every console line to
//     console.log with the host's wall clock (ISO 8601 UTC, ms) in front; its own notes are
//     "[guard] ..." lines; console.log rotates to console.log.1 at consoleBytesMax;
//   - reads fence.json every fencePollMs and SIGKILLs the VM's process group once the host's
//     CLOCK_MONOTONIC (process.hrtime.bigint) reaches the deadline less one poll period; an
//     unreadable fence.json counts as an expired lease when it is still unreadable one poll
//     period later (fail safe);
//   - serves guard.sock (GuardRequest, one JSON line each way) and keeps state.json current;
//   - on the VM's exit records why (exited, crashed, stopped, killed, fenced), closes the socket
//     and exits.

import { spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { StringDecoder } from "node:string_decoder";
import { performance } from "node:perf_hooks";

/** @typedef {import("../launch-plan.ts").LaunchFile} LaunchFile */
/** @typedef {import("../launch-plan.ts").GuardState} GuardState */
/** @typedef {import("../launch-plan.ts").GuardRequest} GuardRequest */
/** @typedef {import("../launch-plan.ts").GuardResponse} GuardResponse */
/** @typedef {GuardState["exit"]} Exit */

/** Same value as GUARD_LINE_BYTES_MAX in launch-plan.ts (this file imports no TypeScript at run time). */
const GUARD_LINE_BYTES_MAX = 64 * 1024;
/** Console lines longer than this are cut into pieces (a guest printing without newlines stays bounded). */
const CONSOLE_LINE_CHARS_MAX = 4096;
/** Bytes of one console request's line. */
const CONSOLE_INPUT_BYTES_MAX = 4096;
/** Connections served at once on guard.sock. */
const CONNECTIONS_MAX = 32;
/** util-linux's setpriv: runs the VM with a parent-death signal (see startVm). */
const SETPRIV = "/usr/bin/setpriv";
/** The longest grace period a stop may ask for. */
const GRACE_MS_MAX = 3_600_000;
/** How long the guard waits for QEMU to say "running" on QMP before it says running anyway. */
const QMP_RUNNING_WAIT_MS = 3000;
const QMP_RETRY_MS = 25;
/** One QMP exchange (connect, greeting, capabilities, command) gives up after this. */
const QMP_EXCHANGE_TIMEOUT_MS = 2000;
/** After a kill, how long the guard waits for the child's exit before it exits itself. */
const EXIT_WAIT_MS = 2000;
const NS_PER_MS = 1_000_000n;

// Set by runGuard: the instance this guard holds.
let vmDir = "";
/** @type {{ launch: string, state: string, console: string, socket: string }} */
let files;
/** @type {LaunchFile} */
let launch;
let ignoreFence = false;
let pollNs = 0n;
/** @type {GuardState} */
let state;
/** @type {ReturnType<typeof openConsoleLog>} */
let consoleLog;
/** @type {net.Server} */
let server;
/** performance.now() when this guard took its VM (a spare: when it was handed one). */
let tookVmAtMs = 0;
/** @type {Set<net.Socket>} */
const watchers = new Set();
/** @type {import("node:child_process").ChildProcessWithoutNullStreams | undefined} */
let child;
let childAlive = false;
/** The child's stdio has closed (every console line is in console.log). */
let childClosed = false;
/** Set by kill, the end of a grace period and the fence: the exit the VM's death gets, whatever its code. */
/** @type {Exit | undefined} */
let exitOverride;
let paused = false;
/** A stop or kill that came before the VM's spawn event: carried out once it has spawned. */
/** @type {{ kind: "kill" } | { kind: "stop", graceMs: number } | undefined} */
let pendingRequest;
let finished = false;
let shutDown = false;
/** @type {NodeJS.Timeout | undefined} */
let fenceTimer;
/** @type {NodeJS.Timeout | undefined} */
let graceTimer;
/** When fence.json first failed to read in the current run of failures; -1n: it reads. */
let fenceUnreadableSinceNs = -1n;
let fenceDeadlineNs = 0n;

// A bug in the guard must not leave its VM running unguarded: note it, kill the VM, record crashed.
process.on("uncaughtException", (error) => {
  if (state === undefined) throw error; // a spare, or before launch.json was read: nothing to guard
  try {
    consoleLog.note(`guard failed: ${error.stack ?? error.message}`);
  } catch {
    // the log is what failed
  }
  signalGroup("SIGKILL");
  try {
    state = { ...state, state: "stopped", exit: "crashed", stoppedAtMs: Date.now(), detail: `guard failed: ${error.message}` };
    writeState();
  } finally {
    process.exit(70);
  }
});

const [firstArg, secondArg] = process.argv.slice(2);
if (firstArg === "--spare" && secondArg !== undefined && path.isAbsolute(secondArg)) waitAsSpare(secondArg);
else if (firstArg !== undefined && path.isAbsolute(firstArg)) runGuard(firstArg);
else {
  process.stderr.write("usage: vm-guard.mjs <absolute vm directory> | --spare <absolute socket path>\n");
  process.exit(2);
}

/** @param {string} dir */
function runGuard(dir) {
  tookVmAtMs = performance.now();
  vmDir = dir;
  files = {
    launch: path.join(vmDir, "launch.json"),
    state: path.join(vmDir, "state.json"),
    console: path.join(vmDir, "console.log"),
    socket: path.join(vmDir, "guard.sock"),
  };
  launch = readLaunchFile(files.launch);
  ignoreFence = launch.plantedBug === "ignore-fence";
  pollNs = BigInt(launch.fencePollMs) * NS_PER_MS;
  state = {
    vmId: launch.vmId,
    token: launch.token,
    guardPid: process.pid,
    childPid: 0,
    state: "booting",
    exit: "none",
    startedAtMs: Date.now(),
    stoppedAtMs: 0,
    detail: "",
  };
  consoleLog = openConsoleLog(files.console, launch.consoleBytesMax);
  writeState();
  consoleLog.note(`start vm=${launch.vmId} token=${launch.token.nodeId}/${launch.token.epoch}/${launch.token.placement} guard-pid=${process.pid}`);
  server = serve();
  startVm();
}

// ----- a spare guard

/**
 * A guard started ahead of need, so that a start does not wait for node to boot: it listens on
 * `socketPath` for one line {"vmDir":"..."} (from the backend that started it), answers
 * {"ok":true} and becomes that VM's guard. Until then it exits when the process that started it
 * is gone (its parent pid changes): a spare nobody can use again must not linger.
 * @param {string} socketPath
 */
function waitAsSpare(socketPath) {
  const parentPid = process.ppid;
  let handedOff = false;
  const spare = net.createServer((socket) => {
    let buffered = "";
    socket.setEncoding("utf8");
    socket.on("error", () => {});
    socket.on("data", (chunk) => {
      buffered += chunk;
      const newline = buffered.indexOf("\n");
      if (buffered.length > GUARD_LINE_BYTES_MAX) return void socket.destroy();
      if (newline < 0) return;
      /** @type {unknown} */
      let dir;
      try {
        dir = JSON.parse(buffered.slice(0, newline))?.vmDir;
      } catch {
        dir = undefined;
      }
      if (handedOff || typeof dir !== "string" || !path.isAbsolute(dir)) return void socket.end(`${JSON.stringify({ ok: false, error: "a spare takes one {\"vmDir\": <absolute path>}" })}\n`);
      handedOff = true;
      clearInterval(parentWatch);
      spare.close();
      socket.end(`${JSON.stringify({ ok: true })}\n`);
      runGuard(dir);
    });
  });
  const umask = process.umask(0o177);
  spare.listen(socketPath);
  process.umask(umask);
  spare.on("error", () => process.exit(1));
  const parentWatch = setInterval(() => {
    if (process.ppid === parentPid) return;
    spare.close();
    process.exit(0);
  }, 500);
}

// ----- starting

function startVm() {
  if (!ignoreFence) {
    const fence = readFence();
    const nowNs = process.hrtime.bigint();
    if (!fence.ok) return refuse(`fence file unreadable: ${fence.error}`);
    if (nowNs >= fence.deadlineNs - pollNs) {
      return refuse(fence.deadlineNs === 0n ? "fence never armed" : `fence deadline passed ${msBetween(nowNs, fence.deadlineNs)} ms ago (less one poll period)`);
    }
    fenceDeadlineNs = fence.deadlineNs;
  }
  // Under setpriv --pdeathsig (util-linux, on every Debian), the kernel kills the VM the moment this
  // guard dies, even by SIGKILL: a guard never leaves a VM running unfenced behind it.
  const [command, ...args] = launch.withoutParentDeathSignal !== true && fs.existsSync(SETPRIV) ? [SETPRIV, "--pdeathsig", "KILL", "--", ...launch.plan.argv] : launch.plan.argv;
  // BLIXARD_VM_DIR marks the VM's process as this instance's: a backend that finds the guard gone
  // kills a pid from state.json only when its environment says so (pids are reused).
  const env = { ...process.env, ...launch.plan.env, BLIXARD_VM_DIR: vmDir };
  child = spawn(command, args, { env, stdio: ["pipe", "pipe", "pipe"], detached: true });
  child.stdin.on("error", () => {}); // EPIPE after the VM died: its exit is what counts
  pipeLines(child.stdout);
  pipeLines(child.stderr);
  child.on("spawn", () => {
    childAlive = true;
    if (finished) return signalGroup("SIGKILL"); // fenced before the spawn completed: it must not run
    const pid = child?.pid ?? 0;
    consoleLog.note(`spawned pid=${pid} ${Math.round(performance.now() - tookVmAtMs)} ms after the guard took the vm (${Math.round(process.uptime() * 1000)} ms after its process started)`);
    setState({ childPid: pid });
    if (pendingRequest?.kind === "kill") return killVm();
    if (pendingRequest?.kind === "stop") return stopGracefully(pendingRequest.graceMs);
    if (launch.plan.qmpSocket === "") setRunning("");
    else void waitQmpRunning();
  });
  child.on("error", (error) => {
    if (childAlive) return; // a signal to a dead group, say; the exit event decides
    consoleLog.note(`spawn failed: ${error.message}`);
    finish("crashed", `spawn failed: ${error.message}`);
  });
  child.on("exit", (code, signal) => onChildExit(code, signal));
  child.on("close", () => {
    childClosed = true;
  });
  scheduleFence(0);
}

/** @param {string} detail */
function refuse(detail) {
  consoleLog.note(`refused to start: ${detail}`);
  finish("fenced", detail);
}

/** @param {string} detail */
function setRunning(detail) {
  if (state.state !== "booting") return;
  setState({ state: "running", detail });
}

async function waitQmpRunning() {
  const startMs = Date.now();
  let last = "";
  while (!finished && state.state === "booting" && Date.now() - startMs < QMP_RUNNING_WAIT_MS) {
    const answer = await qmp("query-status");
    if (answer.ok) {
      const status = /** @type {{status?: string}} */ (answer.value).status;
      if (status === "running") return setRunning("");
      last = `qmp status ${String(status)}`;
    } else {
      last = answer.error;
    }
    await new Promise((resolve) => setTimeout(resolve, QMP_RETRY_MS));
  }
  setRunning(`qmp did not say running within ${QMP_RUNNING_WAIT_MS} ms (${last})`);
}

// ----- the VM's death

/**
 * @param {number | null} code
 * @param {NodeJS.Signals | null} signal
 */
function onChildExit(code, signal) {
  childAlive = false;
  if (child?.pid !== undefined) signalGroup("SIGKILL"); // whatever the VM left in its group
  const how = signal !== null ? `signal ${signal}` : `code ${code}`;
  /** @type {Exit} */
  let exit;
  if (exitOverride !== undefined) exit = exitOverride;
  else if (state.state === "stopping") exit = "stopped";
  else if (code === 0) exit = "exited";
  else exit = "crashed";
  consoleLog.note(`exit ${how} (${exit})`);
  finish(exit, how);
}

/**
 * Records the end, tells the watchers, closes the socket and lets the process end. The socket's
 * path goes first, before state.json says stopped: a backend that sees stopped may start a new
 * guard at once, whose guard.sock this one must not unlink.
 * @param {Exit} exit
 * @param {string} detail
 */
function finish(exit, detail) {
  if (finished) return;
  finished = true;
  clearTimeout(fenceTimer);
  clearTimeout(graceTimer);
  server.close();
  try {
    fs.unlinkSync(files.socket);
  } catch {
    // not bound yet, or already gone
  }
  setState({ state: "stopped", exit, stoppedAtMs: Date.now(), detail });
  if (child !== undefined && (childAlive || !childClosed)) {
    // Fenced with the VM still alive (its group was SIGKILLed), or its last console lines not
    // read yet: wait, bounded, for its stdio to close; state.json already says how it ended.
    setTimeout(shutdown, EXIT_WAIT_MS).unref();
    child.on("close", shutdown);
  } else {
    shutdown();
  }
}

/** The watchers' connections end once console.log is complete: a backend that sees the end may read it. */
function shutdown() {
  if (shutDown) return;
  shutDown = true;
  consoleLog.close();
  for (const socket of watchers) socket.end();
  // Nothing else holds the event loop; this bounds a connection that will not close.
  setTimeout(() => process.exit(0), EXIT_WAIT_MS).unref();
}

// ----- fencing

/** @param {number} delayMs */
function scheduleFence(delayMs) {
  if (ignoreFence || finished) return;
  fenceTimer = setTimeout(checkFence, delayMs);
}

function checkFence() {
  if (finished) return;
  const fence = readFence();
  const nowNs = process.hrtime.bigint();
  if (fence.ok) {
    fenceDeadlineNs = fence.deadlineNs;
    fenceUnreadableSinceNs = -1n;
  } else if (fenceUnreadableSinceNs < 0n) {
    fenceUnreadableSinceNs = nowNs;
  } else if (nowNs - fenceUnreadableSinceNs >= pollNs) {
    return fenceNow(`fence file unreadable for ${msBetween(nowNs, fenceUnreadableSinceNs)} ms: ${fence.error}`);
  }
  const killAtNs = fenceDeadlineNs - pollNs;
  if (nowNs >= killAtNs) return fenceNow(`fence deadline reached (killed ${msBetween(fenceDeadlineNs, nowNs)} ms before it)`);
  // Wake at the next poll, or exactly at the kill time when that comes first.
  const untilKillMs = Number((killAtNs - nowNs + NS_PER_MS - 1n) / NS_PER_MS);
  scheduleFence(fence.ok ? Math.max(1, Math.min(launch.fencePollMs, untilKillMs)) : launch.fencePollMs);
}

/** @param {string} reason */
function fenceNow(reason) {
  exitOverride = "fenced";
  if (childAlive) signalGroup("SIGKILL");
  consoleLog.note(`fenced: ${reason}`);
  finish("fenced", reason);
}

/** @returns {{ ok: true, deadlineNs: bigint } | { ok: false, error: string }} */
function readFence() {
  try {
    const parsed = JSON.parse(fs.readFileSync(launch.fenceFile, "utf8"));
    const text = parsed?.deadlineNs;
    if (typeof text !== "string" || !/^[0-9]{1,30}$/.test(text)) return { ok: false, error: "deadlineNs is not a decimal string" };
    return { ok: true, deadlineNs: BigInt(text) };
  } catch (error) {
    return { ok: false, error: error instanceof Error ? error.message : String(error) };
  }
}

// ----- stopping, killing, pausing

/** @param {number} graceMs */
function stopGracefully(graceMs) {
  if (!childAlive && !finished && child !== undefined) pendingRequest ??= { kind: "stop", graceMs };
  if (!childAlive || state.state === "stopping") return;
  if (paused) resumeVm();
  setState({ state: "stopping", detail: `graceful stop, ${graceMs} ms grace` });
  consoleLog.note(`stop (${launch.plan.gracefulStop.kind}, grace ${graceMs} ms)`);
  const stop = launch.plan.gracefulStop;
  switch (stop.kind) {
    case "signal":
      signalGroup(stop.signal);
      break;
    case "console":
      writeConsole(stop.line);
      break;
    case "qmp-powerdown":
      writeConsole(stop.consoleLine);
      void qmp("system_powerdown").then((answer) => {
        if (!answer.ok) consoleLog.note(`qmp system_powerdown: ${answer.error}`);
      });
      break;
  }
  graceTimer = setTimeout(() => {
    if (!childAlive) return;
    consoleLog.note(`grace period of ${graceMs} ms over: SIGKILL`);
    killVm();
  }, graceMs);
}

function killVm() {
  if (!childAlive && !finished && child !== undefined) pendingRequest = { kind: "kill" };
  if (!childAlive) return;
  if (exitOverride === undefined) exitOverride = "killed";
  if (paused) signalGroup("SIGCONT");
  signalGroup("SIGKILL");
}

/** @returns {Promise<string>} "" or what went wrong */
async function pauseVm() {
  if (!childAlive) return "no running vm";
  if (launch.plan.qmpSocket !== "") {
    const answer = await qmp("stop");
    if (!answer.ok) return answer.error;
  } else {
    signalGroup("SIGSTOP");
  }
  paused = true;
  setState({ detail: "paused" });
  return "";
}

/** @returns {Promise<string>} */
async function resumeVm() {
  if (!childAlive) return "no running vm";
  if (launch.plan.qmpSocket !== "") {
    const answer = await qmp("cont");
    if (!answer.ok) return answer.error;
  } else {
    signalGroup("SIGCONT");
  }
  paused = false;
  setState({ detail: "" });
  return "";
}

/** @param {NodeJS.Signals} signal */
function signalGroup(signal) {
  const pid = child?.pid;
  if (pid === undefined) return;
  try {
    process.kill(-pid, signal);
  } catch {
    // the group is gone
  }
}

/** @param {string} line */
function writeConsole(line) {
  if (child === undefined || !childAlive || child.stdin.destroyed) return;
  child.stdin.write(`${line}\n`);
}

// ----- state.json and the watchers

/** @param {Partial<GuardState>} change */
function setState(change) {
  state = { ...state, ...change };
  writeState();
  const line = `${JSON.stringify({ ok: true, state })}\n`;
  for (const socket of watchers) socket.write(line);
}

/** Atomic: a reader sees the old file or the new one, never half of one. */
function writeState() {
  const temp = `${files.state}.tmp`;
  fs.writeFileSync(temp, `${JSON.stringify(state)}\n`);
  fs.renameSync(temp, files.state);
}

// ----- the control socket

function serve() {
  try {
    fs.unlinkSync(files.socket); // a previous guard's, dead (the backend starts one guard per instance)
  } catch {
    // none
  }
  const created = net.createServer((socket) => serveConnection(socket));
  created.maxConnections = CONNECTIONS_MAX;
  const umask = process.umask(0o177);
  created.listen(files.socket, () => {
    if (finished) created.close(); // refused or died before the socket was up
    else fs.chmodSync(files.socket, 0o600);
  });
  process.umask(umask);
  created.on("error", (error) => {
    consoleLog.note(`control socket: ${error.message}`);
  });
  return created;
}

/** @param {net.Socket} socket */
function serveConnection(socket) {
  let buffered = "";
  socket.setEncoding("utf8");
  socket.on("error", () => {
    watchers.delete(socket);
  });
  socket.on("close", () => {
    watchers.delete(socket);
  });
  socket.on("data", (chunk) => {
    buffered += chunk;
    let newline = buffered.indexOf("\n");
    while (newline >= 0) {
      const line = buffered.slice(0, newline);
      buffered = buffered.slice(newline + 1);
      void answer(socket, line);
      newline = buffered.indexOf("\n");
    }
    if (Buffer.byteLength(buffered) > GUARD_LINE_BYTES_MAX) {
      respond(socket, { ok: false, error: `request line longer than ${GUARD_LINE_BYTES_MAX} bytes` });
      socket.end();
    }
  });
}

/**
 * @param {net.Socket} socket
 * @param {GuardResponse} response
 */
function respond(socket, response) {
  if (!socket.destroyed) socket.write(`${JSON.stringify(response)}\n`);
}

/**
 * @param {net.Socket} socket
 * @param {string} line
 */
async function answer(socket, line) {
  /** @type {unknown} */
  let request;
  try {
    request = JSON.parse(line);
  } catch {
    return respond(socket, { ok: false, error: "a request is one JSON object per line" });
  }
  const problem = requestProblem(request);
  if (problem !== "") return respond(socket, { ok: false, error: problem });
  const valid = /** @type {GuardRequest} */ (request);
  switch (valid.op) {
    case "status":
      return respond(socket, { ok: true, state });
    case "watch":
      respond(socket, { ok: true, state });
      if (finished) socket.end();
      else watchers.add(socket);
      return;
    case "stop":
      stopGracefully(valid.graceMs);
      return respond(socket, { ok: true, state });
    case "kill":
      if (childAlive) consoleLog.note("kill: SIGKILL");
      killVm();
      return respond(socket, { ok: true, state });
    case "console":
      if (!childAlive) return respond(socket, { ok: false, error: "no running vm" });
      writeConsole(valid.line);
      return respond(socket, { ok: true, state });
    case "pause":
    case "resume": {
      const error = valid.op === "pause" ? await pauseVm() : await resumeVm();
      return respond(socket, error === "" ? { ok: true, state } : { ok: false, error });
    }
  }
}

/**
 * "" when the request is well formed, else why not.
 * @param {unknown} request
 */
function requestProblem(request) {
  if (typeof request !== "object" || request === null) return "a request is a JSON object";
  const fields = /** @type {Record<string, unknown>} */ (request);
  switch (fields.op) {
    case "status":
    case "watch":
    case "kill":
    case "pause":
    case "resume":
      return "";
    case "stop": {
      const graceMs = fields.graceMs;
      return typeof graceMs === "number" && Number.isSafeInteger(graceMs) && graceMs >= 0 && graceMs <= GRACE_MS_MAX ? "" : `stop needs graceMs, an integer 0..${GRACE_MS_MAX}`;
    }
    case "console": {
      const text = fields.line;
      if (typeof text !== "string" || text.includes("\n")) return "console needs line, a string without a newline";
      return Buffer.byteLength(text) <= CONSOLE_INPUT_BYTES_MAX ? "" : `console line longer than ${CONSOLE_INPUT_BYTES_MAX} bytes`;
    }
    default:
      return `unknown op ${JSON.stringify(fields.op)}`;
  }
}

// ----- QMP (the few commands the guard needs; the QEMU backend has the full client)

/**
 * One exchange on plan.qmpSocket: greeting, qmp_capabilities, then `command`.
 * @param {string} command
 * @returns {Promise<{ ok: true, value: unknown } | { ok: false, error: string }>}
 */
function qmp(command) {
  return new Promise((resolve) => {
    const socket = net.createConnection(launch.plan.qmpSocket);
    let phase = 0; // 0 greeting, 1 capabilities answer, 2 command answer
    let buffered = "";
    /** @param {{ ok: true, value: unknown } | { ok: false, error: string }} result */
    const done = (result) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => done({ ok: false, error: `qmp ${command}: no answer within ${QMP_EXCHANGE_TIMEOUT_MS} ms` }), QMP_EXCHANGE_TIMEOUT_MS);
    socket.setEncoding("utf8");
    socket.on("error", (error) => done({ ok: false, error: `qmp ${command}: ${error.message}` }));
    socket.on("data", (chunk) => {
      buffered += chunk;
      if (buffered.length > GUARD_LINE_BYTES_MAX) return done({ ok: false, error: `qmp ${command}: answer too long` });
      let newline = buffered.indexOf("\n");
      while (newline >= 0) {
        const line = buffered.slice(0, newline).trim();
        buffered = buffered.slice(newline + 1);
        newline = buffered.indexOf("\n");
        if (line === "") continue;
        /** @type {Record<string, unknown>} */
        let message;
        try {
          message = JSON.parse(line);
        } catch {
          return done({ ok: false, error: `qmp ${command}: not JSON: ${line.slice(0, 80)}` });
        }
        if ("event" in message) continue;
        if (phase === 0 && "QMP" in message) {
          phase = 1;
          socket.write(`${JSON.stringify({ execute: "qmp_capabilities" })}\n`);
        } else if ("error" in message) {
          return done({ ok: false, error: `qmp ${phase === 1 ? "qmp_capabilities" : command}: ${JSON.stringify(message.error)}` });
        } else if (phase === 1 && "return" in message) {
          phase = 2;
          socket.write(`${JSON.stringify({ execute: command })}\n`);
        } else if (phase === 2 && "return" in message) {
          return done({ ok: true, value: message.return });
        }
      }
    });
  });
}

// ----- console.log

/** @param {import("node:stream").Readable} stream */
function pipeLines(stream) {
  const decoder = new StringDecoder("utf8");
  let partial = "";
  stream.on("data", (/** @type {Buffer} */ chunk) => {
    partial += decoder.write(chunk);
    let newline = partial.indexOf("\n");
    while (newline >= 0) {
      consoleLog.line(partial.slice(0, newline).replace(/\r$/, ""));
      partial = partial.slice(newline + 1);
      newline = partial.indexOf("\n");
    }
    while (partial.length > CONSOLE_LINE_CHARS_MAX) {
      consoleLog.line(partial.slice(0, CONSOLE_LINE_CHARS_MAX));
      partial = partial.slice(CONSOLE_LINE_CHARS_MAX);
    }
  });
  stream.on("end", () => {
    partial += decoder.end();
    if (partial !== "") consoleLog.line(partial.replace(/\r$/, ""));
    partial = "";
  });
}

/**
 * @param {string} file
 * @param {number} bytesMax
 */
function openConsoleLog(file, bytesMax) {
  let fd = fs.openSync(file, "a");
  let sizeBytes = fs.fstatSync(fd).size;
  /** @param {string} text */
  const line = (text) => {
    if (fd < 0) return;
    const bytes = Buffer.from(`${new Date().toISOString()} ${text}\n`);
    if (sizeBytes > 0 && sizeBytes + bytes.length > bytesMax) {
      fs.closeSync(fd);
      fs.renameSync(file, `${file}.1`);
      fd = fs.openSync(file, "a");
      sizeBytes = 0;
    }
    fs.writeSync(fd, bytes);
    sizeBytes += bytes.length;
  };
  return {
    line,
    /** @param {string} text */
    note: (text) => line(`[guard] ${text}`),
    close: () => {
      if (fd >= 0) fs.closeSync(fd);
      fd = -1;
    },
  };
}

// ----- launch.json

/**
 * Reads and checks launch.json; a guard with a bad one writes why to state.json and exits.
 * @param {string} file
 * @returns {LaunchFile}
 */
function readLaunchFile(file) {
  /** @type {LaunchFile} */
  let parsed;
  try {
    parsed = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (error) {
    return badLaunch(`launch.json unreadable: ${error instanceof Error ? error.message : String(error)}`);
  }
  const plan = parsed?.plan;
  if (!Number.isSafeInteger(parsed?.vmId) || typeof parsed?.token !== "object") return badLaunch("launch.json: vmId and token required");
  if (!Array.isArray(plan?.argv) || plan.argv.length === 0 || !plan.argv.every((/** @type {unknown} */ arg) => typeof arg === "string")) return badLaunch("launch.json: plan.argv must be non-empty strings");
  if (typeof plan.env !== "object" || typeof plan.qmpSocket !== "string" || typeof plan.gracefulStop?.kind !== "string") return badLaunch("launch.json: plan.env, plan.qmpSocket, plan.gracefulStop required");
  if (!path.isAbsolute(String(parsed.fenceFile))) return badLaunch("launch.json: fenceFile must be an absolute path");
  if (!Number.isSafeInteger(parsed.fencePollMs) || parsed.fencePollMs < 1 || parsed.fencePollMs > 60_000) return badLaunch("launch.json: fencePollMs must be 1..60000");
  if (!Number.isSafeInteger(parsed.consoleBytesMax) || parsed.consoleBytesMax < 4096) return badLaunch("launch.json: consoleBytesMax must be at least 4096");
  return parsed;
}

/**
 * @param {string} detail
 * @returns {never}
 */
function badLaunch(detail) {
  const now = Date.now();
  /** @type {GuardState} */
  const failed = { vmId: 0, token: { nodeId: 0, epoch: 0, placement: 0 }, guardPid: process.pid, childPid: 0, state: "stopped", exit: "crashed", startedAtMs: now, stoppedAtMs: now, detail };
  fs.writeFileSync(`${files.state}.tmp`, `${JSON.stringify(failed)}\n`);
  fs.renameSync(`${files.state}.tmp`, files.state);
  process.exit(1);
}

/**
 * Whole milliseconds from `earlierNs` to `laterNs` (negative when it is the other way round).
 * @param {bigint} laterNs
 * @param {bigint} earlierNs
 */
function msBetween(laterNs, earlierNs) {
  return Number((laterNs - earlierNs) / NS_PER_MS);
}
