// `blixard kv get|put|cas|delete|list|watch|append|read-list|txn`: the replicated key-value map through a node's API.
// Reads are linearizable unless --serializable; writes sent to a follower are forwarded.
// Exit codes: 0 done, 1 certainly not applied, 2 bad flags, 3 outcome unknown (may have been
// applied: read back before retrying a cas), 6 `get` of an absent key, 7 a cas whose compare
// failed (nothing changed) or a watch from a compacted revision. A txn whose compares failed
// ran its else branch: that is a success (exit 0), and it says so. See docs/OPERATIONS.md,
// "Outcomes" and "Key-value commands".
import { createReadStream } from "node:fs";
import type { Command } from "commander";
import { Code, ConnectError } from "@connectrpc/connect";
import { create, fromJson, toJson, type JsonValue } from "@bufbuild/protobuf";
import YAML from "yaml";
import { KV_KEYS_MAX, KV_VALUE_BYTES_MAX } from "../../core/replica/kv-state-machine.ts";
import { KV_LIST_LIMIT_MAX } from "../../core/replica/request-types.ts";
import { UsageError } from "./usage-error.ts";
import { KV_TXN_TEXT_BYTES_MAX } from "../../core/replica/kv-txn.ts";
import {
  AppendResponseSchema,
  ReadListResponseSchema,
  TxnRequestSchema,
  TxnResponseSchema,
  type TxnOpResult,
  type TxnRequest,
  CompareAndSetResponseSchema,
  DeleteResponseSchema,
  GetResponseSchema,
  KvEventSchema,
  ListResponseSchema,
  PutResponseSchema,
  type KvEntry,
  type KvEvent,
} from "../api/gen/blixard/v1/kv_pb.ts";
import { WATCH_EVENTS_MAX, WATCH_WAIT_MS_MAX } from "../api/kv-watch.ts";
import {
  addApiOptions,
  apiClients,
  EXIT_CONFLICT,
  EXIT_NOT_FOUND,
  formatMessage,
  formatTable,
  reportApiError,
  runApiCall,
  runApiCallAnswering,
  type ApiCommandOptions,
} from "./api-output.ts";

/** How long one blocking watch call waits for a change before it answers empty and the CLI asks again. */
const WATCH_CALL_WAIT_MS = 30_000;
/** A watch call's own deadline beyond its wait: the answer's trip. */
const WATCH_CALL_SLACK_MS = 10_000;
/** Values longer than this, or with control characters, show as their size in a list table. */
const LIST_TABLE_VALUE_CHARS_MAX = 64;

/** A non-negative integer flag, at most `max`. */
function parseCount(text: string, flag: string, min: number, max: number): number {
  if (!/^\d+$/.test(text) || Number(text) < min || Number(text) > max) throw new UsageError(`${flag}: "${text.slice(0, 40)}" is not an integer in ${min}..${max}`);
  return Number(text);
}

/** Reads all of a stream, refusing more than KV_VALUE_BYTES_MAX (a value the node would refuse anyway). */
async function readBounded(stream: NodeJS.ReadableStream, where: string, bytesMax: number = KV_VALUE_BYTES_MAX): Promise<string> {
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of stream) {
    const buffer = typeof chunk === "string" ? Buffer.from(chunk) : (chunk as Buffer);
    bytes += buffer.length;
    if (bytes > bytesMax) throw new UsageError(`${where}: larger than ${bytesMax} bytes`);
    chunks.push(buffer);
  }
  return Buffer.concat(chunks).toString("utf8");
}

/** The value of a put: the argument, "-" for stdin, or --from-file; exactly one of them. */
async function valueOf(argument: string | undefined, fromFile: string | undefined): Promise<string> {
  if ((argument === undefined) === (fromFile === undefined)) throw new UsageError('give the value as an argument ("-" for stdin) or with --from-file, not both and not neither');
  if (fromFile !== undefined) {
    let stream: NodeJS.ReadableStream;
    try {
      stream = createReadStream(fromFile);
      await new Promise<void>((resolve, reject) => (stream as ReturnType<typeof createReadStream>).once("open", () => resolve()).once("error", reject));
    } catch (error) {
      throw new UsageError(`--from-file: cannot read ${fromFile} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
    }
    return readBounded(stream, `--from-file ${fromFile}`);
  }
  return argument === "-" ? readBounded(process.stdin, "stdin") : argument!;
}

/** One change as the watch prints it. */
function formatEvent(event: KvEvent, output: string): string {
  if (output === "json") return JSON.stringify(toJson(KvEventSchema, event, { alwaysEmitImplicit: true }));
  if (output === "yaml") return `---\n${YAML.stringify(toJson(KvEventSchema, event, { alwaysEmitImplicit: true })).trimEnd()}`;
  if (event.type === "append") return `APPEND ${event.key} ${JSON.stringify(event.value)} (revision ${event.revision})`;
  return event.type === "delete" ? `DELETE ${event.key} (revision ${event.revision})` : `PUT ${event.key} ${JSON.stringify(event.value)} (revision ${event.revision})`;
}

export function registerKvCommand(program: Command): void {
  const kv = program.command("kv").description("read and write the replicated key-value map");

  addApiOptions(
    kv
      .command("get <key>")
      .description("read a key: its value (an empty value prints an empty line); an absent key is \"key K not found\" on stderr and exit 6")
      .addHelpText("after", "\n-o json|yaml also shows found, create_revision, mod_revision and version.\n"),
  )
    .option("--serializable", "answer from the contacted node's applied state (may be stale)")
    .action(async (key: string, options: ApiCommandOptions & { serializable?: boolean }) => {
      const clients = apiClients(options);
      let response;
      try {
        response = await clients.kv.get({ key, serializable: options.serializable === true });
      } catch (error) {
        return reportApiError(error, clients);
      }
      if (options.output === "json" || options.output === "yaml") process.stdout.write(`${formatMessage(options.output, GetResponseSchema, response)}\n`);
      else if (response.found) process.stdout.write(`${response.value}\n`);
      else process.stderr.write(`key ${key} not found\n`);
      if (!response.found) process.exitCode = EXIT_NOT_FOUND;
    });

  addApiOptions(kv.command("put <key> [value]").description('write a key; the value from the argument, "-" for stdin, or --from-file'))
    .option("--from-file <FILE>", "read the value from FILE (UTF-8, at most 64 KiB)")
    .option("--create-only", "write only if the key is absent (an existing key, even an empty one, exits 7 and is left as it is)")
    .addHelpText("after", "\nExample:\n  blixard kv put greeting hello\n  echo hello | blixard kv put greeting -\n  blixard kv put motd --from-file motd.txt\n  blixard kv put lock/owner node-3 --create-only\n")
    .action(async (key: string, value: string | undefined, options: ApiCommandOptions & { fromFile?: string; createOnly?: boolean }) => {
      const text = await valueOf(value, options.fromFile);
      if (options.createOnly === true) {
        const response = await runApiCallAnswering(
          options,
          CompareAndSetResponseSchema,
          (clients) => clients.kv.compareAndSet({ key, expected: "", value: text, expectAbsent: true }),
          (answer) => (answer.succeeded ? `OK (index ${answer.index})` : `FAILED: ${key} exists (value ${JSON.stringify(answer.current)}, index ${answer.index})`),
        );
        if (response !== undefined && !response.succeeded) process.exitCode = EXIT_CONFLICT;
        return;
      }
      await runApiCall(
        options,
        PutResponseSchema,
        (clients) => clients.kv.put({ key, value: text }),
        (response) => `OK (index ${response.index})`,
      );
    });

  addApiOptions(
    kv
      .command("cas <key> <expected> <value>")
      .description('set key to value only if it currently equals expected; an absent key compares equal to "" (for "only if absent" use kv put --create-only)'),
  ).action(
    async (key: string, expected: string, value: string, options: ApiCommandOptions) => {
      const response = await runApiCallAnswering(
        options,
        CompareAndSetResponseSchema,
        (clients) => clients.kv.compareAndSet({ key, expected, value }),
        (answer) => (answer.succeeded ? `OK (index ${answer.index})` : `FAILED: current value is ${JSON.stringify(answer.current)} (index ${answer.index})`),
      );
      // A compare that failed changed nothing, certainly: the conflict code, as for a stale generation.
      if (response !== undefined && !response.succeeded) process.exitCode = EXIT_CONFLICT;
    },
  );

  addApiOptions(
    kv
      .command("delete <key>")
      .description("delete a key, or with --prefix the keys starting with it (at most 256 per command: run it again while it says more remain)")
      .addHelpText("after", "\nExample:\n  blixard kv delete greeting\n  blixard kv delete --prefix jobs/\n"),
  )
    .option("--prefix", "delete the keys starting with KEY (the first 256 in key order)")
    .action((key: string, options: ApiCommandOptions & { prefix?: boolean }) =>
      runApiCall(
        options,
        DeleteResponseSchema,
        (clients) => clients.kv.delete({ key, prefix: options.prefix === true }),
        (response) => {
          const what = options.prefix === true ? `${response.deleted} keys starting with ${key} deleted` : response.deleted === 1n ? `${key} deleted` : `${key} not found, nothing deleted`;
          const more = response.more ? `; more keys starting with ${key} remain (256 per command): run it again` : "";
          return `${what} (index ${response.index})${more}`;
        },
      ),
    );

  addApiOptions(kv.command("append <key> [value]").description('append a value to the key\'s list (a key holds a value or a list: appending to a value is refused, exit 7); the value from the argument, "-" for stdin, or --from-file'))
    .option("--from-file <FILE>", "read the value from FILE (UTF-8, at most 64 KiB)")
    .addHelpText("after", "\nA list holds at most 1024 elements and 64 KiB of elements. Read it with kv read-list.\n\nExample:\n  blixard kv append history/1 '{\"op\":1}'\n")
    .action(async (key: string, value: string | undefined, options: ApiCommandOptions & { fromFile?: string }) => {
      const text = await valueOf(value, options.fromFile);
      await runApiCall(
        options,
        AppendResponseSchema,
        (clients) => clients.kv.append({ key, value: text }),
        (response) => `OK (length ${response.length}, index ${response.index})`,
      );
    });

  addApiOptions(kv.command("read-list <key>").description('read a key\'s whole list, one element per line (JSON-quoted); an absent key is "key K holds no list" on stderr and exit 6'))
    .addHelpText("after", "\nExample:\n  blixard kv read-list history/1\n  blixard kv read-list history/1 -o json\n")
    .action(async (key: string, options: ApiCommandOptions) => {
      const response = await runApiCallAnswering(options, ReadListResponseSchema, (clients) => clients.kv.readList({ key }), (answer) => answer.list.map((element) => JSON.stringify(element)).join("\n"));
      if (response !== undefined && !response.found) {
        process.stderr.write(`key ${key} holds no list\n`);
        process.exitCode = EXIT_NOT_FOUND;
      }
    });

  addApiOptions(
    kv
      .command("txn")
      .description("run a transaction from a YAML or JSON file: compares, then the success operations if all hold, else the failure operations; atomic, one revision")
      .addHelpText(
        "after",
        "\nThe file (docs/OPERATIONS.md, \"Transactions\"):\n" +
          "  compare:\n" +
          "    - { key: a, target: value, op: \"==\", value: \"1\" }      # value ==/!=\n" +
          "    - { key: b, target: version, op: \"<\", number: 3 }      # version, mod-revision, create-revision ==/!=/</>\n" +
          "    - { key: c, target: exists, exists: false }\n" +
          "  success:\n" +
          "    - { op: put, key: b, value: \"2\" }                    # put, delete, get, append, read-list\n" +
          "  failure:\n" +
          "    - { op: get, key: b }\n" +
          "\nA txn whose compares failed ran its else branch: exit 0, and the table says \"else branch\". An operation that\n" +
          "cannot apply (a put to a list key, an append to a value) refuses the whole txn: nothing written, exit 7.\n" +
          "\nExample:\n  blixard kv txn --file txn.yaml\n  blixard kv txn --file - -o json < txn.json\n",
      ),
  )
    .requiredOption("-f, --file <FILE>", 'the transaction, YAML or JSON ("-" for stdin)')
    .action(async (options: ApiCommandOptions & { file: string }) => {
      const request = await readTxnFile(options.file);
      await runApiCall(options, TxnResponseSchema, (clients) => clients.kv.txn(request), (response) => {
        const branch = response.succeeded ? "success branch ran: every compare held" : "else branch ran: a compare did not hold";
        const rows = response.results.map((result, i) => [String(i), result.op, describeTxnResult(result)]);
        return `${branch} (index ${response.index})${rows.length > 0 ? `\n${formatTable(["#", "OP", "RESULT"], rows)}` : ""}`;
      });
    });

  addApiOptions(
    kv
      .command("list")
      .description("list keys in key order (each page a linearizable read; pages are followed up to --limit)")
      .addHelpText("after", "\nExample:\n  blixard kv list --prefix jobs/\n  blixard kv list --prefix jobs/ --keys-only --limit 5000\n  blixard kv list --start-after jobs/0999 -o json\n"),
  )
    .option("--prefix <P>", "only keys starting with P (default: every key)", "")
    .option("--limit <N>", `at most N keys in all (1..${KV_KEYS_MAX})`, "1000")
    .option("--start-after <K>", "only keys after K (continue a listing that stopped at K)", "")
    .option("--keys-only", "leave the values out (the table shows each value's size)")
    .action(async (options: ApiCommandOptions & { prefix: string; limit: string; startAfter: string; keysOnly?: boolean }) => {
      const limit = parseCount(options.limit, "--limit", 1, KV_KEYS_MAX);
      const clients = apiClients(options);
      const entries: KvEntry[] = [];
      let startAfter = options.startAfter;
      let more = true;
      let index = 0n;
      // Each page holds at least one key, so this loop ends after at most `limit` pages.
      while (more && entries.length < limit) {
        let page;
        try {
          page = await clients.kv.list({ prefix: options.prefix, startAfter, limit: Math.min(KV_LIST_LIMIT_MAX, limit - entries.length), keysOnly: options.keysOnly === true });
        } catch (error) {
          return reportApiError(error, clients);
        }
        entries.push(...page.entries);
        more = page.more;
        index = page.index;
        if (page.entries.length === 0) break;
        startAfter = page.nextStartAfter;
      }
      const next = more ? (entries.at(-1)?.key ?? "") : "";
      if (options.output === "json" || options.output === "yaml") {
        process.stdout.write(`${formatMessage(options.output, ListResponseSchema, create(ListResponseSchema, { entries, more, nextStartAfter: next, index }))}\n`);
      } else {
        const shown = (entry: KvEntry): string =>
          options.keysOnly === true || entry.value.length > LIST_TABLE_VALUE_CHARS_MAX || /[\u0000-\u001f\u007f]/.test(entry.value) ? `(${entry.valueBytes} bytes)` : entry.value;
        process.stdout.write(`${formatTable(["KEY", options.keysOnly === true ? "SIZE" : "VALUE", "MOD_REVISION"], entries.map((entry) => [entry.key, shown(entry), String(entry.modRevision)]))}\n`);
      }
      if (more) process.stderr.write(`more keys remain after ${next}: continue with --start-after ${next}\n`);
    });

  addApiOptions(
    kv
      .command("watch [key]")
      .description("print each change of KEY (or of the keys starting with --prefix) in revision order, from --rev (default: now)")
      .addHelpText(
        "after",
        "\nEach change is one line: PUT KEY VALUE (revision R) or DELETE KEY (revision R); -o json|yaml prints one event per line/document.\n" +
          "--timeout-ms here is how long to watch in all (default: until --count changes, or for ever); a revision\n" +
          "older than the node keeps exits 7 with the oldest available revision.\n\nExample:\n  blixard kv watch greeting\n  blixard kv watch --prefix jobs/ --rev 120 --count 10\n",
      ),
  )
    .option("--prefix <P>", "watch the keys starting with P (\"\" for every key) instead of one key")
    .option("--rev <R>", "report changes from revision R on (default: from now)")
    .option("--count <N>", "stop after N changes")
    .action(async (key: string | undefined, options: ApiCommandOptions & { prefix?: string; rev?: string; count?: string }, command: Command) => {
      if ((key === undefined) === (options.prefix === undefined)) throw new UsageError("give a KEY or --prefix P, not both and not neither");
      const fromRevision = options.rev === undefined ? 0 : parseCount(options.rev, "--rev", 1, Number.MAX_SAFE_INTEGER);
      const count = options.count === undefined ? Number.POSITIVE_INFINITY : parseCount(options.count, "--count", 1, Number.MAX_SAFE_INTEGER);
      const watchForMs = command.getOptionValueSource("timeoutMs") === "default" ? Number.POSITIVE_INFINITY : parseCount(options.timeoutMs, "--timeout-ms", 1, Number.MAX_SAFE_INTEGER);
      const stopAtMs = Date.now() + watchForMs;
      const clients = apiClients({ ...options, timeoutMs: String(WATCH_CALL_WAIT_MS + WATCH_CALL_SLACK_MS) });
      let next = BigInt(fromRevision);
      let printed = 0;
      while (printed < count) {
        const remainingMs = stopAtMs - Date.now();
        if (remainingMs <= 0) return;
        const waitMs = Math.min(WATCH_CALL_WAIT_MS, WATCH_WAIT_MS_MAX, remainingMs);
        let answer;
        try {
          answer = await clients.kv.watch(
            { key: key ?? options.prefix ?? "", prefix: options.prefix !== undefined, fromRevision: next, maxEvents: Math.min(WATCH_EVENTS_MAX, count - printed), waitMs },
            { timeoutMs: waitMs + WATCH_CALL_SLACK_MS },
          );
        } catch (error) {
          const connect = ConnectError.from(error);
          if (connect.code === Code.FailedPrecondition && /has been compacted/.test(connect.rawMessage)) {
            process.stderr.write(`blixard: ${connect.rawMessage}\n`);
            process.exitCode = EXIT_CONFLICT;
            return;
          }
          return reportApiError(error, clients);
        }
        for (const event of answer.events) {
          if (printed >= count) break;
          process.stdout.write(`${formatEvent(event, options.output)}\n`);
          printed += 1;
        }
        next = answer.nextRevision;
      }
    });
}

/** A txn file: YAML or JSON (YAML reads both), in the TxnRequest's JSON form; bounded like the request it becomes. */
async function readTxnFile(file: string): Promise<TxnRequest> {
  // The keys and values have at most KV_TXN_TEXT_BYTES_MAX bytes; the file's syntax a little more.
  const bytesMax = 2 * KV_TXN_TEXT_BYTES_MAX;
  let text: string;
  if (file === "-") text = await readBounded(process.stdin, "stdin", bytesMax);
  else {
    let stream: NodeJS.ReadableStream;
    try {
      stream = createReadStream(file);
      await new Promise<void>((resolve, reject) => (stream as ReturnType<typeof createReadStream>).once("open", () => resolve()).once("error", reject));
    } catch (error) {
      throw new UsageError(`--file: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
    }
    text = await readBounded(stream, `--file ${file}`, bytesMax);
  }
  let parsed: unknown;
  try {
    parsed = YAML.parse(text);
  } catch (error) {
    throw new UsageError(`--file ${file}: not YAML or JSON (${(error as Error).message.split("\n")[0]})`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new UsageError(`--file ${file}: a transaction is a map with compare, success and failure lists`);
  try {
    return fromJson(TxnRequestSchema, parsed as JsonValue);
  } catch (error) {
    throw new UsageError(`--file ${file}: ${(error as Error).message}`);
  }
}

/** One operation's result as the table shows it. */
function describeTxnResult(result: TxnOpResult): string {
  switch (result.op) {
    case "put":
      return "OK";
    case "delete":
      return result.deleted === 1n ? "deleted" : "not found, nothing deleted";
    case "append":
      return `OK (length ${result.length})`;
    case "get":
      return result.found ? `${JSON.stringify(result.value)} (mod revision ${result.modRevision}, version ${result.version})` : "not found";
    case "read-list":
      return result.found ? JSON.stringify(result.list) : "no list";
    default:
      return result.op;
  }
}
