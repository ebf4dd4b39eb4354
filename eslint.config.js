// Lint rules. The block for core directories enforces the determinism rule of
// docs/ARCHITECTURE.md: core code reaches time, timers, randomness and I/O only
// through the Environment interface (src/core/env/environment.ts).
import tseslint from "typescript-eslint";

const coreDirectories = ["src/core/**"];

const nondeterministic = "is forbidden in core code: use the Environment interface (src/core/env/environment.ts)";

export default tseslint.config(
  { ignores: ["node_modules/**", "src/shell/api/gen/**", "coverage/**"] },
  ...tseslint.configs.recommended,
  {
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/no-non-null-assertion": "off",
    },
  },
  {
    files: coreDirectories,
    rules: {
      "@typescript-eslint/no-explicit-any": "error",
      "no-restricted-globals": [
        "error",
        ...["setTimeout", "setInterval", "setImmediate", "clearTimeout", "clearInterval", "queueMicrotask", "performance", "fetch"].map(
          (name) => ({ name, message: `${name} ${nondeterministic}` }),
        ),
      ],
      "no-restricted-properties": [
        "error",
        { object: "Date", property: "now", message: `Date.now ${nondeterministic}` },
        { object: "Math", property: "random", message: `Math.random ${nondeterministic}` },
        { object: "process", property: "hrtime", message: `process.hrtime ${nondeterministic}` },
        { object: "performance", property: "now", message: `performance.now ${nondeterministic}` },
        { object: "crypto", property: "getRandomValues", message: `crypto.getRandomValues ${nondeterministic}` },
      ],
      "no-restricted-syntax": [
        "error",
        { selector: "NewExpression[callee.name='Date'][arguments.length=0]", message: `new Date() ${nondeterministic}` },
      ],
      "no-restricted-imports": [
        "error",
        {
          paths: ["fs", "node:fs", "fs/promises", "node:fs/promises", "net", "node:net", "dgram", "node:dgram", "child_process", "node:child_process", "http", "node:http", "http2", "node:http2", "timers", "node:timers", "worker_threads", "node:worker_threads"].map(
            (name) => ({ name, message: `${name} ${nondeterministic}` }),
          ),
        },
      ],
    },
  },
);
