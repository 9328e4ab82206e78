/**
 * One live connection to an engine: a child process speaking JSON-RPC on stdio, or a remote engine on a
 * WebSocket (token in the Authorization header). Opens with the version handshake. No `vscode` import:
 * the supervisor above it and the tests use it alike.
 */
import { ChildProcess, spawn } from 'child_process';
import { randomUUID } from 'crypto';
import WebSocket from 'ws';
import {
  CancellationToken,
  CancellationTokenSource,
  createMessageConnection,
  MessageConnection,
  ProgressType,
  ResponseError,
} from 'vscode-jsonrpc/node';
import { LOG_NOTIFICATION, LogParams, PROTOCOL_VERSION, ResultOf, Rpc, RpcRequest } from '../../protocol/engine';
import { streamTransport } from '../../protocol/transport/stream';
import { wsTransport } from '../../protocol/transport/websocket';

export type Endpoint =
  { kind: 'local'; node: string; script: string; args: string[]; env?: NodeJS.ProcessEnv } | { kind: 'remote'; url: string; token: string };

export class EngineStoppedError extends Error {}

export interface RequestOptions<E> {
  cancel?: { isCancellationRequested: boolean; onCancellationRequested(listener: () => void): { dispose(): void } };
  onProgress?: (value: E) => void;
}

/** A request's parameters as the caller gives them (the client adds the progress token). */
export type RequestParams<P> = Omit<P, 'progressToken'>;

export class EngineConnection {
  private stopped?: string;
  private readonly exitListeners: ((why: string) => void)[] = [];

  private constructor(
    private readonly conn: MessageConnection,
    readonly info: ResultOf<typeof Rpc.initialize>,
    private readonly child: ChildProcess | undefined,
    private readonly close: () => void,
  ) {}

  /** Starts or attaches to an engine and shakes hands; `log` gets its log lines. */
  static async open(endpoint: Endpoint, log: (line: string) => void): Promise<EngineConnection> {
    const { conn, child, close, died } = endpoint.kind === 'local' ? startLocal(endpoint, log) : await attachRemote(endpoint);
    // A local engine's log arrives on its stderr; a remote one's only as notifications.
    if (endpoint.kind === 'remote') conn.onNotification(LOG_NOTIFICATION, (p: LogParams) => log(`[remote] ${p.message}`));
    conn.listen();
    let info: ResultOf<typeof Rpc.initialize>;
    try {
      info = await Promise.race([
        conn.sendRequest(Rpc.initialize.method, { protocolVersion: PROTOCOL_VERSION, client: 'difflora-lens-vscode' }) as Promise<
          ResultOf<typeof Rpc.initialize>
        >,
        died.then((why) => {
          throw new EngineStoppedError(`the engine stopped before the handshake: ${why}`);
        }),
      ]);
    } catch (e) {
      close();
      conn.dispose();
      throw e instanceof ResponseError ? new Error(e.message) : e;
    }
    const c = new EngineConnection(conn, info, child, close);
    void died.then((why) => c.markStopped(why));
    return c;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get alive(): boolean {
    return this.stopped === undefined;
  }

  /** Calls `listener` when the engine goes away; the returned function unsubscribes. */
  onExit(listener: (why: string) => void): () => void {
    if (this.stopped !== undefined) {
      listener(this.stopped);
      return () => undefined;
    }
    this.exitListeners.push(listener);
    return () => {
      const i = this.exitListeners.indexOf(listener);
      if (i >= 0) this.exitListeners.splice(i, 1);
    };
  }

  private markStopped(why: string): void {
    if (this.stopped !== undefined) return;
    this.stopped = why;
    // Listeners first: requests in flight learn why before the disposal rejects them generically.
    for (const l of [...this.exitListeners]) l(why);
    this.conn.dispose();
  }

  /** A request of the protocol's table; rejects with EngineStoppedError if the engine goes away before it answers. */
  async request<P, R, E>(req: RpcRequest<P, R, E>, params: NoInfer<RequestParams<P>>, opts: RequestOptions<NoInfer<E>> = {}): Promise<R> {
    if (this.stopped !== undefined) throw new EngineStoppedError(`the engine is not running (${this.stopped})`);
    const source = new CancellationTokenSource();
    const sub = opts.cancel?.onCancellationRequested(() => source.cancel());
    if (opts.cancel?.isCancellationRequested) source.cancel();
    const progressToken = opts.onProgress ? randomUUID() : undefined;
    const progress = opts.onProgress && this.conn.onProgress(new ProgressType<E>(), progressToken!, opts.onProgress);
    let unsubscribe = () => {};
    const died = new Promise<never>((_, reject) => {
      unsubscribe = this.onExit((why) => reject(new EngineStoppedError(`the engine stopped during ${req.title}: ${why}`)));
    });
    try {
      return await Promise.race([
        this.conn.sendRequest(req.method, { ...params, progressToken }, source.token as CancellationToken) as Promise<R>,
        died,
      ]);
    } catch (e) {
      if (e instanceof ResponseError || e instanceof EngineStoppedError) throw e;
      // The connection failed under the request: the process exit that explains it follows shortly.
      await within(died, 2000);
      throw e;
    } finally {
      unsubscribe();
      sub?.dispose();
      progress?.dispose();
      source.dispose();
    }
  }

  /** Asks the engine to exit; kills it if it has not within a second. */
  async shutdown(): Promise<void> {
    if (this.stopped !== undefined) return;
    const exited = new Promise<void>((resolve) => this.onExit(() => resolve()));
    await within(this.conn.sendRequest(Rpc.shutdown.method), 1000).catch(() => undefined); // already going away
    await within(exited, 1000);
    this.kill();
  }

  kill(): void {
    this.close();
    this.markStopped('stopped by the client');
  }
}

/** Waits for `p` at most `ms` (a rejection of `p` passes through); the timer never outlives the wait. */
async function within(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      p,
      new Promise<void>((r) => {
        timer = setTimeout(r, ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

function startLocal(e: Extract<Endpoint, { kind: 'local' }>, log: (line: string) => void) {
  // VS Code's own executable runs as plain Node with ELECTRON_RUN_AS_NODE (harmless for a real node).
  const child = spawn(e.node, [e.script, 'serve', '--stdio', ...e.args], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, ...e.env, ELECTRON_RUN_AS_NODE: '1' },
  });
  let stderrTail = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => {
    stderrTail = (stderrTail + chunk).slice(-2000);
    for (const line of chunk.split('\n')) if (line.trim()) log(line);
  });
  const died = new Promise<string>((resolve) => {
    child.once('error', (err) => resolve(`cannot start ${e.node} (${err.message})`));
    child.once('exit', (code, signal) => {
      const last = stderrTail
        .trim()
        .split('\n')
        .filter((l) => /error/i.test(l))
        .pop();
      resolve(`${signal ? `killed by ${signal}` : `exit code ${code}`}${last ? `; last error: ${last}` : ''}`);
    });
  });
  const { reader, writer } = streamTransport(child.stdout!, child.stdin!);
  const conn = createMessageConnection(reader, writer);
  child.stdin!.on('error', () => undefined); // EPIPE after a crash: reported through `died`
  return {
    conn,
    child,
    close: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
    died,
  };
}

async function attachRemote(e: Extract<Endpoint, { kind: 'remote' }>) {
  const ws = new WebSocket(e.url, { headers: { Authorization: `Bearer ${e.token}` }, maxPayload: 256 * 1024 * 1024 });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('unexpected-response', (_req, res) =>
      reject(
        new Error(
          `${e.url} refused the connection: HTTP ${res.statusCode}${res.statusCode === 401 ? ' (wrong or missing token)' : res.statusCode === 409 ? ' (the engine is serving another client)' : ''}`,
        ),
      ),
    );
    ws.once('error', (err) => reject(new Error(`cannot reach ${e.url} (${err.message})`)));
  });
  const died = new Promise<string>((resolve) => ws.once('close', (code) => resolve(`connection closed (code ${code})`)));
  const { reader, writer } = wsTransport(ws);
  return { conn: createMessageConnection(reader, writer), child: undefined, close: () => ws.terminate(), died };
}
