#!/usr/bin/env bash
# Builds the admin console (console/) into console/dist when its sources changed: what the
# console function serves at /admin/ (read from disk by debug builds, embedded by release
# builds). Installs its packages exactly as locked first. `console.sh test` runs its own
# checks (types and unit tests).
set -euo pipefail
dir="$(cd "$(dirname "$0")/../../console" && pwd)"
cd "$dir"
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --silent --no-audit --no-fund >/dev/null
fi
case "${1:-build}" in
  build)
    newest=$(find src index.html package.json package-lock.json vite.config.ts tsconfig.json -type f -newer dist/index.html 2>/dev/null | head -1 || true)
    if [ ! -f dist/index.html ] || [ -n "$newest" ]; then
      echo "building the console..."
      npm run --silent build >/dev/null
    fi
    ;;
  test)
    npm test --silent
    ;;
  *)
    echo "usage: $0 [build|test]" >&2
    exit 2
    ;;
esac
