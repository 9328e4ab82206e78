/**
 * Keeps an engine running: starts it on first use, and after a crash restarts it with exponential
 * backoff (the user is told; requests in flight fail with EngineStoppedError). After MAX_ATTEMPTS
 * failed starts in a row it stops trying until `restart()`. No `vscode` import.
 */
import type { RpcRequest } from '../../protocol/engine';
import { EngineConnection, EngineStoppedError, Endpoint, RequestOptions, RequestParams } from './connection';

export type EngineState = 'stopped' | 'starting' | 'ready' | 'crashed' | 'failed';

export interface SupervisorHooks {
  endpoint(): Endpoint;
  log(line: string): void;
  onState(state: EngineState, detail: string): void;
  /** The engine went away unexpectedly; a restart follows in `retryInMs` (undefined: giving up). */
  onCrash(why: string, retryInMs: number | undefined): void;
  /** Runs on every fresh connection before requests go through (e.g. load the model again); its errors are logged. */
  onStarted(c: EngineConnection): Promise<void>;
}

const MAX_ATTEMPTS = 5;
const STABLE_MS = 60_000;

export class EngineSupervisor {
  private current?: Promise<EngineConnection>;
  private failures = 0;
  private timer?: NodeJS.Timeout;
  private disposed = false;

  constructor(
    private readonly hooks: SupervisorHooks,
    private readonly baseDelayMs = 1000,
  ) {}

  /** The running engine, started if needed. */
  connection(): Promise<EngineConnection> {
    if (this.disposed) return Promise.reject(new EngineStoppedError('the extension is shutting down'));
    if (!this.current) this.current = this.start();
    return this.current;
  }

  async request<P, R, E>(req: RpcRequest<P, R, E>, params: NoInfer<RequestParams<P>>, opts?: RequestOptions<NoInfer<E>>): Promise<R> {
    return (await this.connection()).request(req, params, opts);
  }

  /** Stops the engine (if any) and starts a fresh one now. */
  async restart(): Promise<EngineConnection> {
    clearTimeout(this.timer);
    this.failures = 0;
    await this.stop();
    return this.connection();
  }

  async stop(): Promise<void> {
    const c = this.current;
    this.current = undefined;
    if (c)
      await c.then(
        (x) => x.shutdown(),
        () => undefined,
      );
    this.hooks.onState('stopped', '');
  }

  async dispose(): Promise<void> {
    this.disposed = true;
    clearTimeout(this.timer);
    await this.stop();
  }

  private async start(): Promise<EngineConnection> {
    const endpoint = this.hooks.endpoint();
    const where = endpoint.kind === 'local' ? 'local engine' : endpoint.url;
    this.hooks.onState('starting', where);
    const startedAt = Date.now();
    let c: EngineConnection;
    try {
      c = await EngineConnection.open(endpoint, this.hooks.log);
    } catch (e) {
      this.current = undefined;
      this.crashed((e as Error).message, false);
      throw e;
    }
    // A failure here (say, a wrong model path) is the user's to fix, not a reason to restart the engine.
    await this.hooks.onStarted(c).catch((e: Error) => this.hooks.log(`after start: ${e.message}`));
    this.hooks.onState('ready', `${c.info.backend}${endpoint.kind === 'remote' ? ` @ ${endpoint.url}` : ''}`);
    c.onExit((why) => {
      if (this.disposed || why === 'stopped by the client') return;
      if (Date.now() - startedAt > STABLE_MS) this.failures = 0;
      this.crashed(why, true);
    });
    return c;
  }

  private crashed(why: string, wasRunning: boolean): void {
    if (wasRunning) this.current = undefined;
    this.failures++;
    if (this.failures > MAX_ATTEMPTS) {
      this.hooks.onState('failed', why);
      this.hooks.onCrash(why, undefined);
      return;
    }
    const delay = this.baseDelayMs * 2 ** (this.failures - 1);
    this.hooks.onState('crashed', why);
    this.hooks.onCrash(why, delay);
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      if (!this.disposed && !this.current) this.connection().catch(() => undefined);
    }, delay);
  }
}
