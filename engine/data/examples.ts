/**
 * Training examples from a JSONL file: token ids and a per-token target mask.
 *
 * Line formats (one JSON object per line; other fields such as "task_id" or "source" are ignored):
 * - {"messages": [{"role", "content"}, ...]}: rendered with the tokenizer's `chat_template` (tokenizer_config.json)
 *   by @huggingface/jinja, with add_generation_prompt false and every `*_token` of tokenizer_config.json
 *   (bos_token, eos_token, ...) as variables, then encoded without added special tokens (the template writes
 *   them, as in HF's apply_chat_template). Targets: the tokens of each assistant message's content and the
 *   special token that ends its turn (Llama-3: <|eot_id|>); role headers and all other messages are context.
 * - {"prompt", "completion"}: prompt encoded with the tokenizer's own special tokens handling (what its
 *   post-processor adds, e.g. BOS), completion encoded separately without them (as the model sees them at
 *   generation time: the prompt is tokenized alone), then the EOS id of tokenizer_config.json's eos_token when
 *   the tokenizer has one. Targets: completion and EOS.
 * - {"text"}: encoded with the tokenizer's special tokens handling. Targets: every token but the first.
 *
 * How assistant spans are found: the conversation is rendered twice, once as it is and once with each assistant
 * content replaced by a unique sentinel. The sentinel rendering cuts the text into the template's own pieces
 * (headers, turn ends, other messages) and the slots where assistant contents go; walking the real rendering
 * piece by piece gives each assistant content's exact character span, whether the template writes the content
 * as is or trimmed (Llama-3's `| trim`). A template that changes contents some other way, or renders other
 * parts differently depending on them, makes the line bad ("cannot trace"). Character spans become token spans
 * by encoding the text before each boundary: when those ids are a prefix of the whole line's ids the boundary
 * falls between tokens (the usual case: special tokens and "\n\n" after a header are their own pre-tokens);
 * otherwise the token that straddles the boundary counts as a target (it carries content characters).
 *
 * Tokens after the last target (the Llama-3 template here appends an assistant header even when
 * add_generation_prompt is false; a final user turn) are dropped: in a causal model they cannot change the loss.
 */
import { Template } from '@huggingface/jinja';
import { InputError, oneLine } from '../errors';
import { TextTokenizer } from '../model/tokenizer';
import { readLines } from './jsonl';

export interface Example {
  ids: number[];
  /** per token: 1 if this token is a prediction target (its logit at i-1 enters the loss); always 0 at 0 */
  targetMask: number[];
  /** "file:line" */
  source: string;
}

export interface DatasetOptions {
  maxLength: number;
  onBadLine: 'stop' | 'skip';
  onTooLong: 'truncate' | 'skip' | 'error';
}

export type ExampleFormat = 'messages' | 'prompt-completion' | 'text';

export interface DatasetReport {
  examples: Example[];
  skipped: { where: string; reason: string }[];
  truncated: number;
  format: ExampleFormat | 'mixed';
}

/** Why one record cannot become an example (the caller adds file:line); one line, as it is shown after it. */
export class BadRecord extends Error {
  constructor(message: string) {
    super(oneLine(message));
  }
}

interface Encoded {
  ids: number[];
  targetMask: number[];
  format: ExampleFormat;
}

interface Message {
  role: string;
  content: string;
  [key: string]: unknown;
}

const describe = (v: unknown): string =>
  v === null ? 'null' : Array.isArray(v) ? 'a list' : typeof v === 'object' ? 'an object' : typeof v;

function nonEmptyString(obj: Record<string, unknown>, key: string, where = `'${key}'`): string {
  const v = obj[key];
  if (v === undefined || v === null) throw new BadRecord(`${where} is missing`);
  if (typeof v !== 'string') throw new BadRecord(`${where} must be a string, got ${describe(v)}`);
  if (v.trim() === '') throw new BadRecord(`${where} is empty`);
  return v;
}

/** A token of tokenizer_config.json: a string or an AddedToken object {"content": ...}. */
function tokenText(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object' && typeof (v as { content?: unknown }).content === 'string') return (v as { content: string }).content;
  return undefined;
}

/** Turns JSON records into ids and target masks for one tokenizer. */
export class ExampleEncoder {
  readonly eosId: number | undefined;
  private readonly special = new Set<number>();
  private readonly templateVars: Record<string, unknown> = {};
  private template?: Template;

  constructor(readonly tok: TextTokenizer) {
    const cfg = tok.config;
    for (const [key, v] of Object.entries(cfg)) {
      const text = key.endsWith('_token') ? tokenText(v) : undefined;
      if (text !== undefined) this.templateVars[key] = text;
    }
    const eos = tokenText(cfg.eos_token);
    this.eosId = eos === undefined ? undefined : tok.idOf(eos);
    const added = cfg.added_tokens_decoder;
    if (added && typeof added === 'object') {
      for (const [id, t] of Object.entries(added as Record<string, { special?: boolean }>)) {
        if (t && t.special === true && /^\d+$/.test(id)) this.special.add(Number(id));
      }
    }
    if (this.eosId !== undefined) this.special.add(this.eosId);
  }

  /** The chat template, compiled on first use; undefined when tokenizer_config.json has none. */
  private chatTemplate(): Template | undefined {
    if (this.template) return this.template;
    let src = this.tok.config.chat_template;
    if (Array.isArray(src)) {
      // Several named templates: [{name, template}]; the "default" one is for plain conversations.
      const named = src as { name?: unknown; template?: unknown }[];
      src = (named.find((t) => t?.name === 'default') ?? named[0])?.template;
    }
    if (typeof src !== 'string' || src.trim() === '') return undefined;
    try {
      this.template = new Template(src);
    } catch (e) {
      throw new InputError('tokenizer_config.json', `chat_template does not parse (${(e as Error).message})`);
    }
    return this.template;
  }

  /** ids + targetMask of one JSONL record; throws BadRecord with the reason when it cannot be used. */
  encode(record: unknown): Encoded {
    if (typeof record !== 'object' || record === null || Array.isArray(record)) {
      throw new BadRecord(`expected a JSON object, got ${describe(record)}`);
    }
    const obj = record as Record<string, unknown>;
    const kinds = [
      'messages' in obj ? 'messages' : '',
      'prompt' in obj || 'completion' in obj ? 'prompt/completion' : '',
      'text' in obj ? 'text' : '',
    ].filter(Boolean);
    if (kinds.length > 1) throw new BadRecord(`has fields of more than one format (${kinds.join(', ')})`);
    if ('code' in obj && 'test_list' in obj) throw new BadRecord('looks like a raw MBPP record: convert the file first (convertMbpp)');
    if (kinds.length === 0)
      throw new BadRecord(
        `needs "messages", "prompt" + "completion", or "text"; has ${
          Object.keys(obj)
            .map((k) => `"${k}"`)
            .join(', ') || 'no field'
        }`,
      );
    let out: Encoded;
    if (kinds[0] === 'messages') out = this.messages(obj.messages);
    else if (kinds[0] === 'text') out = this.text(nonEmptyString(obj, 'text'));
    else out = this.promptCompletion(nonEmptyString(obj, 'prompt'), nonEmptyString(obj, 'completion'));
    // Nothing after the last target can change the loss of a causal model.
    const last = out.targetMask.lastIndexOf(1);
    if (last < 1) throw new BadRecord('no token to predict (the text is a single token)');
    out.ids.length = last + 1;
    out.targetMask.length = last + 1;
    return out;
  }

  private text(text: string): Encoded {
    const ids = this.tok.encode(text, true);
    return { ids, targetMask: ids.map((_, i) => (i === 0 ? 0 : 1)), format: 'text' };
  }

  private promptCompletion(prompt: string, completion: string): Encoded {
    const p = this.tok.encode(prompt, true);
    const c = this.tok.encode(completion, false);
    if (this.eosId !== undefined) c.push(this.eosId);
    return { ids: [...p, ...c], targetMask: [...p.map(() => 0), ...c.map(() => 1)], format: 'prompt-completion' };
  }

  private messages(raw: unknown): Encoded {
    if (!Array.isArray(raw)) throw new BadRecord(`'messages' must be a list, got ${describe(raw)}`);
    if (raw.length === 0) throw new BadRecord("'messages' is empty");
    const msgs: Message[] = raw.map((m, i) => {
      if (typeof m !== 'object' || m === null || Array.isArray(m))
        throw new BadRecord(`messages[${i}] must be an object, got ${describe(m)}`);
      const o = m as Record<string, unknown>;
      nonEmptyString(o, 'role', `messages[${i}].role`);
      nonEmptyString(o, 'content', `messages[${i}].content`);
      return o as Message;
    });
    const assistant = msgs.flatMap((m, i) => (m.role === 'assistant' ? [i] : []));
    if (assistant.length === 0) throw new BadRecord("'messages' has no assistant turn: nothing to learn");
    const template = this.chatTemplate();
    if (!template) throw new BadRecord('the messages format needs a chat_template in tokenizer_config.json, and this tokenizer has none');

    const render = (m: Message[]): string => {
      try {
        return template.render({ ...this.templateVars, messages: m, add_generation_prompt: false });
      } catch (e) {
        throw new BadRecord(`chat_template failed: ${(e as Error).message}`);
      }
    };
    const full = render(msgs);
    const sentinel = (i: number) => `\u0002difflora-assistant-${i}\u0003`;
    const marked = render(msgs.map((m, i) => (m.role === 'assistant' ? { ...m, content: sentinel(i) } : m)));

    // Walk `full` along the pieces of `marked` to find each assistant content's character span.
    const spans: [number, number][] = [];
    let pos = 0,
      mpos = 0;
    for (let a = 0; a < assistant.length; a++) {
      const i = assistant[a];
      const at = marked.indexOf(sentinel(i), mpos);
      const untraceable = () => new BadRecord(`cannot trace messages[${i}] (assistant) in the chat_template's output`);
      if (at < 0 || !full.startsWith(marked.slice(mpos, at), pos)) throw untraceable();
      pos += at - mpos;
      mpos = at + sentinel(i).length;
      const nextAt = a + 1 < assistant.length ? marked.indexOf(sentinel(assistant[a + 1]), mpos) : marked.length;
      const following = marked.slice(mpos, nextAt < 0 ? marked.length : nextAt);
      const c = msgs[i].content;
      const form = [c, c.trim(), c.trimEnd(), c.trimStart()].find(
        (f) =>
          f.length > 0 &&
          full.startsWith(f, pos) &&
          full.startsWith(following, pos + f.length) &&
          (a + 1 < assistant.length || pos + f.length + following.length === full.length),
      );
      if (form === undefined) throw untraceable();
      spans.push([pos, pos + form.length]);
      pos += form.length;
    }

    const ids = this.tok.encode(full, false);
    const mask = ids.map(() => 0);
    for (const [s, e] of spans) {
      const start = this.tokenAt(full, ids, s).index;
      const endAt = this.tokenAt(full, ids, e);
      let end = endAt.exact ? endAt.index : this.straddleEnd(ids, endAt.index, e);
      end = this.withTurnEnd(ids, end);
      for (let t = start; t < end; t++) mask[t] = 1;
    }
    mask[0] = 0;
    return { ids, targetMask: mask, format: 'messages' };
  }

  /** How many leading tokens of `ids` (the encoding of `text`) come from text[0, charPos), and whether the
   * boundary falls exactly between two tokens. */
  private tokenAt(text: string, ids: number[], charPos: number): { index: number; exact: boolean } {
    if (charPos <= 0) return { index: 0, exact: true };
    if (charPos >= text.length) return { index: ids.length, exact: true };
    const pre = this.tok.encode(text.slice(0, charPos), false);
    let c = 0;
    while (c < pre.length && c < ids.length && pre[c] === ids[c]) c++;
    return { index: c, exact: c === pre.length };
  }

  /** End of a span whose last character sits inside a token: through the tokens that reach charPos. */
  private straddleEnd(ids: number[], from: number, charPos: number): number {
    let end = from + 1;
    while (end < ids.length && this.tok.decode(ids.slice(0, end)).length < charPos) end++;
    return end;
  }

  /** Extends a target span over the special token that closes the turn (<|eot_id|>, </s>, <|im_end|>, ...),
   * allowing whitespace-only tokens between (Llama-2 writes " </s>"). */
  private withTurnEnd(ids: number[], end: number): number {
    for (let j = end; j < ids.length && j < end + 3; j++) {
      if (this.special.has(ids[j])) return j + 1;
      if (this.tok.decode([ids[j]]).trim() !== '') break;
    }
    return end;
  }
}

/**
 * Reads a JSONL training file line by line into tokenized examples (formats and target masks: see above).
 * Blank lines are ignored. Bad lines stop the load (InputError "file:line: reason") or are recorded in
 * `skipped`, per opts.onBadLine. Sequences over opts.maxLength tokens are cut from the right (counted in
 * `truncated`; skipped when no target token is left), skipped, or refused, per opts.onTooLong.
 */
export function loadJsonlDataset(file: string, tok: TextTokenizer, opts: DatasetOptions): DatasetReport {
  if (!Number.isInteger(opts.maxLength) || opts.maxLength < 2) {
    throw new InputError('maxLength', `must be an integer >= 2, got ${opts.maxLength}`);
  }
  const encoder = new ExampleEncoder(tok);
  const report: DatasetReport = { examples: [], skipped: [], truncated: 0, format: 'text' };
  const formats = new Set<ExampleFormat>();
  let lines = 0;
  for (const { line, text } of readLines(file)) {
    if (text !== undefined && text.trim() === '') continue;
    lines++;
    const where = `${file}:${line}`;
    let enc: Encoded;
    try {
      if (text === undefined) throw new BadRecord('not valid UTF-8');
      let record: unknown;
      try {
        record = JSON.parse(text);
      } catch (e) {
        throw new BadRecord(`not valid JSON (${(e as Error).message})`);
      }
      enc = encoder.encode(record);
    } catch (e) {
      if (!(e instanceof BadRecord)) throw e;
      if (opts.onBadLine === 'stop') throw new InputError(where, e.message);
      report.skipped.push({ where, reason: e.message });
      continue;
    }
    let { ids, targetMask } = enc;
    if (ids.length > opts.maxLength) {
      const what = `${ids.length} tokens, longer than maxLength ${opts.maxLength}`;
      if (opts.onTooLong === 'error') throw new InputError(where, what);
      if (opts.onTooLong === 'skip') {
        report.skipped.push({ where, reason: what });
        continue;
      }
      ids = ids.slice(0, opts.maxLength);
      targetMask = targetMask.slice(0, opts.maxLength);
      if (!targetMask.includes(1)) {
        report.skipped.push({ where, reason: `${what}: truncated, no target token is left` });
        continue;
      }
      report.truncated++;
    }
    formats.add(enc.format);
    report.examples.push({ ids, targetMask, source: where });
  }
  if (report.examples.length === 0) {
    const why =
      lines === 0
        ? 'the file has no non-blank line'
        : `all ${lines} lines skipped; first: ${report.skipped[0].where}: ${report.skipped[0].reason}`;
    throw new InputError(file, `no usable training example (${why})`);
  }
  report.format = formats.size === 1 ? [...formats][0] : 'mixed';
  return report;
}
