#!/usr/bin/env node
// The engine CLI. Runs the webpack bundle; `npm run build` makes it.
const path = require('path');
const fs = require('fs');
const bundle = path.join(__dirname, '..', 'dist', 'engine', 'cli.js');
if (!fs.existsSync(bundle)) {
  process.stderr.write(`difflora: error: ${bundle} is missing; run "npm run build" first\n`);
  process.exit(1);
}
require(bundle)
  .main(process.argv.slice(2))
  .then((code) => process.exit(code));
