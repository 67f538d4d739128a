#!/usr/bin/env bash
# Install, migrate, seed demo data and serve Samoe with the LINE emulator on PORT (8000).
source "$(dirname "$0")/_venv.sh"
pip install -q -r requirements.txt
export PORT="${PORT:-8000}"
flask --app wsgi translate compile >/dev/null
flask --app wsgi db upgrade
flask --app wsgi seed-demo >/dev/null
echo "Samoe is starting on http://127.0.0.1:${PORT}/ — LINE emulator chat page: http://127.0.0.1:${PORT}/emulator/chat" >&2
exec gunicorn --no-control-socket --workers "${WEB_CONCURRENCY:-2}" --worker-class gthread --threads 4 \
  --bind "${HOST:-0.0.0.0}:${PORT}" --access-logfile - "wsgi:app"
