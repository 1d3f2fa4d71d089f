'use strict';
// run-node.js - run one export of a freestanding .wasm module under node (V8).
//
// usage: node run-node.js FILE.wasm [EXPORT [ARG...]]
//
// Instantiates the module with no imports, calls EXPORT (default "run") with
// the given integer arguments and prints each result on its own line
// (i64 results arrive as BigInt and are printed as plain integers).

const fs = require('fs');

function main(argv) {
  if (argv.length < 1) {
    process.stderr.write('usage: node run-node.js FILE.wasm [EXPORT [ARG...]]\n');
    return 2;
  }
  const file = argv[0];
  const name = argv.length > 1 ? argv[1] : 'run';
  const args = argv.slice(2).map((a) => Number(a));

  const module = new WebAssembly.Module(fs.readFileSync(file));
  const imports = WebAssembly.Module.imports(module);
  if (imports.length !== 0) {
    process.stderr.write(`${file}: module has ${imports.length} import(s); ` +
                         'only freestanding modules are supported\n');
    return 1;
  }
  const instance = new WebAssembly.Instance(module, {});
  const fn = instance.exports[name];
  if (typeof fn !== 'function') {
    process.stderr.write(`${file}: no exported function "${name}"\n`);
    return 1;
  }
  let results = fn(...args);
  if (results === undefined) results = [];
  else if (!Array.isArray(results)) results = [results];
  for (const r of results) process.stdout.write(String(r) + '\n');
  return 0;
}

process.exitCode = main(process.argv.slice(2));
