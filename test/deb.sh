#!/usr/bin/env bash
# test/deb.sh: build the Debian package (debian/, pg_buildext) from a copy of
# the work tree with dpkg-buildpackage -us -uc -b, check what it holds,
# install it with dpkg, run `make installcheck` against the installed files
# (pg_virtualenv, the bundled mock), then remove the package and put back
# the work tree's own `make install`.  Needs root or sudo (apt-get, dpkg).
# Run by test/run-tests.sh --long.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
export DEBIAN_FRONTEND=noninteractive
build_deps=(debhelper dpkg-dev fakeroot postgresql-server-dev-all libcurl4-openssl-dev pkg-config)
missing=()
for p in "${build_deps[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
if [ "${MX_PG_DEBIAN:-1}" != 1 ]; then
  echo "deb: skipped (PG_CONFIG is not one of Debian's PostgreSQL packages)"; exit 0
fi
[ "${MX_BUILT:-0}" = 1 ] || mx_build

version=$(dpkg-parsechangelog -l "$MX_TOP/debian/changelog" -S Version)
upstream=${version%-*}
control_version=$(sed -n "s/^default_version = '\(.*\)'/\1/p" "$MX_TOP/mixpeek.control")
[ "$upstream" = "$control_version" ] || {
  echo "FAILED: debian/changelog says $upstream, mixpeek.control $control_version"; exit 1; }

# the work tree as it is (tracked and new files, not what .gitignore names),
# outside it: the build cleans and writes in its source tree
src=$MX_TMP/deb/pg-mixpeek-$upstream
mkdir -p "$src"
if git -C "$MX_TOP" rev-parse --git-dir >/dev/null 2>&1; then
  (cd "$MX_TOP" && git ls-files -z -co --exclude-standard \
     | tar --null -T - --ignore-failed-read -cf - 2>/dev/null) | tar -xf - -C "$src"
else
  cp -a "$MX_TOP"/. "$src"/
fi

echo "== dpkg-buildpackage -us -uc -b (in $src)"
t0=$(date +%s)
(cd "$src" && dpkg-buildpackage -us -uc -b) >"$MX_TMP/deb/build.log" 2>&1 || {
  tail -60 "$MX_TMP/deb/build.log"; echo "FAILED: dpkg-buildpackage"; exit 1; }
echo "   built in $(( $(date +%s) - t0 )) s"
grep "warning:" "$MX_TMP/deb/build.log" | sed "s/^/   /" || true

status=0
fail() { echo "FAILED: $*"; status=1; }
debs=("$MX_TMP"/deb/postgresql-*-mixpeek_"${version}"_*.deb)
[ -e "${debs[0]}" ] || { ls -l "$MX_TMP/deb"; echo "FAILED: no .deb"; exit 1; }
pgv=$("${PG_CONFIG:-pg_config}" --version | sed 's/^PostgreSQL \([0-9]*\).*/\1/')
deb=$(ls "$MX_TMP"/deb/postgresql-"$pgv"-mixpeek_"${version}"_*.deb 2>/dev/null | head -1)
[ -n "$deb" ] || { ls "$MX_TMP/deb"; echo "FAILED: no package for PostgreSQL $pgv"; exit 1; }
pkg=postgresql-$pgv-mixpeek
echo "   $(basename "$deb"): $(stat -c %s "$deb") bytes"

# what the package holds and asks for
contents=$(dpkg-deb -c "$deb" | awk '{print $NF}')
for f in ./usr/lib/postgresql/$pgv/lib/mixpeek.so \
         ./usr/share/postgresql/$pgv/extension/mixpeek.control; do
  grep -qxF "$f" <<<"$contents" || fail "the package lacks $f"
done
for f in "$MX_TOP"/mixpeek--*.sql; do
  grep -qxF "./usr/share/postgresql/$pgv/extension/$(basename "$f")" <<<"$contents" \
    || fail "the package lacks $(basename "$f")"
done
depends=$(dpkg-deb -f "$deb" Depends)
echo "   Depends: $depends"
grep -q "postgresql-$pgv" <<<"$depends" || fail "the package does not depend on postgresql-$pgv"
grep -q "libcurl" <<<"$depends" || fail "the package does not depend on libcurl"

# install it: it takes over the files `make install` put there (same paths)
restore() {
  $SUDO dpkg --purge "$pkg" >/dev/null 2>&1 || true
  if [ "$(id -u)" -ne 0 ]; then sudo make -C "$MX_TOP" -s install; else make -C "$MX_TOP" -s install; fi
}
echo "== dpkg -i $(basename "$deb")"
$SUDO dpkg -i "$deb" >"$MX_TMP/deb/install.log" 2>&1 || { cat "$MX_TMP/deb/install.log"; restore; echo "FAILED: dpkg -i"; exit 1; }
trap 'restore; mx_cleanup' EXIT
dpkg --verify "$pkg" || fail "dpkg --verify $pkg: installed files differ from the package"
owner=$(dpkg -S "$("${PG_CONFIG:-pg_config}" --pkglibdir)/mixpeek.so" 2>/dev/null | cut -d: -f1)
[ "$owner" = "$pkg" ] || fail "mixpeek.so belongs to '$owner', not $pkg"

echo "== make installcheck against the installed package"
mx_start_mock
t0=$(date +%s)
if mx_in_cluster bash -c '
    set -e
    cd "$1"
    v=$(psql -XAtc "SELECT default_version FROM pg_available_extensions WHERE name = '"'mixpeek'"'")
    [ "$v" = "$2" ] || { echo "the server offers mixpeek $v, not $2"; exit 1; }
    make -s installcheck || { cat regression.diffs 2>/dev/null | head -200; exit 1; }
  ' _ "$src" "$upstream" >"$MX_TMP/deb/installcheck.log" 2>&1; then
  grep -E "^(test |ok |not ok )|tests (passed|failed)|of [0-9]+ tests" "$MX_TMP/deb/installcheck.log" | tail -30 | sed 's/^/   /'
  echo "   installcheck passed in $(( $(date +%s) - t0 )) s"
else
  tail -80 "$MX_TMP/deb/installcheck.log"
  fail "make installcheck against the package"
fi

[ "$status" -eq 0 ] && echo "deb: package built, installed and checked" || echo "deb: FAILED"
exit $status
