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
if [ -n "${TEST_DATABASE_URL:-}" ]; then
  # PostgreSQL's backup tests need pg_dump and pg_restore of the server's major version (an
  # older pg_dump refuses to dump a newer server): Debian's postgresql-client-N, else the
  # distribution's postgresql-client
  server_major="$(TEST_DATABASE_URL="$TEST_DATABASE_URL" python - <<'PY' 2>/dev/null || true
import os
import psycopg
url = os.environ["TEST_DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://")
with psycopg.connect(url, connect_timeout=5) as conn:
    print(conn.info.server_version // 10000)
PY
)"
  if [ -n "$server_major" ] && [ -x "/usr/lib/postgresql/$server_major/bin/pg_dump" ]; then
    :  # the matching client is installed (the tests look for it there)
  elif [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing PostgreSQL's client tools (pg_dump, pg_restore) for the backup tests" >&2
    apt-get update -qq >&2
    if [ -n "$server_major" ] && apt-cache show "postgresql-client-$server_major" >/dev/null 2>&1; then
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "postgresql-client-$server_major" >&2
    else
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-client >&2
    fi
  elif ! command -v pg_dump >/dev/null 2>&1; then
    echo "pg_dump is missing and this is not root: PostgreSQL's backup tests will fail" >&2
  fi
fi
flask --app wsgi translate compile >/dev/null
ruff check .
exec python -m pytest "$@"
