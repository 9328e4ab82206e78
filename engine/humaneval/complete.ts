/**
 * A model's completion of a HumanEval prompt: the prompt as plain text or through the tokenizer's chat
 * template, decoding (greedy or sampled) with the KV cache, cut at the first stop sequence. Shared by
 * the syntax rate and the pass@k run.
 */
import { Template } from '@huggingface/jinja';
import * as path from 'path';
import { InputError } from '../errors';
import { Adapter } from '../model/adapter-weights';
import { generate, GenerateResult } from '../model/generate';
import { LoadedModel } from '../model/load';

/** The stop sequences of the Codex paper and openai/human-eval's tooling: the function ends at the next top-level block. */
export const STANDARD_STOPS = ['\nclass', '\ndef', '\n#', '\nif', '\nprint'];

/** In chat format the answer is pre-filled with a code fence; its closing fence ends it too. */
export const CHAT_STOPS = ['\n```'];

export const CHAT_INSTRUCTION = 'Complete the following Python function. Reply with the function in one Python code block.';

export interface CompleteOptions {
  maxNewTokens: number;
  /** 0 = greedy. */
  temperature: number;
  topP: number;
  seed: number;
  stop: (string | RegExp)[];
  /** Render the prompt with the tokenizer's chat template (instruct models). */
  chat?: boolean;
  isCancelled?: () => boolean;
}

export interface Completion {
  completion: string;
  stopReason: GenerateResult['stopReason'] | 'prompt-too-long';
  tokens: number;
}

function tokenText(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object' && typeof (v as { content?: unknown }).content === 'string') return (v as { content: string }).content;
  return undefined;
}

const templates = new WeakMap<object, Template>();

/** The text a chat model sees: the template's rendering of one user turn and the assistant header, then the
 * start of the answer: a code fence and the prompt itself, so that the model continues the function body. */
export function chatPrompt(m: LoadedModel, prompt: string): string {
  const tok = m.tokenizer;
  if (!tok) throw new InputError(m.dir, 'no tokenizer.json');
  const where = path.join(m.dir, 'tokenizer_config.json');
  let template = templates.get(tok);
  if (!template) {
    let src = tok.config.chat_template;
    if (Array.isArray(src)) {
      const named = src as { name?: unknown; template?: unknown }[];
      src = (named.find((t) => t?.name === 'default') ?? named[0])?.template;
    }
    if (typeof src !== 'string' || src.trim() === '')
      throw new InputError(where, 'has no chat_template: the chat format needs an instruct model');
    try {
      template = new Template(src);
    } catch (e) {
      throw new InputError(where, `chat_template does not parse (${(e as Error).message})`);
    }
    templates.set(tok, template);
  }
  const vars: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(tok.config)) {
    const text = key.endsWith('_token') ? tokenText(v) : undefined;
    if (text !== undefined) vars[key] = text;
  }
  let rendered: string;
  try {
    rendered = template.render({
      ...vars,
      messages: [{ role: 'user', content: `${CHAT_INSTRUCTION}\n\n\`\`\`python\n${prompt}\`\`\`` }],
      add_generation_prompt: true,
    });
  } catch (e) {
    throw new InputError(where, `chat_template failed (${(e as Error).message})`);
  }
  return `${rendered}\`\`\`python\n${prompt}`;
}

/** Token ids of the prompt: plain (with the tokenizer's own special tokens), or the chat rendering (the
 * template writes the special tokens itself). */
export function promptIds(m: LoadedModel, prompt: string, chat = false): number[] {
  const tok = m.tokenizer;
  if (!tok) throw new InputError(m.dir, "no tokenizer.json: HumanEval needs the model's tokenizer");
  return chat ? tok.encode(chatPrompt(m, prompt), false) : tok.encode(prompt);
}

export async function completePrompt(
  m: LoadedModel,
  adapter: Adapter | undefined,
  prompt: string,
  o: CompleteOptions,
): Promise<Completion> {
  const tok = m.tokenizer;
  if (!tok) throw new InputError(m.dir, "no tokenizer.json: HumanEval needs the model's tokenizer");
  const ids = promptIds(m, prompt, o.chat);
  const room = m.config.maxPositions - ids.length;
  if (room <= 0) return { completion: '', stopReason: 'prompt-too-long', tokens: 0 };
  const r = await generate(m.model, adapter, ids, {
    maxNewTokens: Math.min(o.maxNewTokens, room),
    temperature: o.temperature,
    topP: o.topP,
    seed: o.seed,
    stop: o.chat ? [...o.stop, ...CHAT_STOPS] : o.stop,
    useCache: true,
    eosIds: m.config.eosTokenIds,
    decode: (x) => tok.decode(x, true),
    isCancelled: o.isCancelled,
  });
  return { completion: r.completion ?? '', stopReason: r.stopReason, tokens: r.ids.length };
}
