#!/usr/bin/env sh
# Serve the app, the django-q2 worker and (without KIE_API_KEY) the KIE simulator together.
# Ctrl-C (or any one of them dying) stops all of them.
PY=${1:-.venv/bin/python}
set -u
pids=""
start() { "$@" & pids="$pids $!"; }
stop() { trap - INT TERM EXIT; kill $pids 2>/dev/null; wait 2>/dev/null; }
trap stop INT TERM EXIT

if [ -z "${KIE_API_KEY:-}" ]; then
  start "$PY" manage.py kie_sandbox --port "${KIE_SANDBOX_PORT:-8001}"
fi
start "$PY" manage.py qcluster
start "$PY" manage.py runserver 127.0.0.1:8000

cat <<MSG

  Artio is serving on http://127.0.0.1:8000  (Ctrl-C stops everything)
  Create a staff user for /admin/ with:  DJANGO_DEBUG=1 $PY manage.py createsuperuser

MSG
# Wait until any child exits, then stop the rest.
while :; do
  for p in $pids; do kill -0 "$p" 2>/dev/null || exit 1; done
  sleep 1
done
