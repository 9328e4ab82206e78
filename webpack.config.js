// Bundles: the engine CLI/process (node). The extension (node, `vscode` external) and the webview (web)
// join here as they are built.
const path = require('path');
const CopyPlugin = require('copy-webpack-plugin');

const tsRule = { test: /\.ts$/, loader: 'ts-loader', exclude: /node_modules/, options: { configFile: 'tsconfig.json', transpileOnly: true } };

const engine = {
  name: 'engine',
  target: 'node20',
  entry: { cli: './engine/cli/main.ts' },
  output: { path: path.resolve(__dirname, 'dist', 'engine'), filename: '[name].js', library: { type: 'commonjs2' } },
  resolve: { extensions: ['.ts', '.js'] },
  module: { rules: [tsRule] },
  // Native or optional: loaded at run time from node_modules, never bundled.
  externals: { webgpu: 'commonjs webgpu', '@tensorflow/tfjs-node': 'commonjs @tensorflow/tfjs-node', '@tensorflow/tfjs-node-gpu': 'commonjs @tensorflow/tfjs-node-gpu' },
  plugins: [
    new CopyPlugin({ patterns: [
      { from: 'node_modules/@tensorflow/tfjs-backend-wasm/dist/*.wasm', to: '[name][ext]' },
      { from: 'engine/data/py/extract_functions.py', to: 'py/[name][ext]' },
    ] }),
  ],
  node: { __dirname: false, __filename: false },
  devtool: 'source-map',
  // A CLI gains nothing from minification, and the build is four times faster without it.
  optimization: { minimize: false },
  performance: { hints: false },
  stats: 'errors-warnings',
};

module.exports = [engine];
