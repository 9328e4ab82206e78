/**
 * Fuzzing the engine's transport ends: `difflora serve --stdio`, and `difflora serve --port` (WebSocket,
 * one frame per binary message), fed between ordinary requests frames of random bytes, byte-edited and
 * cut frames, well-formed frames whose JSON is not a JSON-RPC message (any JSON; ids, methods and params
 * of the wrong type; unknown methods; stray responses) and, on the WebSocket, text messages. After each,
 * the engine must still answer an engine/status request, and never exit or write anything but frames
 * on stdout. Bounded: ~60 bad frames per transport in CI.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ChildProcess, spawn } from 'child_process';
import * as path from 'path';
import fc from 'fast-check';
import WebSocket from 'ws';
import { Methods } from '../../protocol/engine';
import { decodeFrame, encodeFrame } from '../../protocol/wire';
import { fuzzParams } from '../helpers/fuzz';
import { ROOT } from '../helpers/reference';

const CLI = path.join(ROOT, 'bin', 'difflora.js');

/** Reads Content-Length framed messages off the engine's stdout. */
class FrameReader {
  private buf = Buffer.alloc(0);
  private readonly waiting = new Map<number, (m: Record<string, unknown>) => void>();
  readonly stray: unknown[] = [];

  constructor(child: ChildProcess) {
    child.stdout!.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.drain();
    });
  }

  private drain(): void {
    for (;;) {
      const end = this.buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const m = /Content-Length: (\d+)/i.exec(this.buf.subarray(0, end).toString('ascii'));
      assert.ok(m, `not a frame header on stdout: ${JSON.stringify(this.buf.subarray(0, end + 4).toString('latin1'))}`);
      const len = Number(m[1]);
      if (this.buf.length < end + 4 + len) return;
      const msg = decodeFrame(this.buf.subarray(end + 4, end + 4 + len)) as Record<string, unknown>;
      this.buf = this.buf.subarray(end + 4 + len);
      const resolve = typeof msg.id === 'number' ? this.waiting.get(msg.id) : undefined;
      if (resolve) {
        this.waiting.delete(msg.id as number);
        resolve(msg);
      } else this.stray.push(msg);
    }
  }

  response(id: number, ms: number): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new Error(`no response to request ${id} within ${ms} ms`));
      }, ms);
      this.waiting.set(id, (m) => {
        clearTimeout(timer);
        resolve(m);
      });
    });
  }
}

function send(child: ChildProcess, body: Uint8Array): void {
  child.stdin!.write(`Content-Length: ${body.length}\r\n\r\n`);
  child.stdin!.write(body);
}

const idArb = fc.oneof(fc.integer({ min: -5, max: 5 }), fc.constantFrom<unknown>(null, 'x', 1.5, [], {}, true, 1e300));
const messageArb = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  fc.record(
    {
      jsonrpc: fc.oneof(fc.constant('2.0'), fc.jsonValue({ maxDepth: 0 })),
      id: idArb,
      // Not 'shutdown': it ends the session by design (test/fuzz/rpc.test.ts covers the methods' params).
      method: fc.oneof(
        fc.constantFrom(...Object.values(Methods).filter((m) => m !== Methods.shutdown), '$/cancelRequest', '$/progress', 'nope', ''),
        fc.jsonValue({ maxDepth: 0 }),
      ),
      params: fc.jsonValue({ maxDepth: 2 }),
      result: fc.jsonValue({ maxDepth: 1 }),
      error: fc.jsonValue({ maxDepth: 1 }),
    },
    { requiredKeys: [] },
  ),
);
/** A bad frame body: random bytes, a good frame edited or cut, or a good frame carrying a bad message. */
const badBodyArb: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.uint8Array({ maxLength: 40 }),
  fc
    .tuple(
      messageArb,
      fc.array(fc.record({ at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }), { maxLength: 3 }),
      fc.option(fc.nat(), { nil: undefined }),
    )
    .map(([m, edits, cut]) => {
      const f = encodeFrame(m);
      for (const { at, byte } of edits) f[at % f.length] = byte;
      return cut === undefined ? f : f.subarray(0, cut % (f.length + 1));
    }),
  messageArb.map((m) => encodeFrame(m)),
);

describe('fuzz: frames the engine receives', () => {
  let child: ChildProcess;
  let reader: FrameReader;
  let exited: string | undefined;
  let stderr = '';

  before(async () => {
    child = spawn(process.execPath, [CLI, 'serve', '--stdio', '--backend', 'cpu'], { stdio: ['pipe', 'pipe', 'pipe'] });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      stderr = (stderr + d).slice(-4000);
    });
    child.on('exit', (code, signal) => {
      exited = `exit ${code ?? signal}`;
    });
    child.stdin!.on('error', () => undefined);
    reader = new FrameReader(child);
    send(child, encodeFrame({ jsonrpc: '2.0', id: 1_000_000, method: Methods.initialize, params: { protocolVersion: 1, client: 'fuzz' } }));
    const init = await reader.response(1_000_000, 30_000);
    assert.ok(init.result, JSON.stringify(init));
  });

  after(() => {
    if (!exited) child.kill('SIGKILL');
  });

  test('bad frames and bad messages between requests: the engine keeps answering', async () => {
    const bodies = fc.sample(badBodyArb, fuzzParams(60, 3000));
    for (const [i, body] of bodies.entries()) {
      send(child, body);
      const id = 2_000_000 + i;
      send(child, encodeFrame({ jsonrpc: '2.0', id, method: Methods.status, params: {} }));
      let r: Record<string, unknown>;
      try {
        r = await reader.response(id, 10_000);
      } catch (e) {
        assert.fail(
          `after bad frame #${i} ${JSON.stringify(Buffer.from(body).toString('latin1')).slice(0, 200)}: ${(e as Error).message}; ${exited ?? 'still running'}\n${stderr}`,
        );
      }
      assert.ok(r.result && typeof (r.result as { numTensors?: unknown }).numTensors === 'number', JSON.stringify(r));
    }
    assert.equal(exited, undefined, `the engine exited\n${stderr}`);
    // Answers to bad requests, if any, are JSON-RPC errors, not results.
    for (const m of reader.stray) assert.ok(typeof m === 'object' && m !== null, JSON.stringify(m));
  });
});

describe('fuzz: WebSocket messages the engine receives', () => {
  const TOKEN = 'fuzz-token';
  let child: ChildProcess;
  let ws: WebSocket;
  let stderr = '';
  const waiting = new Map<number, (m: Record<string, unknown>) => void>();

  before(async () => {
    child = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--token', TOKEN, '--backend', 'cpu'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no "listening on" line within 30 s:\n${stderr}`)), 30_000);
      child.stderr!.setEncoding('utf8').on('data', (d: string) => {
        stderr = (stderr + d).slice(-4000);
        const m = /listening on (ws:\/\/\S+)/.exec(stderr);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]);
        }
      });
    });
    ws = new WebSocket(url, { headers: { Authorization: `Bearer ${TOKEN}` } });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    ws.on('message', (data: Buffer) => {
      const m = decodeFrame(new Uint8Array(data)) as Record<string, unknown>;
      const r = typeof m.id === 'number' ? waiting.get(m.id) : undefined;
      if (r) {
        waiting.delete(m.id as number);
        r(m);
      }
    });
  });

  after(() => {
    ws?.terminate();
    child?.kill('SIGKILL');
  });

  const request = (id: number, method: string, params: unknown, ms: number) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const timer = setTimeout(() => {
        waiting.delete(id);
        reject(new Error(`no response to request ${id} within ${ms} ms`));
      }, ms);
      waiting.set(id, (m) => {
        clearTimeout(timer);
        resolve(m);
      });
      ws.send(encodeFrame({ jsonrpc: '2.0', id, method, params }), { binary: true });
    });

  test('bad binary and text messages between requests: the engine keeps answering', async () => {
    const init = await request(1, Methods.initialize, { protocolVersion: 1, client: 'fuzz' }, 30_000);
    assert.ok(init.result, JSON.stringify(init));
    const badArb = fc.oneof(
      { weight: 3, arbitrary: badBodyArb.map((b) => ({ data: b, binary: true })) },
      { weight: 1, arbitrary: fc.oneof(fc.string({ maxLength: 20 }), fc.json({ maxDepth: 1 })).map((t) => ({ data: t, binary: false })) },
    );
    for (const [i, bad] of fc.sample(badArb, fuzzParams(60, 3000)).entries()) {
      ws.send(bad.data, { binary: bad.binary });
      try {
        const r = await request(2_000_000 + i, Methods.status, {}, 10_000);
        assert.ok(r.result, JSON.stringify(r));
      } catch (e) {
        assert.fail(
          `after bad message #${i} ${JSON.stringify(typeof bad.data === 'string' ? bad.data : Buffer.from(bad.data).toString('latin1')).slice(0, 200)}: ${(e as Error).message}\n${stderr}`,
        );
      }
    }
    assert.equal(ws.readyState, WebSocket.OPEN);
  });
});
