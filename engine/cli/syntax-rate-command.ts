/** `difflora syntax-rate`: the share of HumanEval prompts whose greedy completion parses as Python. */
import * as fs from 'fs';
import { Command, Option } from 'commander';
import { humanEvalProblems, openModel, syntaxRate } from '../api';
import { parseInteger } from '../api/parse';
import { BackendName } from '../backend';
import { stderrLog } from '../terminal/output';
import { loadProgress } from '../terminal/progress';

interface Flags {
  model: string;
  adapter?: string;
  problems: string;
  limit?: string;
  maxNewTokens: string;
  out?: string;
  backend: BackendName | 'auto';
  quiet?: boolean;
}

async function run(f: Flags): Promise<void> {
  const log = stderrLog(f.quiet);
  const problems = (await humanEvalProblems({ file: f.problems })).problems.slice(
    0,
    f.limit === undefined ? undefined : parseInteger('--limit', f.limit, 1),
  );
  const { m, target } = await openModel(
    { model: f.model, adapter: f.adapter, backend: f.backend },
    {
      onEvent: (e) => {
        if (e.type === 'log') log(e.message);
      },
    },
  );
  const bar = loadProgress('completing', !!f.quiet);
  const { rate, results } = await syntaxRate(m, target.adapter, problems, parseInteger('--max-new-tokens', f.maxNewTokens, 1), (i) =>
    bar.update(i, problems.length),
  );
  bar.stop();
  const summary = {
    model: f.model,
    adapter: f.adapter ?? null,
    problems: problems.length,
    parses: results.filter((r) => r.parses).length,
    rate,
  };
  if (f.out) fs.writeFileSync(f.out, `${JSON.stringify({ ...summary, results }, null, 1)}\n`);
  process.stdout.write(`${JSON.stringify(summary)}\n`);
}

export function registerSyntaxRate(program: Command, backendOption: () => Option): void {
  program
    .command('syntax-rate')
    .description('share of HumanEval prompts whose greedy completion (stopped at the next top-level statement) parses as Python')
    .requiredOption('--model <dir>', 'HF model folder')
    .option('--adapter <dir>', 'adapter folder')
    .requiredOption('--problems <file>', 'HumanEval JSONL or JSONL.GZ')
    .option('--limit <n>', 'first N problems only')
    .option('--max-new-tokens <n>', 'tokens per completion at most', '128')
    .option('--out <file>', 'per-problem results as JSON')
    .addOption(backendOption())
    .option('--quiet', 'no progress on stderr')
    .action(run);
}
