#!/usr/bin/env bash
# graft's side of the Keras recipe comparison (benches/reference/keras_fashion.py is Keras' side):
# model A (8 Fashion-MNIST classes, 48,000 images, 10 % held out, tested on the 8,000 test images
# of those classes) and task B from scratch (200 T-shirt/pullover images of data/demo, a 1-unit
# sigmoid head with binary cross-entropy), each 3 x Dense(100, relu) with plain SGD at lr 1e-3,
# batch 32, 20 epochs, for seeds 1-5 and the initialisers given (default: he_normal and graft's
# default torch_default). Prints the test accuracy of every run and the mean +- sample std.
#
#   bash benches/reference/keras_recipe_graft.sh [FASHION_DIR] [INIT ...]
#
# Needs the Fashion-MNIST IDX files (Debian: apt-get install dataset-fashion-mnist).
set -euo pipefail
cd "$(dirname "$0")/../.."
fashion=${1:-/usr/share/datasets/fashion-mnist}
shift || true
inits=("$@")
[ ${#inits[@]} -eq 0 ] && inits=(he_normal torch_default)
cargo build --release --quiet
graft=target/release/graft
demo=data/demo
out=$(mktemp -d)
trunk="flatten,linear(784,100),relu,linear(100,100),relu,linear(100,100),relu"

run() { # task init seed -> prints the test accuracy
    local task=$1 init=$2 seed=$3
    if [ "$task" = a ]; then
        "$graft" train --spec "$trunk,linear(100,8)" --init "$init" --seed "$seed" \
            --train "$fashion/train-images-idx3-ubyte.gz,$fashion/train-labels-idx1-ubyte.gz" \
            --test "$fashion/t10k-images-idx3-ubyte.gz,$fashion/t10k-labels-idx1-ubyte.gz" \
            --classes 1,3,4,5,6,7,8,9 --val-split 0.1 --epochs 20 --lr 0.001 --batch-size 32 \
            --out "$out/a.safetensors"
    else
        "$graft" train --spec "$trunk,linear(100,1)" --init "$init" --seed "$seed" \
            --train "$demo/taskb-train-images.idx.gz,$demo/taskb-train-labels.idx.gz" \
            --val "$demo/taskb-val-images.idx.gz,$demo/taskb-val-labels.idx.gz" \
            --test "$demo/taskb-test-images.idx.gz,$demo/taskb-test-labels.idx.gz" \
            --epochs 20 --lr 0.001 --batch-size 32 --out "$out/b.safetensors"
    fi 2>/dev/null | awk '/^test accuracy/ { print $3 }'
}

for task in a b; do
    for init in "${inits[@]}"; do
        accs=()
        for seed in 1 2 3 4 5; do
            start=$(date +%s.%N)
            acc=$(run "$task" "$init" "$seed")
            secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { print b - a }')
            printf 'task %s  init %-14s seed %d  test acc %s  (%.1f s)\n' "$task" "$init" "$seed" "$acc" "$secs"
            accs+=("$acc")
        done
        printf '%s\n' "${accs[@]}" | awk -v t="$task" -v i="$init" '
            { s += $1; q += $1 * $1; n++ }
            END { m = s / n; sd = sqrt((q - n * m * m) / (n - 1));
                  printf "task %s  init %-14s mean %.4f +- %.4f (n=%d, sample std)\n", t, i, m, sd, n }'
    done
done
rm -rf "$out"
