#!/usr/bin/env bash
# Installs the JavaScript the browser tests inject into pages (axe-core, the
# accessibility checker) from npm into DIR (default .venv/js), when missing.
# Nothing here is served by the gateway: its pages use no external assets.
set -euo pipefail
dir="${1:-.venv/js}"
version="4.14.1"
if [ -f "$dir/node_modules/axe-core/axe.min.js" ] && grep -q "\"version\": \"$version\"" "$dir/node_modules/axe-core/package.json"; then
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "install-js: npm is missing (apt-get install npm); the accessibility test will be skipped." >&2
  exit 0
fi
mkdir -p "$dir"
echo "install-js: npm install axe-core@$version into $dir"
npm install --silent --no-audit --no-fund --prefix "$dir" "axe-core@$version" >/dev/null
