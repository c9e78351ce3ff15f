#!/usr/bin/env bash
# The GPU proof run (issue: run the whole series on an H100/H200). On the GPU machine, after the stack is installed
# (see ../shared/gpu/README.md and tools/gpu_install.sh), from the repository's root:
#     bash tools/gpu_proof.sh
# It runs the notebooks that do GPU work (03_session, 06_bench, 07_viz) with papermill and GPU parameters: the
# default model at batch 1, 16, 32 and sequence 128 with every GPU engine, torch.compile included. It packs the results
# JSON and CSV, the charts and the executed notebooks into one archive, $OUT/gpu_run.tgz.
# Dry run on a CPU machine: DEVICE=cpu ENGINES="pytorch-fp32 ort-fp32" ITERS=2 bash tools/gpu_proof.sh
set -uo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1 MPLBACKEND=Agg TRANSFORMERS_VERBOSITY=error
PY=${PY:-python3}
OUT=${OUT:-/tmp/gpu_proof_out}; mkdir -p "$OUT"
DEVICE=${DEVICE:-cuda}
ENGINES=${ENGINES:-pytorch-fp32 pytorch-fp16 torch-compile-fp16 ort-fp32-fused ort-fp16-plain ort-fp16-fused ort-fp16-fused-cudagraph}
ITERS=${ITERS:-200}; WARMUP=${WARMUP:-20}
if [ "$DEVICE" = cuda ]; then
  TAG=${TAG:-$($PY -c "import torch; n=torch.cuda.get_device_name(0).upper(); print(next((k.lower() for k in ('H200','H100','A100','L4','T4') if k in n), 'gpu'))")}
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv > "$OUT/nvidia-smi.csv" 2>&1
else TAG=${TAG:-dryrun-cpu}; fi
echo "tag=$TAG device=$DEVICE engines=$ENGINES iters=$ITERS"
timeout ${SERIES_TIMEOUT:-460} $PY tools/run_series.py --device "$DEVICE" --tag "$TAG" --only ${ONLY:-03_session 06_bench 07_viz} \
  --engines $ENGINES --iters "$ITERS" --warmup "$WARMUP" --images images 2>&1 | tee "$OUT/series.log"
rc=${PIPESTATUS[0]}
tar czf "$OUT/gpu_run.tgz" "results/$TAG" images "_runs/$TAG" 2>/dev/null
ls -la "$OUT"
exit $rc
