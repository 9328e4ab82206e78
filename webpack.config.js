// Bundles: the engine CLI/process (node), the webviews (web) and the extension (node, `vscode` external).
const path = require('path');
const CopyPlugin = require('copy-webpack-plugin');
const webpack = require('webpack');

const tsRule = {
  test: /\.ts$/,
  loader: 'ts-loader',
  exclude: /node_modules/,
  options: { configFile: 'tsconfig.json', transpileOnly: true },
};

// ws loads these native speed-ups only if they are installed.
const wsOptional = { bufferutil: 'commonjs bufferutil', 'utf-8-validate': 'commonjs utf-8-validate' };

const engine = {
  name: 'engine',
  target: 'node20',
  entry: { cli: './engine/cli/main.ts' },
  output: { path: path.resolve(__dirname, 'dist', 'engine'), filename: '[name].js', library: { type: 'commonjs2' } },
  resolve: { extensions: ['.ts', '.js'] },
  module: { rules: [tsRule] },
  // Native or optional: loaded at run time from node_modules, never bundled.
  externals: {
    webgpu: 'commonjs webgpu',
    '@tensorflow/tfjs-node': 'commonjs @tensorflow/tfjs-node',
    '@tensorflow/tfjs-node-gpu': 'commonjs @tensorflow/tfjs-node-gpu',
    ...wsOptional,
  },
  plugins: [
    new CopyPlugin({
      patterns: [
        { from: 'node_modules/@tensorflow/tfjs-backend-wasm/dist/*.wasm', to: '[name][ext]' },
        // The native backend's addon for this platform (engine/backends/native-addon.ts looks for this
        // name); without it (npm run build:native not run) the engine falls back to wasm.
        {
          from: 'engine/native/build/Release/difflora_native.node',
          to: `difflora_native.${process.platform}-${process.arch}.node`,
          noErrorOnMissing: true,
        },
        { from: 'engine/data/py/extract_functions.py', to: 'py/[name][ext]' },
        { from: 'engine/humaneval/py/*.py', to: 'py/[name][ext]' },
      ],
    }),
  ],
  node: { __dirname: false, __filename: false },
  devtool: 'source-map',
  // A CLI gains nothing from minification, and the build is four times faster without it.
  optimization: { minimize: false },
  performance: { hints: false },
  stats: 'errors-warnings',
};

// The webviews (browser): attention (D3 + canvas), training, compare and analysis; no Node and no `vscode`.
// Their CSS is copied next to them (a VS Code panel links it; the self-contained report inlines both).
const webview = {
  name: 'webview',
  target: 'web',
  entry: {
    attention: './webview/attention/main.ts',
    training: './webview/training/main.ts',
    compare: './webview/compare/main.ts',
    analysis: './webview/analysis/main.ts',
  },
  output: { path: path.resolve(__dirname, 'dist', 'webview'), filename: '[name].js' },
  resolve: { extensions: ['.ts', '.js'] },
  module: { rules: [{ ...tsRule, options: { configFile: path.resolve(__dirname, 'webview', 'tsconfig.json'), transpileOnly: true } }] },
  plugins: [
    new CopyPlugin({
      patterns: [
        { from: 'media/attention.css', to: 'attention.css' },
        { from: 'media/panels.css', to: 'panels.css' },
      ],
    }),
    // No eval in any mode (strict CSP): a separate source map file, for the script only.
    new webpack.SourceMapDevToolPlugin({ filename: '[file].map', test: /\.js$/ }),
  ],
  devtool: false,
  // ASCII-only output: the bundle reads the same whatever charset a host serves it with.
  optimization: { minimizeOptions: { javascript: { compress: { passes: 2 }, format: { ascii_only: true } } } },
  performance: { hints: false },
  stats: 'errors-warnings',
};

// The VS Code extension host side (node): `vscode` is provided by the host.
const extension = {
  name: 'extension',
  target: 'node20',
  entry: { main: './extension/main.ts' },
  output: { path: path.resolve(__dirname, 'dist', 'extension'), filename: '[name].js', library: { type: 'commonjs2' } },
  resolve: { extensions: ['.ts', '.js'] },
  module: { rules: [tsRule] },
  externals: { vscode: 'commonjs vscode', ...wsOptional },
  devtool: 'source-map',
  optimization: { minimize: false },
  performance: { hints: false },
  stats: 'errors-warnings',
};

module.exports = [engine, webview, extension];
