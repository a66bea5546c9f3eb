#!/usr/bin/env bash
# Installs the local stack's tools into the checkout (.tools/), pinned, idempotently.
# Only Rust is assumed on the machine; Python 3 and Node/npm come with it here
# (and on any machine that can run this project's tooling at all).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
tools="$root/.tools"
stamp="$tools/.installed-v4"
[ -f "$stamp" ] && exit 0

mkdir -p "$tools"
export PIP_DISABLE_PIP_VERSION_CHECK=1
if [ ! -x "$tools/venv/bin/python" ]; then
  python3 -m venv "$tools/venv"
fi
"$tools/venv/bin/pip" install --quiet \
  'moto[server]==5.2.5' \
  'cargo-lambda==1.9.2' \
  'ziglang==0.13.0' \
  'cfn-lint==1.58.0' \
  'aws-sam-cli==1.170.0' \
  'schemathesis==4.32.5'

# The scanners of the template (checkov) and its IAM policies (parliament), in a venv of their
# own: checkov pins dependencies that the stack's tools need at other versions.
if [ ! -x "$tools/scanners/bin/python" ]; then
  python3 -m venv "$tools/scanners"
fi
"$tools/scanners/bin/pip" install --quiet 'checkov==3.3.30' 'parliament==1.6.4'

mkdir -p "$tools/node"
npm install --silent --no-audit --no-fund --prefix "$tools/node" 'json-server@0.17.4' >/dev/null

# Real clients the tests drive (tests/clients/), exactly as locked.
mkdir -p "$tools/clients"
cp "$root/tests/clients/package.json" "$root/tests/clients/package-lock.json" "$tools/clients/"
(cd "$tools/clients" && npm ci --silent --no-audit --no-fund >/dev/null)

# A browser for the console's end-to-end test (console/e2e): a Chrome or Chromium already on
# the machine, else Debian's chromium (browsers cannot be downloaded by the test tools here).
if ! command -v chromium >/dev/null && ! command -v google-chrome >/dev/null && [ -z "${CHROME_PATH:-}" ]; then
  if command -v apt-get >/dev/null; then
    sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
    $sudo apt-get update -qq >/dev/null && $sudo apt-get install -y -qq chromium >/dev/null
  else
    echo "install Chromium or Chrome (or set CHROME_PATH) for the console's browser test" >&2
  fi
fi

touch "$stamp"
