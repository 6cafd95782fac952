#!/bin/sh
# Install the Tesseract models (chi_sim kor fra msa eng) into $1, from
# Debian's tesseract-ocr-* language packages, and check them against the
# SHA-256 sums pinned in bot/vision/tessdata.sha256. Run by `make`; no root
# needed while apt's package lists exist (they are refreshed only when
# `apt-get download` cannot find the packages). Nothing is fetched at run time.
set -eu
mkdir -p "$1"
dest="$(cd "$1" && pwd)"
here="$(cd "$(dirname "$0")" && pwd)"
sums="$here/tessdata.sha256"
packages="tesseract-ocr-chi-sim tesseract-ocr-kor tesseract-ocr-fra tesseract-ocr-msa tesseract-ocr-eng"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
# apt-get download writes into the current folder; as root it warns that the
# _apt user cannot write there (harmless), hence 2>&1 filtered.
if ! apt-get download $packages >apt.log 2>&1; then
    echo "tessdata: package lists missing or stale, running apt-get update" >&2
    apt-get update -qq
    apt-get download $packages >apt.log 2>&1 || { cat apt.log >&2; exit 1; }
fi
for deb in ./*.deb; do dpkg-deb -x "$deb" unpacked; done
for file in $(awk '{print $2}' "$sums"); do
    found="$(find unpacked -name "$file" -type f | head -n 1)"
    [ -n "$found" ] || { echo "tessdata: $file is not in the Debian packages" >&2; exit 1; }
    cp "$found" "$dest/$file.part"
done
cd "$dest"
for file in $(awk '{print $2}' "$sums"); do mv "$file.part" "$file"; done
# A model whose bytes differ from the pinned ones is removed, not used.
if ! sha256sum --quiet -c "$sums"; then
    rm -f $(awk '{print $2}' "$sums")
    echo "tessdata: SHA-256 mismatch: the models were removed (see bot/vision/tessdata.sha256)" >&2
    exit 1
fi
echo "tessdata: $(awk '{print $2}' "$sums" | tr '\n' ' ')in $dest"
