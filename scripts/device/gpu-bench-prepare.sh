#!/usr/bin/env bash
# Builds what scripts/device/gpu-bench.sh runs on an accelerator machine, which has no Rust
# toolchain: the `gpu` criterion bench, stripped (the device tool carries at most 64 MiB), and the
# Vulkan loader of this machine, into target/devrun/ (ignored by git; name it in `carry`).
#
#     scripts/device/gpu-bench-prepare.sh
#     # then, with the device tool: run(command="bash scripts/device/gpu-bench.sh",
#     #                                 carry=["target/devrun"], timeout_s=540)
set -euo pipefail
cd "$(dirname "$0")/../.."
out=target/devrun
mkdir -p "$out/lib"
# No debug info: the bench profile inherits release's `debug = 1`, which makes the binary ~70 MB.
exe=$(CARGO_PROFILE_BENCH_DEBUG=0 CARGO_PROFILE_RELEASE_DEBUG=0 cargo bench --bench gpu --no-run \
    --message-format=json 2>/dev/null |
    sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | grep '/gpu-' | tail -n 1)
if [ -z "$exe" ]; then
    echo "gpu-bench-prepare: cargo did not report the bench executable" >&2
    exit 1
fi
cp "$exe" "$out/gpu-bench"
strip "$out/gpu-bench" 2>/dev/null || true
loader=$(ldconfig -p | sed -n 's/.*libvulkan\.so\.1 (libc6,x86-64) => \(.*\)/\1/p' | head -n 1)
if [ -n "$loader" ]; then
    cp -L "$loader" "$out/lib/libvulkan.so.1"
else
    echo "gpu-bench-prepare: no libvulkan.so.1 here; the device machine must have its own" >&2
fi
git rev-parse --short HEAD >"$out/commit"
du -sh "$out"
