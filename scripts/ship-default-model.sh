#!/usr/bin/env bash
# Copies a pretrained model folder into media/default-model, measures its HumanEval syntax rate and
# writes its model card. Usage: ship-default-model.sh MODEL_DIR HUMANEVAL.jsonl.gz
set -euo pipefail
cd "$(dirname "$0")/.."
src=$1; problems=$2; dst=media/default-model
mkdir -p "$dst"
cp "$src"/config.json "$src"/model.safetensors "$src"/tokenizer.json "$src"/tokenizer_config.json "$src"/pretrain_summary.json "$dst"/
node bin/difflora.js syntax-rate --model "$dst" --problems "$problems" --max-new-tokens 128 --backend wasm --out "$src/syntax-rate.json" > "$dst/syntax_rate.json"
node scripts/model-card.js "$dst" "$src" > "$dst/README.md"
du -sh "$dst"
