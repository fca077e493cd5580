#!/usr/bin/env bash
# Command 1 of the README: make .venv with Python >= 3.11 and install lastseen with its test tools.
set -euo pipefail
cd "$(dirname "$0")"
py="${PYTHON:-}"
if [ -z "$py" ]; then
  for candidate in python3.13 python3.12 python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
      py="$candidate"; break
    fi
  done
fi
if [ -z "$py" ]; then
  echo "setup.sh: Python 3.11 or newer is needed (on Debian: apt-get install python3 python3-venv)" >&2
  exit 1
fi
[ -x .venv/bin/python ] || "$py" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[test]'
# Debian's tools lastseen runs: Chromium (screenshots, browser capture), ffmpeg (media), fpcalc (audio
# fingerprints), Tesseract with the languages researchers read (on-screen text), espeak-ng (the tests' speech),
# DejaVu (the font the tests burn captions in with ffmpeg's drawtext).
packages=(chromium chromium-driver ffmpeg libchromaprint-tools tesseract-ocr tesseract-ocr-eng tesseract-ocr-rus
          tesseract-ocr-kaz tesseract-ocr-ukr tesseract-ocr-ara espeak-ng fonts-dejavu-core)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "setup.sh: missing Debian packages (install them as root: apt-get install ${missing[*]})" >&2
  fi
fi
# Chromium refuses its sandbox as root: lastseen run as root starts it as this unprivileged user instead
# (LASTSEEN_CHROMIUM_USER).
if [ "$(id -u)" = 0 ] && ! id lastseen-browser >/dev/null 2>&1; then
  useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin lastseen-browser
fi
echo "lastseen installed in $(pwd)/.venv: run .venv/bin/lastseen --help"
