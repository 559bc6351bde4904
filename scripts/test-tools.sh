# Sourced by test.sh: install what the tests drive, when it is missing.
#   Debian: ODBC runtime for pyodbc, PostgreSQL, Chromium, libfaketime (a worker with a skewed
#   clock).  npm: Azurite.  PyPI: requirements-dev.
set -euo pipefail
apt_needed=()
[ -e /usr/lib/x86_64-linux-gnu/libodbc.so.2 ] || ls /usr/lib/*/libodbc.so.2 >/dev/null 2>&1 || apt_needed+=(unixodbc)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || apt_needed+=(postgresql)
[ -x /usr/bin/chromium ] || apt_needed+=(chromium)
id postgres >/dev/null 2>&1 || apt_needed+=(postgresql)  # the server runs as this user
command -v npm >/dev/null 2>&1 || apt_needed+=(npm)
ls /usr/lib/*/faketime/libfaketime.so.1 >/dev/null 2>&1 || apt_needed+=(faketime)
if [ ${#apt_needed[@]} -gt 0 ]; then
  echo "installing Debian packages: ${apt_needed[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${apt_needed[@]}" >/dev/null
fi
if [ ! -x .tools/node_modules/.bin/azurite-blob ]; then
  echo "installing Azurite from npm" >&2
  mkdir -p .tools
  npm install --prefix .tools --no-audit --no-fund --silent azurite@3 >/dev/null
fi
# checkov in a venv of its own: its pins (packaging 23, boto3, pycep-parser 0.5) clash with ours.
checkov_version="3.3.30"
if [ ! -x .tools/checkov/bin/checkov ] || [ "$(cat .tools/checkov/.version 2>/dev/null)" != "$checkov_version" ]; then
  echo "installing checkov $checkov_version into .tools/checkov" >&2
  mkdir -p .tools
  python3.11 -m venv .tools/checkov 2>/dev/null || python3 -m venv .tools/checkov
  .tools/checkov/bin/python -m pip install --quiet --disable-pip-version-check "checkov==$checkov_version"
  echo "$checkov_version" > .tools/checkov/.version
fi
