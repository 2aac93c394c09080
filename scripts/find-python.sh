#!/usr/bin/env sh
# Print the path of a Python >= 3.12 interpreter, or fail loudly.
# Machines differ: some have python3.12 on PATH, some only under pyenv or /usr/local.
ok() { "$1" -c 'import sys; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1; }
if [ -n "${PYTHON:-}" ] && ok "$PYTHON"; then echo "$PYTHON"; exit 0; fi
for name in python3.12 python3.13 python3.14 python3 python; do
  p=$(command -v "$name" 2>/dev/null) && ok "$p" && { echo "$p"; exit 0; }
done
pyroot=$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")
for p in "$pyroot"/versions/3.1[2-9]*/bin/python3 /usr/local/bin/python3.1[2-9] /usr/bin/python3.1[2-9] /opt/python*/bin/python3; do
  [ -x "$p" ] && ok "$p" && { echo "$p"; exit 0; }
done
echo "No Python >= 3.12 found. Install one, or set PYTHON=/path/to/python3.12." >&2
exit 1
