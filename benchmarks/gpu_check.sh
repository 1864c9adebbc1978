#!/usr/bin/env bash
# The GPU checks of vectorised clients, in one call on a machine with an NVIDIA GPU:
#   1. benchmarks/vectorised.py on cuda: 10 / 100 / 1,000 participants x 512 samples, in turn vs
#      stacked on the same GPU (acceptance: >= 10x at 100 participants);
#   2. the quickstart on cuda (local runtime, vectorised by default there) beside the same run
#      made on CPU (benchmarks/results/quickstart-local-cpu/, not repeated here): one table
#      (acceptance: the same accuracy within seed noise);
#   3. benchmarks/host_work.py on cuda: a round's phases per participant, in turn and stacked
#      (what bounds the speed-up of 1. where it falls short).
#
#   OUT=/tmp/gpu-check bash benchmarks/gpu_check.sh
#
# Python packages the machine lacks travel as wheels in .whl/ (git-ignored; see
# benchmarks/results/README.md for the pip download line); they are installed to /tmp/site.
# Ray is not needed (runtime.backend: local). What to read lands in $OUT (7 files; the device
# tool returns at most 8); run folders stay in /tmp/gpu-check-runs.
set -euo pipefail
OUT=${OUT:-/tmp/gpu-check}
RUNS=/tmp/gpu-check-runs
mkdir -p "$OUT" "$RUNS"
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
if compgen -G ".whl/*.whl" >/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl
    export PYTHONPATH="$PYTHONPATH:/tmp/site"
fi
DEVICE=${QUICKSTART_DEVICE:-cuda}  # cpu: a dry run of this script on a machine without a GPU
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
  python3 -c "import torch; print('torch', torch.__version__, 'sees a GPU:',
torch.cuda.is_available(), torch.cuda.get_device_name() if torch.cuda.is_available() else '')"
} | tee "$OUT/device.txt"

python3 benchmarks/vectorised.py --devices "$DEVICE" --participants 10 100 1000 --warm-rounds 1 \
    ${VECTORISED_ARGS:-} | tee "$OUT/vectorised-$DEVICE.txt"
python3 benchmarks/host_work.py --device "$DEVICE" | tee "$OUT/host-work-$DEVICE.txt"

rm -rf "$RUNS/quickstart-$DEVICE"
started=$SECONDS
python3 -m harmony_sim scenarios/quickstart.yaml -q \
    --out "$RUNS/quickstart-$DEVICE" --set runtime.backend=local --set runtime.device="$DEVICE" \
    --set output.checkpoint_every=0 2>&1 | tee "$OUT/quickstart-$DEVICE.txt"
echo "quickstart on $DEVICE: $((SECONDS - started)) s wall" | tee -a "$OUT/quickstart-$DEVICE.txt"
cp "$RUNS/quickstart-$DEVICE/summary.json" "$OUT/summary-$DEVICE.json"
python3 -m harmony_sim compare benchmarks/results/quickstart-local-cpu "$RUNS/quickstart-$DEVICE" \
    --by runtime.device --out "$RUNS/compare" | tee "$OUT/quickstart-compare.txt"
cp "$RUNS/compare/comparison.csv" "$OUT/"
