// Lint rules. The block for every file under src/ except src/shell/ enforces the determinism rule of
// docs/ARCHITECTURE.md ("Determinism"): core code reaches time, timers, randomness and
// I/O only through the Environment interface (src/core/env/environment.ts), never runs
// async code, uses no float math whose last bits the language leaves to the engine, and
// imports nothing but other core files. test/lint/determinism-guard.test.ts proves that
// every rule here fires, including on the known walk-arounds (aliases, computed access,
// globalThis, dynamic import, a helper under src/shell).
//
// Deterministic is the default: the rules apply to all of src/ but the shell, so a file placed
// anywhere else under src/ (a stray src/raft/, a new top-level folder) is held to them too, and
// blixard/layout tells it where it belongs. Only src/shell/ may reach the operating system.
import { builtinModules } from "node:module";
import { dirname, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import tseslint from "typescript-eslint";

const repositoryRoot = dirname(fileURLToPath(import.meta.url));
const coreFiles = ["src/**"];
const shellFiles = ["src/shell/**"];

const nondeterministic = "is forbidden in core code: use the Environment interface (src/core/env/environment.ts)";
const engineDependent = "is forbidden in core code: its result is not exactly specified by the language and may differ between engines; use + - * / and integer math";
const asynchronous = "is forbidden in core code: the core is synchronous (the simulator's loop never resumes an await); return effects instead";
const localeDependent = "is forbidden in core code: its result depends on the host's locale and ICU data";

/** Globals that read the world (clock, randomness, process, host), run code later or run strings as code. */
const forbiddenGlobals = [
  ["globalThis", "reaches every global (a walk-around for the rest of this list)"],
  ["window", "reaches every global"],
  ["global", "reaches every global"],
  ["self", "reaches every global"],
  ["eval", "runs a string as code, out of the linter's sight"],
  ["Function", "(the Function constructor) runs a string as code, out of the linter's sight"],
  ["process", "reads the process (environment, clock, nextTick)"],
  ["crypto", "draws operating-system randomness"],
  ["Date", "reads the wall clock (Date(), new Date(), Date.now and every alias)"],
  ["performance", "reads a clock"],
  ["setTimeout", "schedules on the real clock"],
  ["setInterval", "schedules on the real clock"],
  ["setImmediate", "schedules on the event loop"],
  ["clearTimeout", "schedules on the real clock"],
  ["clearInterval", "schedules on the real clock"],
  ["clearImmediate", "schedules on the event loop"],
  ["queueMicrotask", "schedules on the event loop"],
  ["fetch", "does network I/O"],
  ["WeakRef", "depends on when the garbage collector runs"],
  ["FinalizationRegistry", "depends on when the garbage collector runs"],
  ["SharedArrayBuffer", "shares memory between threads"],
  ["Atomics", "synchronizes threads"],
  ["WebAssembly", "runs code whose float results (NaN bits) are engine-dependent"],
  ["Buffer", "is Node.js-only (and Buffer.allocUnsafe hands out uninitialized memory): use Uint8Array"],
  ["navigator", "reads the host"],
  ["require", "loads modules at run time"],
  ["module", "is CommonJS machinery"],
  ["__dirname", "reads the file system layout"],
  ["__filename", "reads the file system layout"],
];

const lockedGlobalMessages = new Map([
  ["Promise", `Promise ${asynchronous}`],
  ["Intl", `Intl ${localeDependent}`],
]);

/** Math functions whose results ECMAScript leaves implementation-approximated (sqrt, floor, ... are exact and stay allowed). */
const transcendentalMath = [
  "log", "log2", "log10", "log1p", "exp", "expm1", "pow", "sin", "cos", "tan", "asin", "acos", "atan", "atan2",
  "sinh", "cosh", "tanh", "asinh", "acosh", "atanh", "cbrt", "hypot",
];

const localeMethods = ["localeCompare", "toLocaleString", "toLocaleDateString", "toLocaleTimeString", "toLocaleUpperCase", "toLocaleLowerCase"];

/** Every Node.js builtin module, bare ("fs", "fs/promises") and prefixed ("node:fs"). */
const nodeBuiltins = [...new Set(builtinModules.flatMap((name) => (name.startsWith("node:") ? [name] : [name, `node:${name}`])))].sort();

/**
 * blixard/core-imports: core imports only relative paths that stay inside src/core.
 * A path resolution, not a pattern: "../../shell/os/x.ts" from src/core/sim is caught
 * however it is spelled. Covers import/export-from, dynamic import(), `import x = require()`.
 */
const coreImportsRule = {
  meta: {
    type: "problem",
    docs: { description: "core code imports only relative paths inside src/core" },
    schema: [],
    messages: {
      nonRelative: "import of '{{source}}' is forbidden in core code: core depends on nothing outside src/core (no npm package, no Node.js module); only relative imports of core files",
      intoShell: "import of '{{source}}' reaches into src/shell/, which is forbidden in core code: the shell implements the environment, transport, API, runtime and CLI on the operating system; the core must not depend on it",
      outsideCore: "import of '{{source}}' ({{target}}) reaches outside src/core/, which is forbidden in core code: core depends only on other core files",
      dynamicImport: "dynamic import() is forbidden in core code: it loads code at run time, asynchronously",
    },
  },
  create(context) {
    const filename = context.filename ?? context.getFilename();
    const coreRoot = resolve(repositoryRoot, "src", "core");
    const shellRoot = resolve(repositoryRoot, "src", "shell");
    const inside = (path, root) => path === root || path.startsWith(root + sep);
    const check = (node, source) => {
      if (typeof source !== "string") return;
      if (!source.startsWith("./") && !source.startsWith("../")) {
        context.report({ node, messageId: "nonRelative", data: { source } });
        return;
      }
      const target = resolve(dirname(filename), source);
      if (inside(target, shellRoot)) context.report({ node, messageId: "intoShell", data: { source } });
      else if (!inside(target, coreRoot)) context.report({ node, messageId: "outsideCore", data: { source, target: relative(repositoryRoot, target) } });
    };
    return {
      ImportDeclaration: (node) => check(node, node.source.value),
      ExportNamedDeclaration: (node) => node.source && check(node, node.source.value),
      ExportAllDeclaration: (node) => check(node, node.source.value),
      TSImportEqualsDeclaration: (node) => node.moduleReference.type === "TSExternalModuleReference" && check(node, node.moduleReference.expression.value),
      ImportExpression: (node) => context.report({ node, messageId: "dynamicImport" }),
    };
  },
};

/** blixard/layout: every source file lives under src/core (deterministic) or src/shell (the operating system). */
const layoutRule = {
  meta: {
    type: "problem",
    docs: { description: "source files live under src/core or src/shell" },
    schema: [],
    messages: {
      outsideLayout:
        "{{file}} is outside src/core and src/shell: core code (deterministic, linted by these rules) goes under src/core/, code that uses the operating system under src/shell/ (docs/ARCHITECTURE.md, \"Where things live\")",
    },
  },
  create(context) {
    const filename = context.filename ?? context.getFilename();
    const file = relative(repositoryRoot, filename).split(sep).join("/");
    return {
      Program: (node) => {
        if (!file.startsWith("src/core/") && !file.startsWith("src/shell/")) context.report({ node, messageId: "outsideLayout", data: { file } });
      },
    };
  },
};

export default tseslint.config(
  { ignores: ["node_modules/**", "src/shell/api/gen/**", "coverage/**", "dist/**"] },
  ...tseslint.configs.recommended,
  {
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/no-non-null-assertion": "off",
    },
  },
  {
    files: coreFiles,
    ignores: shellFiles,
    plugins: { blixard: { rules: { "core-imports": coreImportsRule, layout: layoutRule } } },
    rules: {
      "blixard/layout": "error",
      "@typescript-eslint/no-explicit-any": "error",
      "blixard/core-imports": "error",
      "no-restricted-globals": [
        "error",
        ...forbiddenGlobals.map(([name, why]) => ({ name, message: `${name} ${why}; it ${nondeterministic}` })),
        ...[...lockedGlobalMessages].map(([name, message]) => ({ name, message })),
      ],
      "no-restricted-properties": [
        "error",
        { object: "Math", property: "random", message: `Math.random ${nondeterministic}` },
        ...transcendentalMath.map((name) => ({ object: "Math", property: name, message: `Math.${name} ${engineDependent}` })),
        ...localeMethods.map((name) => ({ property: name, message: `${name} ${localeDependent}` })),
        { property: "then", message: `.then ${asynchronous}` },
        { property: "constructor", message: ".constructor is forbidden in core code: it reaches the Function constructor (code from a string)" },
      ],
      "no-restricted-syntax": [
        "error",
        { selector: ":function[async=true]", message: `An async function ${asynchronous}` },
        { selector: "TSDeclareFunction[async=true]", message: `An async function ${asynchronous}` },
        { selector: "AwaitExpression", message: `await ${asynchronous}` },
        { selector: "ForOfStatement[await=true]", message: `for await ${asynchronous}` },
        { selector: "TSTypeReference > Identifier.typeName[name=/^(Promise|PromiseLike|Awaited|AsyncIterable|AsyncIterator|AsyncIterableIterator|AsyncGenerator)$/]", message: `A Promise type (Promise, PromiseLike, Awaited, async iterables) ${asynchronous}` },
        { selector: "TSTypeReference > Identifier.typeName[name='Date']", message: "The Date type is forbidden in core code: time is integer microseconds or milliseconds from the Environment's clock (src/core/env/environment.ts)" },
        { selector: "BinaryExpression[operator='**']", message: `The ** operator ${engineDependent} (a shift or a multiplication loop is exact)` },
        { selector: "AssignmentExpression[operator='**=']", message: `The **= operator ${engineDependent} (a shift or a multiplication loop is exact)` },
        { selector: "MemberExpression[computed=true][object.type='Identifier'][object.name='Math']", message: "Computed access to Math (Math[name]) is forbidden in core code: the linter cannot see which function it reaches (Math.random, Math.log ...)" },
        { selector: "Identifier[name='Math']:not(MemberExpression[computed=false] > Identifier.object)", message: "Math used other than as Math.name (an alias such as const M = Math, or Math passed around) is forbidden in core code: the linter could no longer see Math.random or Math.log" },
        {
          selector: "VariableDeclaration[declare=true], TSDeclareFunction[declare=true], ClassDeclaration[declare=true], TSEnumDeclaration[declare=true], TSModuleDeclaration[declare=true], TSModuleDeclaration[kind='global']",
          message: "An ambient declaration (declare ...) is forbidden in core code: it names a runtime global the linter no longer sees (declare const process: ... hides process)",
        },
        { selector: "MetaProperty[meta.name='import']", message: "import.meta is forbidden in core code: it reads the module's location on the file system" },
        { selector: "ImportDeclaration[source.value=/^node:/]", message: "A node: import is forbidden in core code: core does no I/O and uses no Node.js module" },
      ],
      "no-restricted-imports": [
        "error",
        { paths: nodeBuiltins.map((name) => ({ name, message: `the Node.js module ${name} is forbidden in core code: core does no I/O; use the Environment interface (src/core/env/environment.ts)` })) },
      ],
    },
  },
);
