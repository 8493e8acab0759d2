#!/usr/bin/env bash
# Create (or reuse) a virtual environment and install robust-mllm into it from this checkout.
# Usage: scripts/setup.sh [VENV_DIR] [EXTRAS]     e.g. scripts/setup.sh .venv test
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
venv=${1:-"$here/.venv"}
extras=${2:-}
python3 -m venv "$venv"
pip="$venv/bin/python -m pip"
$pip install -q --upgrade pip
# The CPU build of torch; a bare "torch" requirement would pull several GB of CUDA packages.
$pip install -q "torch==2.13.0"
if [ -n "$extras" ]; then $pip install -q -e "$here[$extras]"; else $pip install -q -e "$here"; fi
# imagecorruptions-imaug depends on opencv-python (needs libGL); both wheels ship the same cv2
# package, so remove the GUI build and restore the headless one's files.
if $pip show -q opencv-python >/dev/null 2>&1; then
  $pip uninstall -q -y opencv-python
  $pip install -q --force-reinstall --no-deps "opencv-python-headless>=4.8"
fi
# word_insert draws synonyms from WordNet 3.0 (Debian's wordnet-base; no PyPI package ships it).
if [ ! -e /usr/share/wordnet/index.noun ] && [ -z "${ROBUST_MLLM_WORDNET_DIR:-}" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wordnet-base >/dev/null
  else
    echo "note: word_insert needs WordNet: run 'sudo apt-get install wordnet-base'" \
         "or set ROBUST_MLLM_WORDNET_DIR to a WordNet 3.0 dict folder" >&2
  fi
fi
# The gallery draws Hindi, Arabic and Greek questions with real shaping: Pillow's libraqm layout
# (Debian's libraqm0 brings HarfBuzz and FriBiDi) and fonts covering Devanagari (Lohit) besides
# DejaVu (Latin, Greek, Arabic). Without them the renderer warns about every missing glyph.
if ! fc-list 2>/dev/null | grep -q "Lohit Devanagari" || ! ldconfig -p 2>/dev/null | grep -q libfribidi; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      libraqm0 fonts-dejavu-core fonts-lohit-deva >/dev/null
  else
    echo "note: the gallery needs 'sudo apt-get install libraqm0 fonts-dejavu-core fonts-lohit-deva'" >&2
  fi
fi
echo "robust-mllm installed in $venv"
