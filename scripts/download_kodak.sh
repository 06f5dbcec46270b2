#!/usr/bin/env bash
# Fetches the 24 Kodak images and verifies them against scripts/kodak.SHA256SUMS (usage: --help).
#
# Source: GitHub Zelex/images at a pinned commit, whose files are the ones the checksums describe (the
# pixels equal the r0k.us release; see the README's Data section). Files that fail the check are deleted
# and the script exits non-zero; existing verified files are not downloaded again.
set -euo pipefail

usage() {
  cat <<USAGE
Usage: scripts/download_kodak.sh [--from DIR] [DEST]

Fetches the 24 Kodak images (kodim01.png..kodim24.png) into DEST and verifies each against
scripts/kodak.SHA256SUMS; files that fail the check are deleted. Verified files already in DEST are
kept, so re-running resumes.

  DEST        target directory (created if missing); default \$SIREN_JAX_KODAK_DIR if set, else
              ~/.cache/siren_jax/kodak. siren_jax finds the images in either place.
  --from DIR  copy from a local directory instead of downloading (still verified)
  -h, --help  show this help and exit

Exit status: 0 when all 24 images are verified, 1 when some could not be fetched or failed the check,
2 for bad arguments.
USAGE
}

fail_usage() {
  echo "error: $1 (see scripts/download_kodak.sh --help)" >&2
  exit 2
}

# Arguments are all checked before anything is created or copied.
from=""
dest=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --from)
      [[ $# -ge 2 && -n "$2" ]] || fail_usage "--from needs a directory"
      from=$2; shift 2 ;;
    --from=*) from=${1#--from=}; [[ -n "$from" ]] || fail_usage "--from needs a directory"; shift ;;
    --)  # the end of options: what follows is DEST, even if it starts with "-"
      shift
      for arg in "$@"; do [[ -z "$dest" ]] || fail_usage "more than one DEST ($dest, $arg)"; dest=$arg; done
      shift $# ;;
    -*) fail_usage "unknown option $1" ;;
    *) [[ -z "$dest" ]] || fail_usage "more than one DEST ($dest, $1)"; dest=$1; shift ;;
  esac
done
if [[ -n "$from" ]]; then
  [[ -d "$from" ]] || fail_usage "--from $from is not a directory"
  from=$(cd "$from" && pwd)  # absolute: the loop below runs inside DEST
fi
dest=${dest:-${SIREN_JAX_KODAK_DIR:-$HOME/.cache/siren_jax/kodak}}
[[ ! -e "$dest" || -d "$dest" ]] || fail_usage "DEST $dest exists and is not a directory"
for tool in sha256sum $([[ -z "$from" ]] && echo curl); do
  command -v "$tool" >/dev/null || { echo "error: $tool is required but not installed" >&2; exit 1; }
done

here=$(cd "$(dirname "$0")" && pwd)
sums="$here/kodak.SHA256SUMS"
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
    cp "$from/$f" "$tmp" 2>/dev/null || { echo "error: $from/$f: cannot copy (missing?)" >&2; rm -f "$tmp"; failed=1; continue; }
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
