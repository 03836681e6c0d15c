// Arbiter for disagreements: how TypeScript itself resolves a specifier written in a file.
// Reads JSON lines {"root", "config" (tsconfig path or null), "file", "specifier"} on stdin and
// prints one JSON line per query: {"resolved": repo-relative path or null}.
// Usage: node bench/ts_resolve.cjs /work/tools/graph-depcruise/node_modules/typescript < queries
const path = require("path");
const readline = require("readline");
const ts = require(process.argv[2]);

const parsedConfigs = new Map();

function optionsFor(root, config) {
  if (!config) return { allowJs: true, moduleResolution: ts.ModuleResolutionKind.Bundler, module: ts.ModuleKind.ESNext };
  if (!parsedConfigs.has(config)) {
    const absolute = path.resolve(root, config);
    const read = ts.readConfigFile(absolute, ts.sys.readFile);
    const parsed = ts.parseJsonConfigFileContent(read.config || {}, ts.sys, path.dirname(absolute));
    parsedConfigs.set(config, { allowJs: true, ...parsed.options });
  }
  return parsedConfigs.get(config);
}

const lines = readline.createInterface({ input: process.stdin });
lines.on("line", (line) => {
  const query = JSON.parse(line);
  const options = optionsFor(query.root, query.config);
  const result = ts.resolveModuleName(query.specifier, path.resolve(query.root, query.file), options, ts.sys);
  const found = result.resolvedModule ? path.relative(query.root, result.resolvedModule.resolvedFileName) : null;
  process.stdout.write(JSON.stringify({ resolved: found && found.split(path.sep).join("/") }) + "\n");
});
