// `blixard kv get|put|cas`: the replicated key-value map through a node's API.
// Reads are linearizable unless --serializable; writes sent to a follower are forwarded.
// Exit codes: 0 done, 1 certainly not applied, 2 bad flags, 3 outcome unknown (may have been
// applied: read back before retrying a cas), 7 a cas whose compare failed (nothing changed). See
// docs/OPERATIONS.md, "Outcomes".
import type { Command } from "commander";
import { CompareAndSetResponseSchema, GetResponseSchema, PutResponseSchema } from "../api/gen/blixard/v1/kv_pb.ts";
import { addApiOptions, EXIT_CONFLICT, runApiCall, runApiCallAnswering, type ApiCommandOptions } from "./api-output.ts";

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

  addApiOptions(kv.command("put <key> <value>").description("write a key")).action((key: string, value: string, options: ApiCommandOptions) =>
    runApiCall(
      options,
      PutResponseSchema,
      (clients) => clients.kv.put({ key, value }),
      (response) => `OK (index ${response.index})`,
    ),
  );

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
