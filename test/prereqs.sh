#!/usr/bin/env bash
# What `npm test` needs besides node_modules, made present on a machine like ours (Debian, root):
# PostgreSQL answering on 127.0.0.1:5432 (the tests create and drop their own databases there) and Debian's
# Chromium for the dashboard's browser test. With TEST_DATABASE_URL set, the PostgreSQL check is skipped. When no
# PostgreSQL answers (none installed, or it cannot be started), the tests start an embedded one for the run
# (test/helpers/root-hooks.ts), and say so.
set -u
if [ -z "${TEST_DATABASE_URL:-}" ] && command -v pg_isready >/dev/null 2>&1; then
  if ! pg_isready -h 127.0.0.1 -p 5432 -q; then
    echo "test/prereqs: starting PostgreSQL" >&2
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
    for _ in $(seq 1 30); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 1; done
  fi
fi
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "test/prereqs: installing Debian's chromium for the dashboard browser test" >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null 2>&1 || \
      echo "test/prereqs: could not install chromium; the browser test will fail with instructions" >&2
  else
    echo "test/prereqs: /usr/bin/chromium is missing (apt-get install chromium); the browser test will fail" >&2
  fi
fi
exit 0
