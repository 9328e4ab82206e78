#!/usr/bin/env node
// Builds the native backend's addon (build/Release/difflora_native.node) with node-gyp, offline:
// node-gyp reads its build settings from the running Node's own headers (<prefix>/include/node), so
// it never downloads a header tarball. `npm run build:native` runs it; scripts/setup.sh calls that.
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const candidates = [process.env.npm_config_nodedir, path.resolve(process.execPath, '..', '..')].filter(Boolean);
const nodedir = candidates.find((d) => fs.existsSync(path.join(d, 'include', 'node', 'common.gypi')));
if (!nodedir) {
  console.error(
    `build:native: Node's headers (include/node/common.gypi) not found under ${candidates.join(', ')}; install the Node package that ships them`,
  );
  process.exit(1);
}
// npm runs scripts with its bundled node-gyp's path in npm_config_node_gyp; outside npm, look beside npm.
const gyp =
  process.env.npm_config_node_gyp ??
  path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
// nodedir both ways: node-gyp lets an npm_config_nodedir from the environment override the flag.
const r = spawnSync(process.execPath, [gyp, 'rebuild', '--directory', __dirname, `--nodedir=${nodedir}`], {
  stdio: 'inherit',
  env: { ...process.env, npm_config_nodedir: nodedir },
});
process.exit(r.status ?? 1);
