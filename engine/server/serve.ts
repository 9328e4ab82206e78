/**
 * The engine as a JSON-RPC server for the VS Code extension (`difflora serve`).
 * - `--stdio` (what the extension starts): messages on stdin/stdout, the log on stderr;
 * - `--port N`: a WebSocket server for an extension on another machine. It listens on loopback unless
 *   `--host` says otherwise, and only accepts clients that present the token
 *   (`Authorization: Bearer <token>`); one client at a time.
 */
import * as crypto from 'crypto';
import * as http from 'http';
import { createMessageConnection, MessageConnection, MessageReader, MessageWriter } from 'vscode-jsonrpc/node';
import { WebSocketServer } from 'ws';
import { LOG_NOTIFICATION, LogParams, Rpc } from '../../protocol/engine';
import { BackendInfo, BackendName, initBackend } from '../backend';
import { EngineSession } from './session';
import { streamTransport } from '../../protocol/transport/stream';
import { wsTransport } from '../../protocol/transport/websocket';

export interface ServeOptions {
  /** Listen for one WebSocket client on this port (0 = any free port); absent: stdio. */
  port?: number;
  host: string;
  /** The token clients must present; default $DIFFLORA_ENGINE_TOKEN, else a random one, printed. */
  token?: string;
  backend: BackendName | 'auto';
}

function startSession(reader: MessageReader, writer: MessageWriter, backend: BackendInfo, onClose: () => void): MessageConnection {
  const conn = createMessageConnection(reader, writer);
  const log = (level: LogParams['level'], message: string) => {
    process.stderr.write(`${message}\n`);
    void conn.sendNotification(LOG_NOTIFICATION, { level, message } satisfies LogParams).catch(() => undefined);
  };
  const session = new EngineSession(conn, backend, log);
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    session.dispose();
    onClose();
  };
  // After the answer has gone out; dispose() alone does not end a stdio session (its stdin stays open).
  conn.onRequest(Rpc.shutdown.method, () => {
    setImmediate(() => {
      conn.dispose();
      close();
    });
    return null;
  });
  conn.onClose(close);
  // A malformed frame is the client's bug: say so in the log and keep serving.
  reader.onError((e) => log('error', `bad message from the client: ${(e as Error).message ?? e}`));
  conn.listen();
  return conn;
}

function tokensEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && crypto.timingSafeEqual(x, y);
}

export async function serve(f: ServeOptions): Promise<void> {
  const log = (l: string) => process.stderr.write(`${l}\n`);
  // stdout carries the protocol: nothing else may write there (tfjs prints through console.log).
  console.log = (...a: unknown[]) => log(a.map(String).join(' '));
  const backend = await initBackend(f.backend, log);
  if (f.port === undefined) {
    const { reader, writer } = streamTransport(process.stdin, process.stdout);
    await new Promise<void>((resolve) => startSession(reader, writer, backend, resolve));
    return;
  }
  const port = f.port;
  const token = f.token ?? process.env.DIFFLORA_ENGINE_TOKEN ?? crypto.randomBytes(24).toString('hex');
  if (!f.token && !process.env.DIFFLORA_ENGINE_TOKEN)
    log(`token (give it to the extension: "DiffLoRA: Attach to Remote Engine"): ${token}`);
  let busy = false;
  const server = http.createServer((_req, res) => {
    res.writeHead(426).end('a WebSocket endpoint\n');
  });
  const wss = new WebSocketServer({
    server,
    maxPayload: 64 * 1024 * 1024,
    verifyClient: (info, done) => {
      const auth = info.req.headers.authorization ?? '';
      const given = auth.startsWith('Bearer ') ? auth.slice(7) : '';
      if (!tokensEqual(given, token)) {
        log(`refused ${info.req.socket.remoteAddress}: ${given ? 'wrong' : 'no'} token`);
        done(false, 401, 'a valid token is required');
        return;
      }
      if (busy) {
        done(false, 409, 'the engine is serving another client');
        return;
      }
      done(true);
    },
  });
  wss.on('connection', (ws, req) => {
    busy = true;
    log(`client ${req.socket.remoteAddress} attached`);
    const { reader, writer } = wsTransport(ws);
    startSession(reader, writer, backend, () => {
      busy = false;
      log('client detached');
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, f.host, () => resolve());
  });
  const addr = server.address();
  log(`listening on ws://${f.host}:${typeof addr === 'object' && addr ? addr.port : port}`);
  await new Promise<void>((resolve) => {
    const stop = () => {
      wss.close();
      server.close();
      resolve();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}
