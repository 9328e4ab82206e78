/**
 * The architecture's boundaries (test/helpers/layering.ts), checked on every source file of the
 * product, and the checker itself checked on planted violations.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { ROOT } from '../helpers/reference';
import { importSpecifiers, violations } from '../helpers/layering';

function sources(dir: string): { file: string; text: string }[] {
  return fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap((e) => {
    const rel = path.posix.join(dir, e.name);
    if (e.isDirectory()) return sources(rel);
    return /\.tsx?$/.test(e.name) ? [{ file: rel, text: fs.readFileSync(path.join(ROOT, rel), 'utf8') }] : [];
  });
}

describe('layering', () => {
  const all = ['engine', 'protocol', 'extension', 'webview', 'demo'].flatMap(sources);

  it('reads the sources (the check is not vacuous)', () => {
    assert.ok(all.length > 100, `${all.length} files`);
    const session = all.find((s) => s.file === 'engine/server/session.ts')!;
    assert.ok(importSpecifiers(session.file, session.text).includes('../api'));
  });

  it('every product source keeps the boundaries', () => {
    assert.deepEqual(violations(all), []);
  });

  it('catches each kind of planted violation, however the import is spelt', () => {
    const planted: { file: string; text: string; breaks?: number }[] = [
      { file: 'engine/model/x.ts', text: "import { a } from '../../extension/engine/connection';" },
      { file: 'engine/x.ts', text: "export * from '../webview/report';" },
      { file: 'engine/y.ts', text: "import type * as vscode from 'vscode';" },
      // The server reaching into the CLI breaks two rules: the server's own, and "nothing imports the CLI".
      { file: 'engine/server/session.ts', text: "const { runTraining } = require('../cli/train-command');", breaks: 2 },
      { file: 'engine/server/z.ts', text: "async function f() { return import('../cli/main'); }", breaks: 2 },
      { file: 'engine/server/session.ts', text: "import { loadModel } from '../model/load';" },
      { file: 'engine/server/params.ts', text: "import type { Problem } from '../humaneval';" },
      { file: 'engine/cli/data-command.ts', text: "import { extractFolder } from '../data/extract';" },
      { file: 'engine/cli/main.ts', text: "export { setRequestedThreads } from '../backends/native';" },
      { file: 'engine/terminal/output.ts', text: "import { loadProgress } from '../cli/progress';" },
      { file: 'engine/api/train.ts', text: "import type { Flags } from '../cli/train-command';" },
      { file: 'demo/main.ts', text: "import { printingContext } from '../engine/cli/output';" },
      { file: 'webview/attention/panel.ts', text: "import * as fs from 'node:fs';" },
      { file: 'webview/a.ts', text: "type T = import('../engine/model/llama').LayerMaps;" },
      { file: 'webview/b.ts', text: "import cp = require('child_process');" },
      { file: 'extension/engine/connection.ts', text: "import { wsTransport } from '../../engine/server/ws-transport';" },
      { file: 'extension/panels/panel-host.ts', text: "import { panelHtml } from '../../webview/report';" },
      { file: 'protocol/engine.ts', text: "import type { Adapter } from '../engine/model/adapter-weights';" },
      { file: 'protocol/attention.ts', text: "import { ProgressType } from 'vscode-jsonrpc';" },
      { file: 'protocol/transport/stream.ts', text: "import { InputError } from '../../engine/errors';" },
    ];
    for (const p of planted) {
      const found = violations([p]);
      assert.ok(found.length > 0, `not caught: ${p.file}: ${p.text}`);
      assert.equal(found.length, p.breaks ?? 1, found.join('\n'));
    }
  });

  it('lets the allowed imports through', () => {
    const fine = [
      {
        file: 'engine/server/session.ts',
        text: "import { trainAdapter } from '../api';\nimport * as fs from 'fs';\nimport { MessageConnection } from 'vscode-jsonrpc';",
      },
      { file: 'engine/cli/main.ts', text: "import { serve } from '../server/serve';" },
      {
        file: 'engine/cli/humaneval-command.ts',
        text: "import { humanEval } from '../api';\nimport { parseInteger } from '../api/parse';\nimport { InputError } from '../errors';\nimport { BackendName } from '../backend';\nimport { printingContext } from '../terminal/output';\nimport { HUMANEVAL_DEFAULTS } from '../../protocol/engine';\nimport { Command } from 'commander';",
      },
      {
        file: 'engine/server/serve.ts',
        text: "import { initBackend } from '../backend';\nimport { InputError } from '../errors';\nimport { Session } from './session';\nimport * as tf from '@tensorflow/tfjs-core';",
      },
      { file: 'engine/terminal/output.ts', text: "import type { RunContext } from '../api';\nimport { SingleBar } from 'cli-progress';" },
      {
        file: 'demo/main.ts',
        text: "import { openModel } from '../engine/api';\nimport { printingContext } from '../engine/terminal/output';",
      },
      {
        file: 'extension/engine/connection.ts',
        text: "import WebSocket from 'ws';\nimport { spawn } from 'child_process';\nimport { Rpc } from '../../protocol/engine';\nimport { streamTransport } from '../../protocol/transport/stream';",
      },
      { file: 'extension/main.ts', text: "import * as vscode from 'vscode';\nimport { EngineHost } from './engine/engine-host';" },
      {
        file: 'webview/attention/main.ts',
        text: "import { el } from '../dom';\nimport type { ModelAttention } from '../../protocol/attention';\nimport * as d3 from 'd3';",
      },
      { file: 'protocol/transport/websocket.ts', text: "import type WebSocket from 'ws';\nimport { decodeFrame } from '../wire';" },
      { file: 'protocol/engine.ts', text: "import type { TrainEvent } from './training';" },
    ];
    assert.deepEqual(violations(fine), []);
  });
});
