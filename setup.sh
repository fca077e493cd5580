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
if ! command -v ffmpeg >/dev/null 2>&1; then
  echo "setup.sh: ffmpeg not found: video downloads keep single-file formats (install ffmpeg, e.g. apt-get install" \
       "ffmpeg, to merge separate video and audio)" >&2
fi
echo "lastseen installed in $(pwd)/.venv: run .venv/bin/lastseen --help"
