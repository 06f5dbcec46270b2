#!/usr/bin/env bash
# Fetches the 24 Kodak images and verifies them against scripts/kodak.SHA256SUMS.
#
#   scripts/download_kodak.sh [DEST]          # default DEST: ~/.cache/siren_jax/kodak (found automatically)
#   scripts/download_kodak.sh --from DIR [DEST]   # copy from a local copy instead, still verified
#
# Source: GitHub Zelex/images at a pinned commit, whose files are the ones the checksums describe (the
# pixels equal the r0k.us release; see the README's Data section). Files that fail the check are deleted
# and the script exits non-zero; existing verified files are not downloaded again.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
sums="$here/kodak.SHA256SUMS"
from=""
if [[ "${1:-}" == "--from" ]]; then from=$2; shift 2; fi
dest=${1:-${SIREN_JAX_KODAK_DIR:-$HOME/.cache/siren_jax/kodak}}
base="https://raw.githubusercontent.com/Zelex/images/0b8a89db599a384124fb991b85d40cfd63c73d58/kodak"
mkdir -p "$dest"
cp "$sums" "$dest/SHA256SUMS"
cd "$dest"
failed=0
for i in $(seq -w 1 24); do
  f="kodim$i.png"
  if [[ -f "$f" ]] && grep " $f\$" SHA256SUMS | sha256sum -c --status 2>/dev/null; then continue; fi
  tmp="$f.part"
  if [[ -n "$from" ]]; then
    cp "$from/$f" "$tmp"
  else
    curl -fsSL --retry 3 -o "$tmp" "$base/$f" || { echo "error: download of $f failed" >&2; rm -f "$tmp"; failed=1; continue; }
  fi
  if sed "s/ $f\$/ $tmp/" SHA256SUMS | grep " $tmp\$" | sha256sum -c --status; then
    mv "$tmp" "$f"
  else
    echo "error: $f does not match its SHA256 sum; deleted" >&2
    rm -f "$tmp"; failed=1
  fi
done
if [[ $failed -ne 0 ]]; then exit 1; fi
sha256sum -c --quiet SHA256SUMS
echo "Kodak: 24 images verified in $dest"
