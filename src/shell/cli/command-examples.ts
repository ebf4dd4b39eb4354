// Examples for the commands whose own file gives none, attached to their help by the command
// tree (main.ts), so every command's --help ends with one (test/shell/cli/help-examples.test.ts
// walks the whole tree). Keyed by the command's path under `blixard`.

export const COMMAND_EXAMPLES: Readonly<Record<string, readonly string[]>> = {
  sim: ["blixard sim --seed 42 --nodes 5 --time 2m --faults heavy", "blixard sim --workload orchestrator --seed 3 --vm-history vms.jsonl"],
  cluster: ["blixard cluster status", "blixard cluster wait --timeout 30 && blixard cluster members -o json"],
  "cluster status": ["blixard cluster status --endpoint https://127.0.0.1:8001", "blixard cluster status -o yaml"],
  "cluster members": ["blixard cluster members -o json"],
  "cluster add-learner": ["blixard cluster add-learner 4 --peer 127.0.0.1:7004 --api 127.0.0.1:8004", "blixard cluster add-learner 4 --peer 10.0.0.9:7004 --update-addresses"],
  "cluster promote": ["blixard cluster promote 4"],
  "cluster remove": ["blixard cluster remove 3"],
  "cluster transfer-leader": ["blixard cluster transfer-leader 2"],
  kv: ["blixard kv put greeting hello && blixard kv get greeting", "blixard kv list --prefix jobs/ -o json"],
  "kv get": ["blixard kv get greeting", "blixard kv get greeting -o json        # found, value, revisions"],
  "kv cas": ["blixard kv cas counter 41 42            # exit 7 if counter is not 41"],
  token: ["blixard token create --role read-only --ttl 12h", "blixard token list"],
  "token list": ["blixard token list -o json"],
  "token revoke": ["blixard token revoke 3f2a9c0d1e4b5a67"],
  ca: ["blixard ca init --dir ca && blixard ca issue --dir ca --node-id 1"],
  "ca init": ["blixard ca init --dir ca"],
  "ca issue": ["blixard ca issue --dir ca --node-id 1 --host 10.0.0.1", "blixard ca issue --dir ca --client admin"],
  image: ["blixard image build"],
  help: ["blixard help kv put"],
};

/** The help text that ends a command's help: "Example:" or "Examples:", one command per line. */
export function examplesText(lines: readonly string[]): string {
  return `\n${lines.length === 1 ? "Example" : "Examples"}:\n${lines.map((line) => `  ${line}`).join("\n")}\n`;
}
