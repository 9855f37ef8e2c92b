#!/usr/bin/env bash
# test/asan.sh: scripted tests against the extension built with
# AddressSanitizer, then a verdict on what ASan saw.
#
# The extension is built with -fsanitize=address -fno-omit-frame-pointer from
# a copy of the source tree (the tree's own objects stay the normal build)
# and installed into a private copy of the PostgreSQL installation under
# $MX_TMP: the binaries are copied (PostgreSQL finds its lib and share
# directories relative to its own executable), the rest is linked.  The
# system's installation, and every other cluster, keep the normal library,
# so nothing has to be reinstalled afterwards.
#
# The server runs with the ASan runtime preloaded (LD_PRELOAD of gcc's
# libasan.so).  PostgreSQL itself is not instrumented; the extension's code
# is, and ASan's interceptors check the libc string and memory calls
# (strlen, strchr, memcpy, ...) of every library, so libcurl reading a header
# list the extension has freed is reported as a heap-use-after-free.  Freed
# memory stays in ASan's quarantine, so a dangling pointer is reported where
# the normal build would silently read whatever was allocated there since.
#
# Fails when any ASan report was written, a backend was terminated by a
# signal, the postmaster died, or test_key_matrix.py failed.  Other tests'
# outcomes are shown but not judged (ASan slows the server and its
# quarantine grows resident memory, so time and RSS bounds need not hold)
# unless MX_ASAN_STRICT=1.
#
#   MX_ASAN_TESTS  the scripted tests (default: test_key_matrix.py,
#                  test_keys.py, test_fdw.py, test_batch.py,
#                  test_aggregates.py, test_batch_join.py)
#   MX_ASAN_SRC    the source tree to build (default: this one)
#   MX_ASAN_LOGS   where the reports and the server log are kept
#                  (default /tmp/pg_mixpeek-asan)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"
export MX_LONG=${MX_LONG:-0}

[ "${MX_BUILT:-}" = 1 ] || "$MX_TOP/test/deps.sh"
libasan=$(gcc -print-file-name=libasan.so)
[ -e "$libasan" ] || { echo "asan: gcc's libasan.so was not found (gcc -print-file-name=libasan.so)" >&2; exit 1; }
started=$(date +%s)

# ---- the ASan build, from a copy of the tree
src=${MX_ASAN_SRC:-$MX_TOP}
build=$MX_TMP/asan-build
mkdir -p "$build"
cp -r "$src/Makefile" "$src"/*.control "$src"/mixpeek--*.sql "$src/src" "$build/"
rm -f "$build"/src/*.o "$build"/src/*.bc "$build"/*.so
make -C "$build" -s COPT="-fsanitize=address -fno-omit-frame-pointer -g" >/dev/null
# not "ldd | grep -q": with pipefail, grep leaving early can fail ldd with SIGPIPE
case "$(ldd "$build/mixpeek.so")" in
  *libasan*) ;;
  *) echo "asan: mixpeek.so is not linked with libasan" >&2; exit 1 ;;
esac

# ---- a private installation: copied binaries, linked libraries and data
pgbin=$(pg_config --bindir) pglib=$(pg_config --pkglibdir) pgshare=$(pg_config --sharedir)
root=$MX_TMP/asan-pg
mkdir -p "$root$(dirname "$pgbin")" "$root$(dirname "$pglib")" "$root$(dirname "$pgshare")"
cp -r "$pgbin" "$root$pgbin"
[ -e "$root$pglib" ] || cp -rs "$pglib" "$root$pglib"
[ -e "$root$pgshare" ] || cp -rs "$pgshare" "$root$pgshare"
rm -rf "$root$pglib/mixpeek.so" "$root$pglib/bitcode/mixpeek" "$root$pglib/bitcode/mixpeek.index.bc" \
  "$root$pgshare"/extension/mixpeek*
install -m 755 "$build/mixpeek.so" "$root$pglib/"
install -m 644 "$build"/mixpeek.control "$build"/mixpeek--*.sql "$root$pgshare/extension/"
if [ "$("$root$pgbin/pg_config" --pkglibdir)" != "$root$pglib" ]; then
  echo "asan: this PostgreSQL does not find its libraries relative to its executable" >&2
  exit 1
fi
MX_PGBIN=$root$pgbin
echo "ASan build of $(basename "$src") installed in $root ($(( $(date +%s) - started )) s)"

# ---- the cluster, with the ASan runtime preloaded into postgres
logs=$MX_TMP/asan-logs
mkdir -p "$logs"
[ "$(id -u)" -eq 0 ] && chown postgres: "$logs"
# abort_on_error: a report ends the backend with SIGABRT, which the server
# log shows as a crash; detect_leaks: PostgreSQL frees memory contexts, not
# every malloc; detect_stack_use_after_return: fake stacks break PostgreSQL's
# stack depth checks; handle_segv: a stray pointer followed by libcurl is
# reported with its stack too
asan_options="log_path=$logs/asan:abort_on_error=1:halt_on_error=1:disable_coredump=1:detect_leaks=0"
asan_options+=":detect_stack_use_after_return=0:handle_segv=1:handle_sigbus=1:allow_user_segv_handler=1"
asan_options+=":verify_asan_link_order=0:malloc_context_size=30:quarantine_size_mb=128"
mx_start_mock
echo "mock Mixpeek API at $MIXPEEK_MOCK_URL"
# The libraries postgres links are preloaded ahead of the runtime: their
# constructors then run after ASan's own (with libasan first, p11-kit's and
# krb5's constructors call into glibc's locale and gettext code before ASan
# is initialized, and postgres hangs in glibc's locks at its first setlocale()
# or bindtextdomain()).  verify_asan_link_order=0 accepts that order.
preload=$(ldd "$MX_PGBIN/postgres" | awk '/=> \// {print $3}' | grep -v -e '/libc\.so' -e '/libm\.so' | tr '\n' ' ')
if ! timeout 20 env LD_PRELOAD="$preload$libasan" ASAN_OPTIONS="$asan_options" "$MX_PGBIN/postgres" --version >/dev/null; then
  echo "asan: postgres does not start with the ASan runtime preloaded" >&2
  exit 1
fi
mx_cluster_start -- env LD_PRELOAD="$preload$libasan" ASAN_OPTIONS="$asan_options"
postmaster=$(mx_cluster_postmaster_pid)
maps=$(psql -XAtc "SELECT pg_read_file('/proc/self/maps')")
if ! grep -q "$root$pglib/mixpeek.so" <<<"$maps" || ! grep -q libasan <<<"$maps"; then
  echo "asan: the server did not load the ASan build and runtime:" >&2
  grep -E "mixpeek|asan" <<<"$maps" >&2 || true
  exit 1
fi
echo "postgres with ASan: postmaster pid $postmaster, mixpeek.so from $root$pglib"

cd "$MX_TOP"
if [ -n "${MX_ASAN_TESTS:-}" ]; then
  read -r -a scripted <<<"$MX_ASAN_TESTS"
else
  scripted=(test/scripted/test_key_matrix.py test/scripted/test_keys.py
            test/scripted/test_fdw.py test/scripted/test_batch.py
            test/scripted/test_aggregates.py test/scripted/test_batch_join.py)
fi
tests_failed=()
judged_failed=()
for t in "${scripted[@]}"; do
  [ -e "$t" ] || { echo "asan: no such test $t" >&2; judged_failed+=("$t"); continue; }
  echo "== $t (ASan build)"
  if ! /usr/bin/python3 "$t"; then
    tests_failed+=("$t")
    if [ "$(basename "$t")" = test_key_matrix.py ] || [ "${MX_ASAN_STRICT:-0}" = 1 ]; then
      judged_failed+=("$t")
    fi
  fi
done

alive=yes
kill -0 "$postmaster" 2>/dev/null || alive=no
mx_cluster_stop
echo "tests done and server stopped after $(( $(date +%s) - started )) s"

verdict=0
reports=("$logs"/asan.*)
[ -e "${reports[0]}" ] || reports=()
echo "asan: ${#reports[@]} report file(s)"
for r in "${reports[@]}"; do
  echo "  --- $(basename "$r")"
  grep -E "ERROR: AddressSanitizer|^ +#[0-9]+ |freed by thread|previously allocated|is located|SUMMARY" "$r" \
    | head -45 | sed "s/^/      /"
  verdict=1
done
crashes=$(grep -a "terminated by signal" "$MX_CLUSTER_LOG" || true)
if [ -n "$crashes" ]; then
  echo "asan: backends terminated by a signal:"
  head -10 <<<"$crashes" | sed "s/^/    /"
  verdict=1
fi
[ "$alive" = yes ] || { echo "asan: the postmaster had died before the end"; verdict=1; }
[ ${#tests_failed[@]} -eq 0 ] || echo "asan: tests that failed with the ASan build: ${tests_failed[*]}"
[ ${#judged_failed[@]} -eq 0 ] || verdict=1
keep=${MX_ASAN_LOGS:-/tmp/pg_mixpeek-asan}
rm -rf "$keep"; mkdir -p "$keep"
cp "$MX_CLUSTER_LOG" "$keep/server.log"
[ ${#reports[@]} -eq 0 ] || cp "${reports[@]}" "$keep/"
echo "ASan reports and the server log: $keep"
if [ $verdict -eq 0 ]; then
  echo "asan verdict: clean (no ASan report, no crash${tests_failed:+; failed tests are not judged})"
else
  echo "asan verdict: FAILED"
fi
exit $verdict
