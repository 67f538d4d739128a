#!/usr/bin/env bash
# Install what the tests need and run the whole suite: SQLite always, PostgreSQL too when
# TEST_DATABASE_URL is set (e.g. postgresql://postgres@127.0.0.1:5432/test).
source "$(dirname "$0")/_venv.sh"
pip install -q -r requirements-dev.txt
if ! command -v chromium >/dev/null 2>&1 || ! fc-list 2>/dev/null | grep -qi "thai\|loma\|garuda"; then
  if [ "$(id -u)" = 0 ]; then
    echo "installing Debian's chromium and Thai fonts for the browser tests" >&2
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-thai-tlwg fonts-noto-color-emoji >&2
  else
    echo "chromium or a Thai font is missing and this is not root: browser tests will fail" >&2
  fi
fi
flask --app wsgi translate compile >/dev/null
ruff check .
exec python -m pytest "$@"
