/**
 * An engine that dies in the middle of writing a large frame (the timing that once left the client's
 * reader re-arming a timer for ever, so that the test process never exited): the request fails with
 * the reason, and the client process holds no handle afterwards. Deterministic: the fake engine
 * writes half a frame, flushes it, and kills itself.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { EngineConnection, EngineStoppedError } from '../../extension/engine/connection';
import { Methods, PROTOCOL_VERSION, Rpc } from '../../protocol/engine';
import { ROOT, tempDir } from '../helpers/reference';

/** Speaks the handshake like an engine, then answers model/load with half of a 4 MB frame and SIGKILL. */
const HALF_FRAME_ENGINE = `
const fs = require('fs');
const { createMessageConnection } = require(${JSON.stringify(path.join(ROOT, 'node_modules', 'vscode-jsonrpc', 'node'))});
const { streamTransport } = require(${JSON.stringify(path.join(ROOT, 'out', 'protocol', 'transport', 'stream.js'))});
const { reader, writer } = streamTransport(process.stdin, process.stdout);
const conn = createMessageConnection(reader, writer);
conn.onRequest('${Methods.initialize}', () => ({ protocolVersion: ${PROTOCOL_VERSION}, engineVersion: 'fake', backend: 'cpu', backendDetail: 'fake', pid: process.pid, node: process.version }));
conn.onRequest('${Methods.loadModel}', () => {
  const body = Buffer.alloc(4 << 20, 32);
  fs.writeSync(1, 'Content-Length: ' + body.length + '\\r\\n\\r\\n');
  fs.writeSync(1, body.subarray(0, body.length >> 1));
  process.kill(process.pid, 'SIGKILL');
});
conn.listen();
`;

/** Handles of this process by type, the kinds that keep it alive. */
function handles(): Map<string, number> {
  const m = new Map<string, number>();
  for (const r of process.getActiveResourcesInfo()) m.set(r, (m.get(r) ?? 0) + 1);
  return m;
}

function extra(now: Map<string, number>, base: Map<string, number>): string[] {
  return [...now].filter(([k, n]) => n > (base.get(k) ?? 0)).map(([k, n]) => `${k} x${n - (base.get(k) ?? 0)}`);
}

describe('engine killed mid-frame', () => {
  it('fails the request with the reason and leaves no handle behind', async () => {
    const script = path.join(tempDir('half-frame'), 'engine.js');
    fs.writeFileSync(script, HALF_FRAME_ENGINE);
    const base = handles();
    const c = await EngineConnection.open({ kind: 'local', node: process.execPath, script, args: [] }, () => undefined);
    await assert.rejects(
      c.request(Rpc.loadModel, { model: 'x', adapters: [] }),
      (e: Error) => e instanceof EngineStoppedError && /stopped during loading the model: killed by SIGKILL/.test(e.message),
    );
    assert.equal(c.alive, false);
    // Pipes close a moment after the exit; a leaked timer would stay (and re-arm every 10 s).
    let left: string[] = [];
    for (let i = 0; i < 50; i++) {
      left = extra(handles(), base);
      if (left.length === 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.deepEqual(left, [], `handles left after the engine died: ${left.join(', ')}`);
  });

  it("a shutdown request ends the engine by itself (exit code 0), not by the client's SIGKILL", async () => {
    const c = await EngineConnection.open(
      { kind: 'local', node: process.execPath, script: path.join(ROOT, 'bin', 'difflora.js'), args: ['--backend', 'cpu'] },
      () => undefined,
    );
    const why = new Promise<string>((resolve) => c.onExit(resolve));
    await c.shutdown();
    assert.equal(await why, 'exit code 0');
  });
});
