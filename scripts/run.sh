#!/usr/bin/env bash
# Install, migrate, seed the demo data and serve Samoe with the LINE emulator on PORT (8000).
# Once the server answers, the rich menus are synced to the emulator and linked to every
# registered user (the demo users included), in the background: one terminal is enough.
source "$(dirname "$0")/_venv.sh"
pip install -q -r requirements.txt
export PORT="${PORT:-8000}"
# "งานของฉัน" cards get an "open in the web" button that leads to this server's console.
export PUBLIC_URL="${PUBLIC_URL:-http://127.0.0.1:${PORT}}"
flask --app wsgi translate compile >/dev/null
flask --app wsgi db upgrade
flask --app wsgi seed-demo >/dev/null

# Waits (up to 2 minutes, while this server runs) for /healthz; succeeds only when the LINE
# emulator is mounted (with real LINE credentials, run `richmenu sync` after each deploy).
await_emulator() {
  python - "$1" "$PORT" <<'PY'
import os, sys, time, urllib.error, urllib.request

server, base = int(sys.argv[1]), f"http://127.0.0.1:{sys.argv[2]}"
deadline = time.monotonic() + 120
while True:
    try:
        os.kill(server, 0)
    except OSError:
        sys.exit(1)  # the server stopped
    try:
        urllib.request.urlopen(base + "/healthz", timeout=2).close()
        break
    except (urllib.error.URLError, OSError):
        if time.monotonic() > deadline:
            sys.exit("the server did not answer /healthz within 2 minutes: rich menus not synced")
        time.sleep(0.5)
try:
    urllib.request.urlopen(base + "/emulator/api/health", timeout=5).close()
except (urllib.error.URLError, OSError):
    sys.exit(1)  # no emulator: real LINE
PY
}
# $$ stays this script's process id after exec: it is gunicorn's.
( await_emulator $$ && flask --app wsgi richmenu sync --link-all >/dev/null \
    && echo "rich menus synced to the emulator and linked to every registered user" >&2 ) &

DEMO_USERNAME="$(python -c 'import json
print(next(u["console"]["username"] for u in json.load(open("services/data/demo_users.json"))
           if "console" in u))')"
cat >&2 <<BANNER
Samoe is starting on http://127.0.0.1:${PORT}/
  chat page (LINE emulator): http://127.0.0.1:${PORT}/emulator/chat   (emulator index: /emulator/)
  officer console:           http://127.0.0.1:${PORT}/console/
    demo officer (LEARN, district 4007; also the chat's officer): ${DEMO_USERNAME} / $(cat instance/demo-officer-password)
BANNER
exec gunicorn --no-control-socket --workers "${WEB_CONCURRENCY:-2}" --worker-class gthread --threads 4 \
  --bind "${HOST:-0.0.0.0}:${PORT}" --access-logfile - "wsgi:app"
