#!/usr/bin/env bash
# Builds Asterisk 22 once into a cache outside the checkout, keyed by the source tarball's sha256 and this
# script's build options; later runs reuse it. Prints the install prefix on its last line.
#   ASTERISK_TARBALL   the source (default: ../shared/asterisk/source/asterisk-22.10.1.tar.gz beside the checkout)
#   ASTERISK_CACHE_DIR where builds are kept (default: $XDG_CACHE_HOME or ~/.cache, then retailcrm-agi/asterisk)
# Needs Debian's build packages; as root it installs them with apt-get.
#   --check            only say whether the build exists (prints the prefix, exit 0; else exit 4)
set -euo pipefail
check_only=0
[ "${1:-}" = "--check" ] && check_only=1
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
tarball="${ASTERISK_TARBALL:-$root/../shared/asterisk/source/asterisk-22.10.1.tar.gz}"
cache="${ASTERISK_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/retailcrm-agi/asterisk}"
options="--without-pjproject --with-jansson-bundled=no --with-postgres"
packages="build-essential libedit-dev libjansson-dev libxml2-dev uuid-dev libsqlite3-dev libssl-dev pkg-config libpq-dev"

if [ ! -f "$tarball" ]; then
  echo "build-asterisk: no Asterisk source at $tarball (set ASTERISK_TARBALL)" >&2
  exit 3
fi
sha="$(sha256sum "$tarball" | cut -c1-16)"
opt_sha="$(printf '%s|%s' "$options" "$packages" | sha256sum | cut -c1-8)"
prefix="$cache/$sha-$opt_sha"
if [ -x "$prefix/sbin/asterisk" ] && [ -f "$prefix/.complete" ]; then
  echo "$prefix"
  exit 0
fi
if [ "$check_only" = 1 ]; then
  echo "build-asterisk: no build in $prefix yet (run test/pbx/build-asterisk.sh)" >&2
  exit 4
fi

missing=""
for p in $packages; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "build-asterisk: installing$missing" >&2
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >&2
  else
    echo "build-asterisk: missing Debian packages:$missing (apt-get install them)" >&2
    exit 3
  fi
fi

mkdir -p "$cache"
work="$(mktemp -d "$cache/build.XXXXXX")"
trap 'rm -rf "$work"' EXIT
echo "build-asterisk: building into $prefix (about 3-5 minutes on 2 cores)" >&2
tar -xzf "$tarball" -C "$work"
src="$(find "$work" -mindepth 1 -maxdepth 1 -type d | head -1)"
cd "$src"
./configure --prefix="$prefix" $options >"$work/configure.log" 2>&1 || { tail -40 "$work/configure.log" >&2; exit 1; }
make menuselect.makeopts >"$work/menuselect.log" 2>&1
menuselect/menuselect \
  --disable-category MENUSELECT_CORE_SOUNDS --disable-category MENUSELECT_MOH \
  --disable-category MENUSELECT_EXTRA_SOUNDS --disable BUILD_NATIVE \
  --enable cdr_pgsql --enable cel_pgsql menuselect.makeopts >>"$work/menuselect.log" 2>&1
make -j"$(nproc)" >"$work/make.log" 2>&1 || { tail -60 "$work/make.log" >&2; exit 1; }
rm -rf "$prefix"
make install >"$work/install.log" 2>&1 || { tail -40 "$work/install.log" >&2; exit 1; }
touch "$prefix/.complete"
echo "$prefix"
