# Sourced by test.sh: install what the tests drive, when it is missing.
#   Debian: ODBC runtime for pyodbc, PostgreSQL, Chromium.  npm: Azurite.  PyPI: requirements-dev.
set -euo pipefail
apt_needed=()
[ -e /usr/lib/x86_64-linux-gnu/libodbc.so.2 ] || ls /usr/lib/*/libodbc.so.2 >/dev/null 2>&1 || apt_needed+=(unixodbc)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || apt_needed+=(postgresql)
[ -x /usr/bin/chromium ] || apt_needed+=(chromium)
id postgres >/dev/null 2>&1 || apt_needed+=(postgresql)  # the server runs as this user
command -v npm >/dev/null 2>&1 || apt_needed+=(npm)
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
