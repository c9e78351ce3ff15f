#!/usr/bin/env bash
# The GPU proof run: everything a GPU round measures, in one call, results packed into $OUT/gpu_run.tgz.
# On the GPU machine, after `make setup` (or the stack of ../shared/gpu/README.md in this workplace), from the root:
#     bash tools/gpu_proof.sh
# Steps (each bounded by its own timeout, so that one slow step cannot take the others' time):
#   1. the notebooks that do GPU work (03_session, 06_bench, 07_viz) with papermill: every GPU engine, torch.compile
#      reduce-overhead and max-autotune included, batch 1 to 256 at sequence 128 -> results/$TAG/results.json, images/
#   2. batch 1 and 32 at sequences 16 and 512 -> results/$TAG/shapes/results.json (16 and 32 on a dry run)
#   3. the fused Attention's kernels: mask formats x kernel switches at batch 1, 32, 256 -> results/$TAG/attention.json
#   4. the real-text corpus: sentence-transformers (FP16), the padded method and the engine -> results/$TAG/corpus.json
# Dry run on a CPU machine (small sizes, CPU engines; results/dryrun-cpu and _runs/, charts in _runs/dryrun-cpu/images):
#     DEVICE=cpu bash tools/gpu_proof.sh
set -uo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1 MPLBACKEND=Agg TRANSFORMERS_VERBOSITY=error TOKENIZERS_PARALLELISM=false
PY=${PY:-python3}
OUT=${OUT:-/tmp/gpu_proof_out}; mkdir -p "$OUT"
DEVICE=${DEVICE:-cuda}
if [ "$DEVICE" = cuda ]; then
  TAG=${TAG:-$($PY -c "import torch; n=torch.cuda.get_device_name(0).upper(); print(next((k.lower() for k in ('H200','H100','A100','L4','T4') if k in n), 'gpu'))")}
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv > "$OUT/nvidia-smi.csv" 2>&1
  ENGINES=${ENGINES:-pytorch-fp32 pytorch-fp16 torch-compile-fp16 torch-compile-max-autotune-fp16 ort-fp32-fused ort-fp16-plain ort-fp16-fused ort-fp16-fused-cudagraph}
  BATCHES=${BATCHES:-1 16 32 64 128 256}; ITERS=${ITERS:-200}; WARMUP=${WARMUP:-20}
  SHAPE_ENGINES=${SHAPE_ENGINES:-pytorch-fp32 torch-compile-fp16 ort-fp16-fused ort-fp16-fused-cudagraph}
  SWEEP_BATCHES=${SWEEP_BATCHES:-1 32 256}; SWEEP_ITERS=${SWEEP_ITERS:-100}; CORPUS_SIZE=${CORPUS_SIZE:-2000}
  SHAPE_SEQS=${SHAPE_SEQS:-16 512}; IMAGES=${IMAGES:-images}
else
  TAG=${TAG:-dryrun-cpu}
  ENGINES=${ENGINES:-pytorch-fp32 ort-fp32-fused ort-int8}; BATCHES=${BATCHES:-1 2}; ITERS=${ITERS:-2}; WARMUP=${WARMUP:-1}
  SHAPE_ENGINES=${SHAPE_ENGINES:-ort-fp32-fused}; SWEEP_BATCHES=${SWEEP_BATCHES:-1 2}; SWEEP_ITERS=${SWEEP_ITERS:-2}
  CORPUS_SIZE=${CORPUS_SIZE:-100}; SHAPE_SEQS=${SHAPE_SEQS:-16 32}
  IMAGES=${IMAGES:-_runs/$TAG/images}  # a dry run never overwrites the committed charts
fi
R=results/$TAG; mkdir -p "$R"
echo "tag=$TAG device=$DEVICE engines=$ENGINES batches=$BATCHES iters=$ITERS"
status=0
step() { local name=$1 limit=$2; shift 2; echo "== $name (at most ${limit}s)"; local t0=$SECONDS
  timeout "$limit" "$@" 2>&1 | tee "$OUT/$name.log"; local rc=${PIPESTATUS[0]}
  echo "== $name: exit $rc after $((SECONDS - t0)) s"; [ "$rc" -eq 0 ] || status=1; }
step series "${SERIES_TIMEOUT:-330}" $PY tools/run_series.py --device "$DEVICE" --tag "$TAG" \
  --only ${ONLY:-03_session 06_bench 07_viz} --engines $ENGINES --batch-sizes $BATCHES --seq-lens 128 \
  --iters "$ITERS" --warmup "$WARMUP" --images "$IMAGES"
step shapes "${SHAPES_TIMEOUT:-90}" $PY -m transformer_opt analyze distilbert-base-uncased --weights random \
  --device "$DEVICE" --engines $SHAPE_ENGINES --batch-sizes 1 32 --seq-lens $SHAPE_SEQS --iters "$ITERS" \
  --warmup "$WARMUP" --no-memory --out "$R/shapes"
step attention "${SWEEP_TIMEOUT:-90}" $PY tools/attention_sweep.py --device "$DEVICE" --batch-sizes $SWEEP_BATCHES \
  --iters "$SWEEP_ITERS" --out "$R/attention.json"
step corpus "${CORPUS_TIMEOUT:-90}" $PY -m transformer_opt analyze sentence-transformers/all-MiniLM-L6-v2 --corpus builtin \
  --corpus-size "$CORPUS_SIZE" --device "$DEVICE" --out "$R" --charts "$IMAGES"
tar czf "$OUT/gpu_run.tgz" "$R" "$IMAGES" "_runs/$TAG" 2>/dev/null
ls -la "$OUT"
exit $status
