#!/usr/bin/env bash
# Runs every fuzz target for SECONDS (default 600) each, two at a time (one per core), then
# minimises each corpus. Needs cargo-fuzz; on a stable toolchain RUSTC_BOOTSTRAP=1 lets it use
# the sanitizer flags. Logs go to fuzz/logs/.
set -u
cd "$(dirname "$0")"
SECONDS_EACH=${1:-600}
export RUSTC_BOOTSTRAP=1
mkdir -p logs
run() {
    cargo fuzz run -O "$1" -- -max_total_time="$SECONDS_EACH" -rss_limit_mb=2048 -timeout=10 -max_len="$2" \
        > "logs/$1.log" 2>&1
    echo "$1 exit $?" >> logs/summary.txt
}
: > logs/summary.txt
for pair in "model_file:65536 state_dict:65536" "spec:4096 idx:65536" "npy:65536 npz:65536" "pth:65536"; do
    for t in $pair; do run "${t%%:*}" "${t##*:}" & done
    wait
done
for t in model_file state_dict spec idx npy npz pth; do
    cargo fuzz cmin -O "$t" > "logs/$t.cmin.log" 2>&1
done
echo done >> logs/summary.txt
