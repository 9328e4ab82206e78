/** `difflora data mbpp|extract`: training data in the prompt/completion JSONL that `train` reads. */
import { Command } from 'commander';
import { convertMbpp, extractPairs } from '../api';
import { parseInteger } from '../api/parse';

export function registerData(program: Command): void {
  const data = program.command('data').description('make training data (prompt/completion JSONL)');
  data
    .command('mbpp')
    .description('MBPP (Google Research, CC BY 4.0) to HumanEval-style signature + docstring -> body pairs')
    .requiredOption('--in <file>', 'mbpp.jsonl')
    .requiredOption('--out <file>', 'output JSONL')
    .option('--split <s>', 'train (601-974), validation (511-600), test (11-510), prompt (1-10) or all', 'train')
    .action(async (o: { in: string; out: string; split: string }) => {
      process.stderr.write(`${(await convertMbpp(o.in, o.out, o.split)).summary}\n`);
    });
  data
    .command('extract')
    .description('a folder of Python files to (signature + docstring -> body) pairs, HumanEval-style')
    .requiredOption('--folder <dir>', 'Python source folder')
    .requiredOption('--out <file>', 'output JSONL')
    .option('--max-lines <n>', 'skip bodies longer than this', '60')
    .option('--exclude <names>', 'more folder names to skip, comma-separated')
    .action(async (o: { folder: string; out: string; maxLines: string; exclude?: string }) => {
      const r = await extractPairs({
        folder: o.folder,
        out: o.out,
        maxLines: parseInteger('--max-lines', o.maxLines, 1),
        exclude: o.exclude?.split(',').filter(Boolean),
      });
      process.stderr.write(`${r.summary}\n`);
    });
}
