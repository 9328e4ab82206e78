/** `difflora serve`: flags for the engine's JSON-RPC server (../server/serve.ts). */
import { Command, Option } from 'commander';
import { BackendName } from '../backend';
import { parseInteger } from '../api/parse';
import { serve } from '../server/serve';

interface ServeFlags {
  stdio?: boolean;
  port?: string;
  host: string;
  token?: string;
  backend: BackendName | 'auto';
}

export function registerServe(program: Command, backendOption: () => Option): void {
  program
    .command('serve')
    .description('the engine as a JSON-RPC server: on stdio (for the extension) or a WebSocket (--port, token required)')
    .option('--stdio', 'messages on stdin/stdout (the default)')
    .option('--port <n>', 'listen for one WebSocket client on this port (0 = any free port)')
    .option('--host <h>', 'address to listen on (loopback unless you say otherwise)', '127.0.0.1')
    .option('--token <t>', 'the token clients must present (default: $DIFFLORA_ENGINE_TOKEN, else a random one, printed)')
    .addOption(backendOption())
    .action((f: ServeFlags) =>
      serve({
        port: f.port === undefined ? undefined : parseInteger('--port', f.port, 0),
        host: f.host,
        token: f.token,
        backend: f.backend,
      }),
    );
}
