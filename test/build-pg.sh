#!/usr/bin/env bash
# test/build-pg.sh SRC_DIR [PREFIX]: build PostgreSQL from a source tree
# (a release tarball or a git checkout) and install it into PREFIX (default
# /tmp/pg-VERSION), then print the path of its pg_config on stdout, e.g.
#
#   PG_CONFIG=$(test/build-pg.sh /tmp/pg18src) test/run-tests.sh
#
# The build happens out of tree in PREFIX.build, so the source tree stays
# clean and a second run only rebuilds what changed.  Only the server, its
# client programs, headers and PGXS are installed: the suite needs no contrib
# module.  Extra configure options: PG_CONFIGURE_OPTS (e.g.
# "--enable-cassert --enable-debug").  Needs bison and flex for a git checkout
# (a release tarball ships the generated files); MAKEFLAGS defaults to -j2.
set -euo pipefail

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
  echo "usage: $0 SRC_DIR [PREFIX]" >&2
  exit 2
fi
src=$(cd "$1" && pwd)
[ -x "$src/configure" ] || { echo "$src: no configure script, not a PostgreSQL source tree" >&2; exit 2; }
version=$(sed -n "s/^PACKAGE_VERSION='\(.*\)'$/\1/p" "$src/configure")
prefix=${2:-/tmp/pg-$version}
mkdir -p "$prefix"
prefix=$(cd "$prefix" && pwd)
build=$prefix.build
export MAKEFLAGS=${MAKEFLAGS:--j2}

# configure refuses a VPATH build from a source tree that was configured in
# place; say so rather than fail halfway
if [ -e "$src/GNUmakefile" ] || [ -e "$src/config.status" ]; then
  echo "$src was configured in place; run 'make distclean' there first" >&2
  exit 2
fi

mkdir -p "$build"
cd "$build"
# ICU when its headers are installed (libicu-dev; the pg_regress suite
# has nondeterministic ICU collations), readline never (nothing here is
# interactive); the default collation comes from libc either way, as the
# expected files assume
icu=--without-icu
pkg-config --exists icu-uc icu-i18n 2>/dev/null && icu=--with-icu
if [ ! -e config.status ] || [ "$(cat .configure-opts 2>/dev/null)" != "$icu ${PG_CONFIGURE_OPTS:-}" ]; then
  # without --enable-depend nothing is recompiled when pg_config.h changes:
  # a build configured otherwise starts over
  if [ -e config.status ]; then
    make distclean >/dev/null 2>&1 || true
  fi
  echo "configuring PostgreSQL $version for $prefix (log: $build/configure.log)" >&2
  # shellcheck disable=SC2086
  "$src/configure" --prefix="$prefix" "$icu" --without-readline \
    ${PG_CONFIGURE_OPTS:-} >configure.log 2>&1 \
    || { tail -30 configure.log >&2; exit 1; }
  printf '%s' "$icu ${PG_CONFIGURE_OPTS:-}" >.configure-opts
fi
echo "building (log: $build/build.log)" >&2
{ make && make install; } >build.log 2>&1 || { tail -40 build.log >&2; exit 1; }

# the server refuses to run as root: the cluster owner (postgres) must be able
# to read and run what was installed
chmod -R go+rX "$prefix"
"$prefix/bin/pg_config" --version >&2
echo "$prefix/bin/pg_config"
