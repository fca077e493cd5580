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
# ReplayWeb.page, the dashboard's replay of archived copies: its two files (ui.js, sw.js) from the npm registry,
# pinned and checked against the registry's integrity hash, into archive/api/static/replaywebpage/ (not committed).
# `lastseen serve` serves them itself (no CDN: replay works offline); without npm the dashboard says so.
rwp_version=2.5.3
rwp_integrity=sha512-nCj2PSON3BxeSJKE8AsYPyULv0XPZKJWfy4l9PyQre9SqwLZ+WKZVs/sfLqPOQ4GrH+0YkjbwOhr8cSTH08gsQ==
rwp_dir=archive/api/static/replaywebpage
if [ "$(cat "$rwp_dir/VERSION" 2>/dev/null)" != "$rwp_version" ]; then
  if ! command -v npm >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null || true
  fi
  if command -v npm >/dev/null 2>&1; then
    rwp_tmp="$(mktemp -d)"
    (cd "$rwp_tmp" && npm pack --silent "replaywebpage@$rwp_version" >/dev/null)
    tarball="$rwp_tmp/replaywebpage-$rwp_version.tgz"
    got="sha512-$(.venv/bin/python -c 'import base64, hashlib, sys; print(base64.b64encode(hashlib.sha512(open(sys.argv[1], "rb").read()).digest()).decode())' "$tarball")"
    if [ "$got" != "$rwp_integrity" ]; then
      echo "setup.sh: replaywebpage@$rwp_version from npm does not match its pinned hash: not installed" >&2
    else
      tar -xzf "$tarball" -C "$rwp_tmp" package/ui.js package/sw.js package/LICENSE
      mkdir -p "$rwp_dir"
      cp "$rwp_tmp/package/ui.js" "$rwp_tmp/package/sw.js" "$rwp_tmp/package/LICENSE" "$rwp_dir/"
      echo "$rwp_version" > "$rwp_dir/VERSION"
    fi
    rm -rf "$rwp_tmp"
  else
    echo "setup.sh: npm is missing: the dashboard shows archived copies' source only (apt-get install npm)" >&2
  fi
fi
echo "lastseen installed in $(pwd)/.venv: run .venv/bin/lastseen --help"
