#!/usr/bin/env node
// Writes the default model's card (markdown, stdout) from its pretrain_summary.json and syntax_rate.json.
const fs = require('fs');
const path = require('path');
const dir = process.argv[2];
const read = (f) => JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8'));
const s = read('pretrain_summary.json');
const r = read('syntax_rate.json');
// Per-problem results, when the run folder is given: what the failures were.
const detailFile = process.argv[3] && path.join(process.argv[3], 'syntax-rate.json');
const details = detailFile && fs.existsSync(detailFile) ? JSON.parse(fs.readFileSync(detailFile, 'utf8')).results : [];
const reasons = {};
for (const d of details)
  if (!d.parses) {
    const k = d.error.split(':')[0];
    reasons[k] = (reasons[k] ?? 0) + 1;
  }
const reasonText = Object.entries(reasons)
  .sort((x, y) => y[1] - x[1])
  .map(([k, n]) => `${n} ${k}`)
  .join(', ');
const cfg = read('config.json');
const a = s.arch;
// Runs from before the summary recorded its options: the last checkpoint's state has them.
const t = s.train ?? JSON.parse(fs.readFileSync(path.join(process.argv[3] ?? dir, 'run', 'checkpoint', 'state.json'), 'utf8')).options;
const mb = (fs.statSync(path.join(dir, 'model.safetensors')).size / 1e6).toFixed(1);
process.stdout.write(`# difflora-lens default model

A small Llama-architecture Python model, pretrained from scratch by DiffLoRA Lens's own engine
(\`difflora pretrain\`), so that the extension, the CLI and the demo work out of the box and offline.
It is a toy for looking at attention and trying adapters, not a capable code model.

## Architecture
Llama (RMSNorm, RoPE theta ${cfg.rope_theta}, SwiGLU, grouped-query attention), ${a.layers} layers, hidden ${a.hidden},
${a.heads} attention heads over ${a.kvHeads} key/value heads (head dim ${a.hidden / a.heads}), MLP ${a.intermediate},
vocabulary ${cfg.vocab_size} (byte-level BPE trained on the same corpus), tied embeddings:
${s.parameters.toLocaleString('en-US')} parameters, ${mb} MB as float32 safetensors.

## Data and licence
The Python standard library of the machine it was trained on (\`${s.corpus}\`), under the Python Software
Foundation License; test suites, vendored packages and non-UTF-8 files excluded${s.skipCodecTables ? ', and the 65 generated\ncharacter-map codecs of encodings/ (hex tables that taught an earlier build to recite tables)' : ''}. 2% of the files (chosen
by a hash of their path) are held out. Sequences of ${s.seqLen} tokens, files joined by \`<|endoftext|>\`:
${s.trainTokens.toLocaleString('en-US')} training tokens, ${s.heldOutTokens.toLocaleString('en-US')} held out.
The weights are released under the same terms as the project.

## Recipe
AdamW (betas ${t.beta1} / ${t.beta2}, weight decay ${t.weightDecay}, gradient norm clipped at ${t.maxGradNorm}), peak learning
rate ${t.lr}, ${t.warmupSteps} warmup steps then ${t.schedule} decay, ${s.steps} steps of ${t.microBatchSize * t.gradAccum} x ${s.seqLen} tokens, seed ${t.seed}, every weight
trained (the embedding through the engine's own lookup gradient, since tfjs's wasm backend has none),
tfjs wasm backend on one CPU core. Reproduce: \`bash scripts/build-default-model.sh\`.

## Results
- Tokens seen: ${s.tokensSeen.toLocaleString('en-US')}.
- Held-out loss: ${s.heldOutLoss.toFixed(3)} nats/token (perplexity ${Math.exp(s.heldOutLoss).toFixed(1)}).
- HumanEval: ${r.parses} of ${r.problems} prompts (${(100 * r.rate).toFixed(1)}%) get a greedy completion that, stopped
  at the next top-level statement (at most 128 tokens), parses as Python and adds at least one statement to
  the function. Nothing more is claimed: functional correctness (pass@k) of a model this size is near zero.
${reasonText ? `- The others: ${reasonText}.\n` : ''}
## Limitations
Trained on about ${(s.tokensSeen / 1e6).toFixed(1)}M tokens for ${s.parameters > 1e6 ? (s.parameters / 1e6).toFixed(1) + 'M' : s.parameters} parameters, far
below what a model needs to write working code: completions look like Python locally (indentation,
keywords, identifiers of the standard library) but drift, repeat themselves and rarely close a function.
It is there so that attention maps, adapters and the demo have a real model to run on, on any machine.
`);
