// `blixard kv get|put|cas`: the replicated key-value map through a node's API.
// Reads are linearizable unless --serializable; writes sent to a follower are forwarded.
// Exit codes: 0 done, 1 certainly not applied, 2 bad flags, 3 outcome unknown (may have been
// applied: read back before retrying a cas), 7 a cas whose compare failed (nothing changed). See
// docs/OPERATIONS.md, "Outcomes".
import { createReadStream } from "node:fs";
import type { Command } from "commander";
import { KV_VALUE_BYTES_MAX } from "../../core/replica/kv-state-machine.ts";
import { UsageError } from "./usage-error.ts";
import { CompareAndSetResponseSchema, GetResponseSchema, PutResponseSchema } from "../api/gen/blixard/v1/kv_pb.ts";
import { addApiOptions, EXIT_CONFLICT, runApiCall, runApiCallAnswering, type ApiCommandOptions } from "./api-output.ts";

/** Reads all of a stream, refusing more than KV_VALUE_BYTES_MAX (a value the node would refuse anyway). */
async function readBounded(stream: NodeJS.ReadableStream, where: string): Promise<string> {
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of stream) {
    const buffer = typeof chunk === "string" ? Buffer.from(chunk) : (chunk as Buffer);
    bytes += buffer.length;
    if (bytes > KV_VALUE_BYTES_MAX) throw new UsageError(`${where}: the value is larger than ${KV_VALUE_BYTES_MAX} bytes`);
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

export function registerKvCommand(program: Command): void {
  const kv = program.command("kv").description("read and write the replicated key-value map");

  addApiOptions(kv.command("get <key>").description("read a key (absent keys read as empty)"))
    .option("--serializable", "answer from the contacted node's applied state (may be stale)")
    .action((key: string, options: ApiCommandOptions & { serializable?: boolean }) =>
      runApiCall(
        options,
        GetResponseSchema,
        (clients) => clients.kv.get({ key, serializable: options.serializable === true }),
        (response) => response.value,
      ),
    );

  addApiOptions(kv.command("put <key> [value]").description('write a key; the value from the argument, "-" for stdin, or --from-file'))
    .option("--from-file <FILE>", "read the value from FILE (UTF-8, at most 64 KiB)")
    .addHelpText("after", "\nExample:\n  blixard kv put greeting hello\n  echo hello | blixard kv put greeting -\n  blixard kv put motd --from-file motd.txt\n")
    .action(async (key: string, value: string | undefined, options: ApiCommandOptions & { fromFile?: string }) => {
      const text = await valueOf(value, options.fromFile);
      await runApiCall(
        options,
        PutResponseSchema,
        (clients) => clients.kv.put({ key, value: text }),
        (response) => `OK (index ${response.index})`,
      );
    });

  addApiOptions(kv.command("cas <key> <expected> <value>").description('set key to value only if it currently equals expected ("" = absent)')).action(
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
}
