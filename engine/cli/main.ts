/** `difflora`: the engine headless. Errors are one line on stderr and a non-zero exit. */
import * as fs from 'fs';
import * as path from 'path';
import { Command, Option } from 'commander';
import * as tf from '@tensorflow/tfjs-core';
import { attention as attentionMaps, generateCompletions, GENERATE_DEFAULTS, LoadedModel, modelInfo, openModel, Opened } from '../api';
import { BackendName, setRequestedThreads, THREADS_ENV } from '../backend';
import { InputError } from '../errors';
import { AttentionJsonWriter } from './json-stream';
import { parseIds, parseIndexList, parseInteger, parseNumber } from '../api/parse';
import { printingContext, stderrLog } from '../terminal/output';
import { registerPretrain } from './pretrain-command';
import { registerTrain } from './train-command';
import { registerSyntaxRate } from './syntax-rate-command';
import { registerHumanEval } from './humaneval-command';
import { registerData } from './data-command';
import { registerServe } from './serve-command';

interface CommonOpts {
  model: string;
  adapter?: string;
  backend: BackendName | 'auto';
  quiet?: boolean;
}

const backendOption = () =>
  new Option('--backend <name>', 'tfjs backend').choices(['auto', 'native', 'wasm', 'cpu', 'webgpu', 'tensorflow']).default('auto');

/**
 * --threads goes with every command that takes --backend (added in buildProgram, so the commands'
 * own modules need not know it); a preAction hook hands it to the native backend.
 */
function addThreadsOption(program: Command): void {
  for (const c of program.commands) {
    if (c.options.some((o) => o.long === '--backend')) {
      c.option(
        '--threads <n>',
        `BLAS threads of the native backend (default: $${THREADS_ENV}, else min(cores, 8) for large GEMMs and 1 for small ones)`,
      );
    }
  }
  program.hook('preAction', (_program, command) => {
    const t = command.opts().threads as string | undefined;
    setRequestedThreads(t === undefined ? undefined : parseInteger('--threads', t, 1));
  });
}

async function open(opts: CommonOpts): Promise<Opened> {
  const out = printingContext({ quiet: opts.quiet });
  try {
    return await openModel(opts, out);
  } finally {
    out.loaded();
  }
}

function inputIds(m: LoadedModel, o: { text?: string; file?: string; ids?: string }): number[] {
  const given = [o.text, o.file, o.ids].filter((x) => x !== undefined).length;
  if (given !== 1) throw new InputError('input', 'give exactly one of --text, --file, --ids');
  if (o.ids !== undefined) return parseIds(o.ids);
  const text = o.file !== undefined ? readText(o.file) : (o.text as string);
  if (text.length === 0) throw new InputError(o.file ?? '--text', 'empty text: nothing to tokenize');
  if (!m.tokenizer) throw new InputError(m.dir, 'no tokenizer.json: pass token ids with --ids');
  return m.tokenizer.encode(text);
}

function readText(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new InputError(file, `cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}

function info(o: { model: string; adapter?: string }): void {
  process.stdout.write(`${JSON.stringify(modelInfo(o), null, 2)}\n`);
}

async function attention(
  o: CommonOpts & { text?: string; file?: string; ids?: string; layers?: string; heads?: string; logits?: boolean; out: string },
) {
  const { m, target } = await open(o);
  const ids = inputIds(m, o);
  m.model.checkIds([ids]);
  const layers = o.layers !== undefined ? parseIndexList('--layers', o.layers, m.config.numLayers) : undefined;
  const heads = o.heads !== undefined ? parseIndexList('--heads', o.heads, m.config.numHeads) : undefined;
  const writer = new AttentionJsonWriter(o.out, ids, m.tokenizer?.labels(ids));
  try {
    const r = await attentionMaps(
      m,
      [target],
      { ids, layers, heads, logits: o.logits },
      {
        onEvent: (e) => {
          if (e.type === 'maps') writer.layer(e.maps);
        },
      },
    );
    const data = r.logits?.[0];
    writer.finish(data && { data, rows: ids.length, cols: m.config.vocabSize });
  } catch (e) {
    writer.abort();
    throw e;
  }
  stderrLog(o.quiet)(`wrote ${o.out}`);
}

async function generateCmd(
  o: CommonOpts & {
    prompt?: string;
    ids?: string;
    maxNewTokens: string;
    temperature: string;
    topP: string;
    seed: string;
    stop: string[];
    cache: boolean;
    out: string;
  },
) {
  const { m, target } = await open(o);
  const tok = m.tokenizer;
  let prompt: number[];
  if (o.ids !== undefined) prompt = parseIds(o.ids);
  else if (o.prompt !== undefined) {
    if (o.prompt.length === 0) throw new InputError('--prompt', 'empty text: nothing to tokenize');
    if (!tok) throw new InputError(m.dir, 'no tokenizer.json: pass the prompt as token ids with --ids');
    prompt = tok.encode(o.prompt);
  } else throw new InputError('input', 'give --prompt or --ids');
  m.model.checkIds([prompt]);
  const [result] = await generateCompletions(m, [target], {
    prompt,
    maxNewTokens: parseInteger('--max-new-tokens', o.maxNewTokens, 1),
    temperature: parseNumber('--temperature', o.temperature, 0),
    topP: parseNumber('--top-p', o.topP, 0, 1),
    seed: parseInteger('--seed', o.seed, 0),
    stop: o.stop,
    useCache: o.cache,
  });
  const out = {
    prompt: o.prompt ?? null,
    promptIds: prompt,
    completion: result.completion ?? null,
    ids: result.ids,
    stopReason: result.stopReason,
  };
  fs.mkdirSync(path.dirname(path.resolve(o.out)), { recursive: true });
  fs.writeFileSync(o.out, `${JSON.stringify(out)}\n`);
  stderrLog(o.quiet)(`wrote ${o.out} (${result.ids.length} tokens, stop: ${result.stopReason})`);
}

const collect = (v: string, acc: string[]) => [...acc, v];

export function buildProgram(): Command {
  const program = new Command('difflora')
    .description('DiffLoRA Lens engine: Llama-family models with LoRA / DiffLoRA adapters, attention maps, generation')
    .showHelpAfterError()
    .exitOverride();
  program
    .command('info')
    .description('architecture, parameter counts, adapter kind and options (JSON on stdout)')
    .requiredOption('--model <dir>', 'HF model folder')
    .option('--adapter <dir>', 'PEFT LoRA or DiffLoRA adapter folder')
    .action(info);
  program
    .command('attention')
    .description('per-layer, per-head attention maps (positive, negative, differential) as JSON')
    .requiredOption('--model <dir>', 'HF model folder')
    .option('--adapter <dir>', 'PEFT LoRA or DiffLoRA adapter folder')
    .option('--text <s>', 'input text')
    .option('--file <f>', 'input text file')
    .option('--ids <list>', 'input token ids, e.g. 1,2,3')
    .option('--layers <list>', 'layers to capture, e.g. 0,2-4 (default all)')
    .option('--heads <list>', 'heads to capture (default all)')
    .option('--logits', 'also write the logits (T x vocab)')
    .addOption(backendOption())
    .option('--quiet', 'no log on stderr')
    .requiredOption('--out <file>', 'output JSON')
    .action(attention);
  program
    .command('generate')
    .description('greedy or sampled completion, with a KV cache')
    .requiredOption('--model <dir>', 'HF model folder')
    .option('--adapter <dir>', 'PEFT LoRA or DiffLoRA adapter folder')
    .option('--prompt <s>', 'prompt text')
    .option('--ids <list>', 'prompt token ids instead of text')
    .option('--max-new-tokens <n>', 'tokens to generate at most', String(GENERATE_DEFAULTS.maxNewTokens))
    .option('--temperature <t>', '0 = greedy', String(GENERATE_DEFAULTS.temperature))
    .option('--top-p <p>', 'nucleus sampling mass', String(GENERATE_DEFAULTS.topP))
    .option('--seed <s>', 'sampling seed', String(GENERATE_DEFAULTS.seed))
    .option('--stop <s>', 'stop string (repeatable)', collect, [])
    .option('--no-cache', 'recompute the whole sequence at each step')
    .addOption(backendOption())
    .option('--quiet', 'no log on stderr')
    .requiredOption('--out <file>', 'output JSON')
    .action(generateCmd);
  registerTrain(program, backendOption);
  registerPretrain(program, backendOption);
  registerSyntaxRate(program, backendOption);
  registerHumanEval(program, backendOption);
  registerData(program);
  registerServe(program, backendOption);
  addThreadsOption(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv, { from: 'user' });
    return 0;
  } catch (e) {
    const err = e as Error & { code?: string; exitCode?: number };
    if (err.code?.startsWith('commander.')) {
      return err.code === 'commander.helpDisplayed' || err.code === 'commander.version' ? 0 : 2;
    }
    process.stderr.write(`difflora: error: ${err.message}\n`);
    if (process.env.DIFFLORA_DEBUG) process.stderr.write(`${err.stack}\n`);
    return 1;
  } finally {
    tf.disposeVariables();
  }
}
