#!/usr/bin/env bash
# What `npm test` needs besides node_modules, made present on a machine like ours (Debian, root):
# PostgreSQL answering on 127.0.0.1:5432 (the tests create and drop their own databases there) and Debian's
# Chromium for the dashboard's browser test, and promtool (Debian's prometheus) for monitoring/alerts.yml. With
# TEST_DATABASE_URL set, the PostgreSQL check is skipped. When no PostgreSQL answers (none installed, or it cannot
# be started), the tests start an embedded one for the run (test/helpers/root-hooks.ts), and say so.
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
if ! command -v promtool >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "test/prereqs: installing Debian's prometheus for promtool (monitoring/alerts.yml is checked by it)" >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus) >/dev/null 2>&1 || \
      echo "test/prereqs: could not install prometheus; the monitoring test will fail" >&2
  else
    echo "test/prereqs: promtool is missing (apt-get install prometheus); the monitoring test will fail" >&2
  fi
fi
# The PBX tier (test/pbx/) needs a real Asterisk 22: built once from the source beside the checkout into a cache
# outside it (test/pbx/build-asterisk.sh; about 5 minutes the first time). RCRM_SKIP_PBX=1 skips the build
# (the tier then says it did not run); ASTERISK_PREFIX points at an existing install instead.
here="$(cd "$(dirname "$0")" && pwd)"
if [ -z "${ASTERISK_PREFIX:-}" ] && [ "${RCRM_SKIP_PBX:-}" != "1" ]; then
  if ! bash "$here/pbx/build-asterisk.sh" --check >/dev/null 2>&1; then
    tarball="${ASTERISK_TARBALL:-$here/../../shared/asterisk/source/asterisk-22.10.1.tar.gz}"
    if [ -f "$tarball" ]; then
      echo "test/prereqs: building Asterisk 22 for the PBX tier (once; RCRM_SKIP_PBX=1 to skip)" >&2
      bash "$here/pbx/build-asterisk.sh" >/dev/null || echo "test/prereqs: the Asterisk build failed; the PBX tier will not run" >&2
    else
      echo "test/prereqs: no Asterisk source or build: the PBX tier will not run (see test/pbx/build-asterisk.sh)" >&2
    fi
  fi
fi
exit 0
