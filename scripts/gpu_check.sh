#!/usr/bin/env bash
# Every check that needs a GPU, once: the GPU tests (each task config in fp32 and bf16-mixed, the device
# cache with batched augmentation), the image-throughput, DCGAN and detection benchmarks.
#
#   bash scripts/gpu_check.sh [DATA_DIR] [OUT_DIR] [STEP...]
#
# DATA_DIR holds hymenoptera/, faces/ and pennfudan/ (default ../shared/data); OUT_DIR gets one log per step
# (default gpu_check/). Name steps to run only those: environment gpu_tests throughput dcgan detection.
# Each step has its own time limit, so one that hangs leaves the others' logs intact. PYTHON picks the
# interpreter (default python3).
set -u
data=${1:-../shared/data}
out=${2:-gpu_check}
shift $(($# < 2 ? $# : 2))
steps=${*:-environment gpu_tests throughput dcgan detection}
python=${PYTHON:-python3}
export PYTHONUNBUFFERED=1
mkdir -p "$out"

step() {  # name, time limit in seconds, command...
    local name=$1 limit=$2 start=$SECONDS rc
    shift 2
    [[ " $steps " == *" $name "* ]] || return 0
    echo "== $name (limit ${limit} s): $*"
    timeout "$limit" "$@" >"$out/$name.txt" 2>&1
    rc=$?
    echo "== $name: exit $rc after $((SECONDS - start)) s"
    tail -n 30 "$out/$name.txt"
}

step environment 60 bash -c "nvidia-smi; $python -c 'import sys, torch, torchvision, lightning, torchmetrics
print(sys.version.split()[0], torch.__version__, torch.version.cuda, torchvision.__version__,
      lightning.__version__, torchmetrics.__version__, torch.cuda.get_device_name())'"
step gpu_tests 240 "$python" -m pytest -q -m gpu tests/test_gpu.py -p no:cacheprovider
step throughput 150 "$python" scripts/benchmark.py throughput --device cuda --data-dir "$data/hymenoptera"
step dcgan 120 "$python" scripts/benchmark.py dcgan --epochs 6 --data-dir "$data/faces"
step detection 240 "$python" scripts/benchmark.py detection --device cuda --epochs 10 --threads 8 \
    --data-dir "$data/pennfudan"
