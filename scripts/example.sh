#!/usr/bin/env bash
# Until the embedded default model ships: the engine CLI end to end on a small random Llama
# (GQA, llama3 RoPE) with a random DiffLoRA adapter, both written in the real HF / authors' formats.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-example-output}
mkdir -p "$out"
py=python3; python3 -c 'import numpy' 2>/dev/null || py=/usr/bin/python3
$py test/reference/make_checkpoint.py base --out "$out/model" --seed 1 --layers 4 --hidden 128 --heads 8 --kv-heads 2 --rope-llama3 --tie 2>/dev/null
$py test/reference/make_checkpoint.py difflora --base "$out/model" --out "$out/difflora" --seed 2 --learn-lambda
echo "== difflora info"
node bin/difflora.js info --model "$out/model" --adapter "$out/difflora"
echo "== difflora attention (positive, negative, differential maps per layer and head)"
node bin/difflora.js attention --model "$out/model" --adapter "$out/difflora" --ids 1,17,42,5,99,23,64,8 --out "$out/attention.json"
echo "== difflora generate (greedy, KV cache)"
node bin/difflora.js generate --model "$out/model" --adapter "$out/difflora" --ids 1,17,42 --max-new-tokens 16 --out "$out/generate.json"
cat "$out/generate.json"
echo "outputs in $out/"
