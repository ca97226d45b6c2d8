#!/usr/bin/env bash
# The GPU benchmarks of BENCHMARKS.md in one command, on an accelerator machine: graft's
# `cargo bench --bench gpu` (prebuilt by scripts/device/gpu-bench-prepare.sh into
# target/devrun/) and PyTorch's CUDA twin (benches/reference/gpu_pytorch.py), one after the
# other in the same sitting. Logs go to $OUT (the device tool's folder) or target/devrun/out.
#
# Knobs: GRAFT_BENCH_MATMUL_MAX (default 4096), GRAFT_MATMUL_TILE=64|128 and GRAFT_MATMUL_SPLIT_K=<n>
# (force a matmul plan, for tuning), BENCH_ARGS (criterion options; default a 1 s warm-up and 3 s
# of measurement).
set -uo pipefail
cd "$(dirname "$0")/../.."
dir=target/devrun
out=${OUT:-$dir/out}
mkdir -p "$out"
if [ ! -x "$dir/gpu-bench" ]; then
    echo "gpu-bench: $dir/gpu-bench is missing: run scripts/device/gpu-bench-prepare.sh first and carry $dir" >&2
    exit 1
fi
# The carried loader, unless the machine has one; the NVIDIA ICD where the image keeps it.
if ! ldconfig -p | grep -q 'libvulkan\.so\.1'; then
    export LD_LIBRARY_PATH="$PWD/$dir/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
if [ -z "${VK_DRIVER_FILES:-}" ] && [ -f "$icd" ]; then
    export VK_DRIVER_FILES=$icd
fi
export WGPU_BACKEND=${WGPU_BACKEND:-vulkan} GRAFT_BENCH_MATMUL_MAX=${GRAFT_BENCH_MATMUL_MAX:-4096}
export PYTHONUNBUFFERED=1 CARGO_TARGET_DIR=$dir
echo "graft commit $(cat "$dir/commit" 2>/dev/null || echo unknown)" | tee "$out/graft.log"
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem --format=csv 2>&1 | tee -a "$out/graft.log"
# shellcheck disable=SC2086 # BENCH_ARGS is a list of criterion options
timeout 420 "$dir/gpu-bench" --bench ${BENCH_ARGS:---warm-up-time 1 --measurement-time 3} 2>&1 |
    grep -v -e '^Benchmarking' -e '^$' | tee -a "$out/graft.log"
timeout 240 python3 benches/reference/gpu_pytorch.py 2>&1 | tee "$out/pytorch.log"
