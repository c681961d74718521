#!/usr/bin/env bash
# Puts a few real photographs into build/photos (or $1) for bagel-make-dataset --photos auto:
# the colour pictures Debian's python3-skimage package ships (scikit-image's sample data:
# astronaut, chelsea the cat, coffee, a motorcycle, a rocket; public-domain / CC0 pictures).
# The package is fetched with apt-get download and unpacked, not installed (it would pull SciPy
# and Matplotlib). Idempotent; exits 0 without photos when the package cannot be had, so callers
# fall back to generated pictures.
set -uo pipefail
dest="${1:-$(cd "$(dirname "$0")/.." && pwd)/build/photos}"
names=(astronaut.png chelsea.png coffee.png motorcycle_left.png rocket.jpg)
if [[ -f "$dest/${names[0]}" ]]; then echo "$dest"; exit 0; fi
installed=/usr/lib/python3/dist-packages/skimage/data
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
src="$installed"
if [[ ! -f "$src/${names[0]}" ]]; then
  ( cd "$tmp" && (apt-get download -q python3-skimage >/dev/null 2>&1 ||
                  { apt-get update -q >/dev/null 2>&1 && apt-get download -q python3-skimage >/dev/null 2>&1; }) )
  deb=$(ls "$tmp"/python3-skimage_*.deb 2>/dev/null | head -1)
  [[ -n "$deb" ]] || { echo "fetch_photos: python3-skimage not available; generated pictures will be used" >&2; exit 0; }
  dpkg-deb -x "$deb" "$tmp/x" || exit 0
  src="$tmp/x/usr/lib/python3/dist-packages/skimage/data"
fi
mkdir -p "$dest"
for n in "${names[@]}"; do [[ -f "$src/$n" ]] && cp "$src/$n" "$dest/"; done
echo "$dest"
