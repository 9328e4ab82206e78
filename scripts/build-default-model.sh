#!/usr/bin/env bash
# Reproduces the embedded default model (media/default-model) in one command: pretraining on the
# Python standard library with the engine's own trainer (wasm, one core), then the HumanEval syntax
# rate and the model card. Takes about 1.5-2 hours on 2 cores; resumable (add --resume).
set -euo pipefail
cd "$(dirname "$0")/.."
work=${DIFFLORA_PRETRAIN_DIR:-.cache/default-model}
problems=${HUMANEVAL:-../shared/data/humaneval/HumanEval.jsonl.gz}
node bin/difflora.js pretrain --out "$work" \
  --vocab 2048 --hidden 192 --layers 4 --heads 6 --kv-heads 2 --intermediate 512 \
  --seq-len 256 --batch-size 8 --max-steps 900 --warmup 30 --lr 3e-3 --schedule cosine \
  --weight-decay 0.1 --checkpoint-every 25 --seed 0 --backend wasm --skip-codec-tables "$@"
bash scripts/ship-default-model.sh "$work" "$problems"
