#!/usr/bin/env sh
# Serve the web app through gunicorn on 127.0.0.1:$PORT (default 8000), as `make run` does.
# tests/test_serve.py starts this very script, so what is tested is what runs.
#
# gthread: each process serves many requests on threads, and connections beyond the busy threads
# wait in gunicorn's queue instead of being reset (runserver's listen backlog is 5, so 40 clients
# at once saw resets). Few processes, several threads: SQLite lets one connection write at a time,
# so more processes would only queue on its lock (settings: WAL, IMMEDIATE, a 20 s busy timeout,
# below gunicorn's 30 s worker timeout); two use both cores of a small machine despite Python's GIL,
# and eight threads each overlap the time spent waiting on the database and the KIE simulator.
# In production the Procfile's web line does the same on PostgreSQL.
# No control socket: gunicorn 27 puts one at ~/.gunicorn/gunicorn.ctl, which a second server on the
# same machine (make run beside the tests, the cluster test's two web hosts) would take over.
PY=${1:-.venv/bin/python}
exec "$PY" -m gunicorn artio.wsgi \
  --bind "127.0.0.1:${PORT:-8000}" \
  --worker-class gthread --workers 2 --threads 8 \
  --timeout 30 --graceful-timeout 5 \
  --no-control-socket \
  --access-logfile -
