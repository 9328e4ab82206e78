/** Runs the engine as users do: the built `bin/difflora.js` in its own process. */
import { spawnSync } from 'child_process';
import * as path from 'path';
import { ROOT } from './reference';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function runCli(args: string[], env: NodeJS.ProcessEnv = {}): CliResult {
  const r = spawnSync(process.execPath, [path.join(ROOT, 'bin', 'difflora.js'), ...args], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
    maxBuffer: 1 << 28,
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

export function runCliOk(args: string[], env: NodeJS.ProcessEnv = {}): CliResult {
  const r = runCli(args, env);
  if (r.code !== 0) throw new Error(`difflora ${args.join(' ')} exited ${r.code}:\n${r.stderr}`);
  return r;
}
