#!/usr/bin/env bash
# GPU figures for bench/generation_bench.py and bench/reward_bench.py, with SmolLM2-135M's full
# architecture and RANDOM weights (the real weights are 540 MB and do not travel to the device
# machine; only config + tokenizer do). Run from the repo root, on the device machine:
#
#   bash bench/gpu.sh          # needs .gpu/smol (config.json, generation_config.json, tokenizer
#                              # files of SmolLM2-135M-Instruct) and .whl/ (trl, datasets, dill,
#                              # multiprocess wheels; .whl/extra/pyarrow-*.whl, used only if the
#                              # image's pyarrow is older than datasets needs), both carried
#
# All output is tee'd to $OUT/gpu.log. DEVICE=cpu SMOKE=1 bash bench/gpu.sh checks the script on
# a CPU machine with tiny settings (SMOKE also shrinks the model to 2 layers).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/gpu-out}
mkdir -p "$OUT"
exec > >(tee -a "$OUT/gpu.log") 2>&1
DEVICE=${DEVICE:-cuda}
PY=${PY:-python3}
SMOKE=${SMOKE:-0}
MODEL=/tmp/smol-random
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1
t0=$(date +%s)
stamp() { echo "=== [$(( $(date +%s) - t0 ))s] $*"; }

stamp "nvidia-smi"
nvidia-smi || echo "(no nvidia-smi)"

stamp "wheels -> /tmp/site"
rm -rf /tmp/site
for w in .whl/*.whl; do  # one at a time: a wheel that does not fit this Python does not stop the others
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "$w" \
    || echo "wheel install failed: $w"
done
if ! $PY -c 'import pyarrow, sys; from packaging.version import Version; sys.exit(Version(pyarrow.__version__) < Version("24"))'; then
  echo "image's pyarrow is missing or older than 24: installing the carried one"
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/extra/pyarrow-*.whl
fi
export PYTHONPATH=/tmp/site:$PWD${PYTHONPATH:+:$PYTHONPATH}
$PY -m pip list 2>/dev/null | grep -iE '^(torch|transformers|accelerate|trl|datasets|pyarrow|fsspec|huggingface.hub|tokenizers|dill|multiprocess) ' || true
SKIP_TRL=""
if $PY -c 'import trl, datasets; from trl import RewardTrainer; print("trl", trl.__version__, "datasets", datasets.__version__)'; then
  :
else
  echo "import trl FAILED: reward_bench runs without the TRL comparison (--skip-trl)"
  SKIP_TRL="--skip-trl"
fi

stamp "random SmolLM2-135M-shaped model -> $MODEL"
SMOKE=$SMOKE $PY - <<'EOF' || exit 1
import os, shutil, torch
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, GenerationConfig
torch.manual_seed(0)
config = AutoConfig.from_pretrained(".gpu/smol")
if os.environ["SMOKE"] == "1":
    config.num_hidden_layers, config.hidden_size, config.intermediate_size = 2, 64, 128
    config.num_attention_heads, config.num_key_value_heads, config.head_dim = 2, 1, 32
model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
model.generation_config = GenerationConfig.from_pretrained(".gpu/smol")
shutil.rmtree("/tmp/smol-random", ignore_errors=True)
model.save_pretrained("/tmp/smol-random")
AutoTokenizer.from_pretrained(".gpu/smol").save_pretrained("/tmp/smol-random")
print(f"{sum(p.numel() for p in model.parameters()) / 1e6:.1f}M parameters, {config.num_hidden_layers} layers, "
      f"hidden {config.hidden_size}, vocab {config.vocab_size}")
EOF

if [ "$SMOKE" = 1 ]; then
  G1="--prompts 2 --k 2 --max-new-tokens 8 --naive-samples 2"; G2="--prompts 3 --k 2 --max-new-tokens 8 --naive-samples 2"
  R="--repeats 1 --epochs 1"; RB="--repeats 1 --epochs 1"
else
  G1="--prompts 16 --k 4 --max-new-tokens 64 --naive-samples 8"
  G2="--prompts 64 --k 4 --max-new-tokens 128 --naive-samples 8"
  R="--repeats 2 --epochs 3"; RB="--repeats 2 --epochs 3"
fi
GEN="$PY bench/generation_bench.py --device $DEVICE --model-dir $MODEL --threads 8 --llamacpp-samples 16"
REW="$PY bench/reward_bench.py --device $DEVICE --base-config $MODEL --tokenizer-dir $MODEL --threads 4 --lr 1e-4 $SKIP_TRL"

STEPS=${STEPS:-gen16 reward-fp32 gen64 reward-bf16}  # e.g. STEPS="gen64 reward-bf16" reruns two
for step in $STEPS; do
  case $step in
    gen16) stamp "generation_bench $G1"; timeout 120 $GEN $G1 || echo "generation_bench (small) exited $?" ;;
    reward-fp32) stamp "reward_bench fp32 $R"; timeout 150 $REW $R || echo "reward_bench fp32 exited $?" ;;
    gen64) stamp "generation_bench $G2"; timeout 150 $GEN $G2 || echo "generation_bench (large) exited $?" ;;
    reward-bf16) stamp "reward_bench bf16 $RB"; timeout 120 $REW $RB --mixed-precision bf16 || echo "reward_bench bf16 exited $?" ;;
  esac
done
stamp "done"
