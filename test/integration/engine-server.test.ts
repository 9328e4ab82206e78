/**
 * The engine server (`difflora serve`) through the extension's own client code, as processes:
 * handshake, attention maps streamed as binary frames and checked against the numpy reference,
 * a crash in the middle of a request (kill -9) followed by a restart that works, the WebSocket
 * transport with and without the token, and malformed input that gets an error and loses nothing.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ChildProcess, spawn } from 'child_process';
import * as path from 'path';
import WebSocket from 'ws';
import { EngineConnection, EngineStoppedError, Endpoint } from '../../extension/engine/connection';
import { EngineState, EngineSupervisor } from '../../extension/engine/supervisor';
import { AttentionProgress, AttentionResult, Methods, PROTOCOL_VERSION, Rpc } from '../../protocol/engine';
import { decodeLayerMaps, encodedRow } from '../../protocol/map-pack';
import { decodeFrame, encodeFrame } from '../../protocol/wire';
import { makeCheckpoint, reference, ROOT, tempDir } from '../helpers/reference';
import { taskData, tinyModel } from '../helpers/train-fixture';

const CLI = path.join(ROOT, 'bin', 'difflora.js');
const local: Endpoint = { kind: 'local', node: process.execPath, script: CLI, args: ['--backend', 'wasm'] };
const TEXT = 'def scale_3(values):\n    return [v * 3 for v in values]\n';

interface Captured {
  ids: number[];
  tokens: (AttentionProgress & { type: 'model' }) | undefined;
  maps: Map<number, ReturnType<typeof decodeLayerMaps>>;
  wire: (AttentionProgress & { type: 'layer' })[];
}

async function capture(
  c: { request: EngineConnection['request'] },
  models?: string[],
): Promise<{ perModel: Captured[]; result: AttentionResult }> {
  const perModel: Captured[] = [];
  const result = await c.request(
    Rpc.attention,
    { text: TEXT, models },
    {
      onProgress: (p) => {
        if (p.type === 'model') perModel[p.index] = { ids: p.ids, tokens: p, maps: new Map(), wire: [] };
        else {
          perModel[p.index].maps.set(p.maps.layer, decodeLayerMaps(p.maps));
          perModel[p.index].wire.push(p);
        }
      },
    },
  );
  return { perModel, result };
}

describe('engine server and client', () => {
  const dir = tempDir('server');
  let model: string;
  let adapter: string;
  let conn: EngineConnection;
  const logs: string[] = [];

  before(async () => {
    model = tinyModel(path.join(dir, 'model'));
    adapter = makeCheckpoint('difflora', path.join(dir, 'difflora'), ['--base', model, '--seed', '3', '--lambda', '0.3']);
    conn = await EngineConnection.open(local, (l) => logs.push(l));
  });
  after(async () => {
    await conn?.shutdown();
  });

  it('shakes hands and loads a model with an adapter', async () => {
    assert.equal(conn.info.protocolVersion, PROTOCOL_VERSION);
    assert.equal(conn.info.backend, 'wasm');
    const r = await conn.request(Rpc.loadModel, { model, adapters: [{ label: 'DiffLoRA', path: adapter }] });
    assert.deepEqual(
      r.models.map((m) => [m.label, m.kind]),
      [
        ['base', 'base'],
        ['DiffLoRA', 'difflora'],
      ],
    );
    assert.equal(r.layers, 2);
    assert.equal(r.heads, 4);
  });

  it('streams every layer of every model, equal to the numpy reference within 1e-4 (16-bit transport)', async () => {
    const { perModel, result } = await capture(conn);
    assert.equal(result.models, 2);
    const ids = perModel[0].ids;
    assert.equal(result.tokens, ids.length);
    // Token spans cover the text exactly, in order.
    const spans = perModel[0].tokens!.tokens;
    assert.equal(spans.map((t) => (t.start === undefined ? '' : TEXT.slice(t.start, t.end))).join(''), TEXT);
    for (const [i, a] of [undefined, adapter].entries()) {
      const ref = reference(model, a, ids);
      for (const rl of ref.layers) {
        const got = perModel[i].maps.get(rl.layer)!;
        assert.ok(got, `model ${i} layer ${rl.layer} missing`);
        const T = ids.length;
        for (const rh of rl.heads) {
          const hi = got.heads.indexOf(rh.head);
          for (const kind of ['positive', 'negative', 'differential'] as const) {
            const want = rh[kind];
            if (!want) {
              assert.equal(got[kind], undefined, `${kind} should be absent`);
              continue;
            }
            let worst = 0;
            for (let q = 0; q < T; q++)
              for (let k = 0; k < T; k++) worst = Math.max(worst, Math.abs(got[kind]![hi * T * T + q * T + k] - want[q][k]));
            assert.ok(worst < 1e-4, `model ${i} layer ${rl.layer} head ${rh.head} ${kind}: max error ${worst}`);
          }
        }
        if (rl.lambda !== undefined) assert.ok(Math.abs(got.lambda! - rl.lambda) < 1e-5);
        // One row read straight from the wire form (what the hover does) equals the decoded map.
        const w = perModel[i].wire.find((x) => x.maps.layer === rl.layer)!.maps;
        const row = encodedRow(w.maps.positive!, 1, w.tq, w.tk, T - 1);
        assert.deepEqual(Array.from(row), Array.from(got.positive.subarray(1 * T * T + (T - 1) * T, 1 * T * T + T * T)));
      }
    }
  });

  it('answers a bad request with an error naming what is wrong, and keeps serving', async () => {
    await assert.rejects(conn.request(Rpc.loadModel, { model: path.join(dir, 'nope'), adapters: [] }), /nope/);
    await assert.rejects(conn.request(Rpc.attention, { text: '' }), /no model loaded|empty text/);
    await conn.request(Rpc.loadModel, { model, adapters: [] });
    await assert.rejects(conn.request(Rpc.attention, { text: TEXT, models: ['DiffLoRA'] }), /no model "DiffLoRA" \(loaded: base\)/);
    await assert.rejects(conn.request(Rpc.attention, { text: '' }), /empty text/);
    const { result } = await capture(conn);
    assert.equal(result.models, 1);
  });

  it('refuses a client speaking another protocol version', async () => {
    const child = spawn(process.execPath, [CLI, 'serve', '--stdio', '--backend', 'cpu'], { stdio: ['pipe', 'pipe', 'ignore'] });
    try {
      const frame = encodeFrame({
        jsonrpc: '2.0',
        id: 1,
        method: Methods.initialize,
        params: { protocolVersion: PROTOCOL_VERSION + 1, client: 'test' },
      });
      child.stdin!.write(`Content-Length: ${frame.length}\r\n\r\n`);
      child.stdin!.write(frame);
      const reply = await readOneFrame(child);
      assert.match(
        (reply as { error: { message: string } }).error.message,
        new RegExp(`engine speaks protocol ${PROTOCOL_VERSION}, the client ${PROTOCOL_VERSION + 1}`),
      );
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('a crash mid-request fails that request clearly; the supervisor restarts the engine and the next request works', async () => {
    const states: EngineState[] = [];
    const crashes: string[] = [];
    let loads = 0;
    const sup = new EngineSupervisor(
      {
        endpoint: () => local,
        log: () => undefined,
        onState: (s) => states.push(s),
        onCrash: (why) => crashes.push(why),
        onStarted: async (c) => {
          loads++;
          await c.request(Rpc.loadModel, { model, adapters: [{ label: 'DiffLoRA', path: adapter }] });
        },
      },
      100,
    );
    try {
      const first = await sup.connection();
      const data = taskData(path.join(dir, 'task.jsonl'), 0, 64);
      const training = sup.request(
        Rpc.train,
        {
          model,
          method: 'difflora-32',
          data,
          out: path.join(dir, 'run'),
          options: { maxSteps: '200', batchSize: '4', effectiveBatch: '4' },
        },
        {
          onProgress: (e) => {
            if (e.type === 'step') process.kill(first.pid!, 'SIGKILL');
          },
        },
      );
      await assert.rejects(
        training,
        (e: Error) => e instanceof EngineStoppedError && /stopped during training: killed by SIGKILL/.test(e.message),
      );
      assert.equal(crashes.length, 1);
      const { result } = await capture(sup);
      assert.equal(result.models, 2, 'the restarted engine has the model and adapter loaded again');
      assert.equal(loads, 2);
      const second = await sup.connection();
      assert.notEqual(second.pid, first.pid);
      assert.deepEqual(states.slice(0, 4), ['starting', 'ready', 'crashed', 'starting']);
    } finally {
      await sup.dispose();
    }
  });
});

describe('remote engine over WebSocket', () => {
  const dir = tempDir('remote');
  let server: ChildProcess;
  let url: string;
  const TOKEN = 'test-token-0123456789';

  before(async () => {
    tinyModel(path.join(dir, 'model'));
    server = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--token', TOKEN, '--backend', 'wasm'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    url = await new Promise<string>((resolve, reject) => {
      let err = '';
      server.stderr!.setEncoding('utf8');
      server.stderr!.on('data', (d: string) => {
        err += d;
        const m = /listening on (ws:\/\/\S+)/.exec(err);
        if (m) resolve(m[1]);
      });
      server.once('exit', (code) => reject(new Error(`serve exited ${code}: ${err}`)));
    });
  });
  after(() => {
    server?.kill('SIGTERM');
  });

  it('listens on loopback only', () => {
    assert.match(url, /^ws:\/\/127\.0\.0\.1:\d+$/);
  });

  it('refuses a client without the token, or with a wrong one', async () => {
    await assert.rejects(
      EngineConnection.open({ kind: 'remote', url, token: '' }, () => undefined),
      /HTTP 401 \(wrong or missing token\)/,
    );
    await assert.rejects(
      EngineConnection.open({ kind: 'remote', url, token: 'guess' }, () => undefined),
      /HTTP 401/,
    );
  });

  it('serves a client with the token: the same maps as over stdio', async () => {
    const c = await EngineConnection.open({ kind: 'remote', url, token: TOKEN }, () => undefined);
    try {
      await c.request(Rpc.loadModel, { model: path.join(dir, 'model'), adapters: [] });
      const remote = await capture(c);
      const viaStdio = await EngineConnection.open(local, () => undefined);
      try {
        await viaStdio.request(Rpc.loadModel, { model: path.join(dir, 'model'), adapters: [] });
        const mine = await capture(viaStdio);
        assert.deepEqual(remote.perModel[0].ids, mine.perModel[0].ids);
        assert.deepEqual(Array.from(remote.perModel[0].maps.get(1)!.positive), Array.from(mine.perModel[0].maps.get(1)!.positive));
      } finally {
        await viaStdio.shutdown();
      }
    } finally {
      c.kill();
    }
  });

  it('survives malformed frames: logs them and answers the next valid request', async () => {
    const ws = await openRaw(url, TOKEN);
    try {
      ws.send('not a frame');
      ws.send(Buffer.from([1, 2]), { binary: true });
      ws.send(Buffer.from([255, 0, 0, 0, 123]), { binary: true });
      const logged: string[] = [];
      const reply = new Promise<unknown>((resolve) =>
        ws.on('message', (d) => {
          const m = decodeFrame(d as Buffer) as { id?: number; method?: string; params?: { message: string } };
          if (m.method === Methods.log) logged.push(m.params!.message);
          else resolve(m);
        }),
      );
      ws.send(
        encodeFrame({ jsonrpc: '2.0', id: 7, method: Methods.initialize, params: { protocolVersion: PROTOCOL_VERSION, client: 'raw' } }),
        { binary: true },
      );
      const r = (await reply) as { id: number; result: { protocolVersion: number } };
      assert.equal(r.id, 7);
      assert.equal(r.result.protocolVersion, PROTOCOL_VERSION);
      assert.ok(
        logged.some((l) => /bad message from the client: text message on a binary channel/.test(l)),
        logged.join('\n'),
      );
      assert.ok(
        logged.some((l) => /too short for its header/.test(l)),
        logged.join('\n'),
      );
      assert.ok(
        logged.some((l) => /runs past|JSON has \d+ bytes/.test(l)),
        logged.join('\n'),
      );
    } finally {
      ws.close();
    }
  });
});

/** A raw socket to the engine; retries while the server still holds the previous client (HTTP 409). */
async function openRaw(url: string, token: string): Promise<WebSocket> {
  for (let attempt = 0; ; attempt++) {
    const ws = new WebSocket(url, { headers: { Authorization: `Bearer ${token}` } });
    const status = await new Promise<number>((resolve, reject) => {
      ws.once('open', () => resolve(0));
      ws.once('unexpected-response', (_q, res) => resolve(res.statusCode ?? -1));
      ws.once('error', (e) => {
        if (!/Unexpected server response/.test(e.message)) reject(e);
      });
    });
    if (status === 0) return ws;
    if (status !== 409 || attempt > 50) throw new Error(`engine answered HTTP ${status}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Reads one Content-Length framed message from a child's stdout. */
function readOneFrame(child: ChildProcess): Promise<unknown> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    child.stdout!.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      const head = buf.indexOf('\r\n\r\n');
      if (head < 0) return;
      const len = Number(/Content-Length: (\d+)/.exec(buf.subarray(0, head).toString())?.[1]);
      if (buf.length >= head + 4 + len) resolve(decodeFrame(buf.subarray(head + 4, head + 4 + len)));
    });
    child.once('exit', (code) => reject(new Error(`engine exited ${code}`)));
  });
}
