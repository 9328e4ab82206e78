/** Text <-> token ids through the HF `tokenizer.json` (the maintained tokenizers.js implementation). */
import * as fs from 'fs';
import * as path from 'path';
import { Tokenizer } from '@huggingface/tokenizers';
import { InputError } from '../errors';
import { readJsonFile } from '../formats/json-fields';

export class TextTokenizer {
  private constructor(
    private readonly tok: Tokenizer,
    readonly config: Record<string, unknown>,
  ) {}

  /** The tokenizer of a model folder, or undefined when the folder has no tokenizer.json. */
  static fromFolder(dir: string): TextTokenizer | undefined {
    const file = path.join(dir, 'tokenizer.json');
    if (!fs.existsSync(file)) return undefined;
    const cfgFile = path.join(dir, 'tokenizer_config.json');
    const config = fs.existsSync(cfgFile) ? readJsonFile(cfgFile) : {};
    try {
      return new TextTokenizer(new Tokenizer(readJsonFile(file), config), config);
    } catch (e) {
      throw new InputError(file, `cannot build the tokenizer (${(e as Error).message})`);
    }
  }

  /** Encodes text; special tokens written in the text (e.g. `<|eot_id|>`) become their ids. */
  encode(text: string, addSpecialTokens = true): number[] {
    if (text.length === 0) throw new InputError('input', 'empty text: nothing to tokenize');
    return this.tok.encode(text, { add_special_tokens: addSpecialTokens }).ids;
  }

  decode(ids: number[], skipSpecialTokens = false): string {
    return this.tok.decode(ids, { skip_special_tokens: skipSpecialTokens, clean_up_tokenization_spaces: false });
  }

  /** A readable label per token (its own decoded text), for axes and hovers. */
  labels(ids: number[]): string[] {
    return ids.map((id) => this.decode([id]));
  }

  /** The id of a special token named in tokenizer_config.json (e.g. 'eos_token', 'pad_token'). */
  specialId(key: string): number | undefined {
    const v = this.config[key];
    const content = typeof v === 'string' ? v : typeof v === 'object' && v !== null ? (v as { content?: string }).content : undefined;
    return content === undefined ? undefined : this.idOf(content);
  }

  /** Padding id: pad_token, else eos_token (never a target: padding is masked out of the loss). */
  padId(): number | undefined {
    return this.specialId('pad_token') ?? this.specialId('eos_token');
  }

  idOf(token: string): number | undefined {
    return this.tok.token_to_id(token);
  }
}
