#!/usr/bin/env sh
# Serve the app, the django-q2 worker and (without KIE_API_KEY) the KIE simulator together.
# Ctrl-C (or any one of them dying) stops all of them.
# Usage: run.sh [PYTHON] [dev]  — "dev" serves with Django's auto-reloading runserver instead of gunicorn.
PY=${1:-.venv/bin/python}
MODE=${2:-serve}
set -u
# Exported so the worker builds KIE callback URLs for the same port (settings: ARTIO_PUBLIC_URL).
PORT=${PORT:-8000}
export PORT
pids=""
# Each service runs in its own session (process group), so stopping it reaches its own children
# too (qcluster's workers), and a Ctrl-C reaches only this script, which stops them in order.
if command -v setsid >/dev/null 2>&1; then detach=setsid; else detach=""; fi
start() { $detach "$@" & pids="$pids $!"; }
signal_all() { for p in $pids; do kill "-$1" -- "-$p" 2>/dev/null || kill "-$1" "$p" 2>/dev/null; done; }
alive() { for p in $pids; do kill -0 "$p" 2>/dev/null && return 0; done; return 1; }
stop() {
  trap - INT TERM EXIT
  signal_all TERM
  for _ in 1 2 3 4 5 6 7 8 9 10; do alive || return 0; sleep 0.5; done
  signal_all KILL  # qcluster can hang while stopping; nothing may outlive `make run`
}
trap stop INT TERM EXIT

if [ -z "${KIE_API_KEY:-}" ]; then
  start "$PY" manage.py kie_sandbox --port "${KIE_SANDBOX_PORT:-8001}"
fi
start "$PY" manage.py qcluster
# The createTask dispatcher on a cluster of its own (one worker), so pacing KIE's rate never
# holds up callbacks, downloads and webhooks on the default cluster above.
start env Q_CLUSTER_NAME=dispatch "$PY" manage.py qcluster
if [ "$MODE" = dev ]; then
  start "$PY" manage.py runserver "127.0.0.1:$PORT"  # reloads on every code change; one process
else
  start sh scripts/serve.sh "$PY"
fi

cat <<MSG

  Artio is serving on http://127.0.0.1:$PORT  (Ctrl-C stops everything)
  Create a staff user for /admin/ with:  DJANGO_DEBUG=1 $PY manage.py createsuperuser

MSG
# Wait until any child exits, then stop the rest.
while :; do
  for p in $pids; do kill -0 "$p" 2>/dev/null || exit 1; done
  sleep 1
done
