# Shared by demo.sh, test/run-tests.sh and bench/run.sh: build and install
# the extension, start the bundled mock Mixpeek API on a free loopback port,
# and run a command inside a throwaway cluster that preloads the library.
# Source it; then call mx_build, mx_start_mock, mx_in_cluster CMD...

export MX_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MX_TMP=$(mktemp -d /tmp/pg_mixpeek.XXXXXX)
chmod 755 "$MX_TMP"
MX_MOCK_PID=

mx_cleanup() {
  if [ -n "$MX_MOCK_PID" ]; then kill "$MX_MOCK_PID" 2>/dev/null || true; wait "$MX_MOCK_PID" 2>/dev/null || true; fi
  rm -rf "$MX_TMP"
}
trap mx_cleanup EXIT

mx_build() {
  "$MX_TOP/test/deps.sh"
  make -C "$MX_TOP" -s
  if [ "$(id -u)" -ne 0 ]; then sudo make -C "$MX_TOP" -s install; else make -C "$MX_TOP" -s install; fi
}

# mx_start_mock [mock options...]: sets MIXPEEK_MOCK_URL and MIXPEEK_MOCK_CONTROL
mx_start_mock() {
  node "$MX_TOP/test/mock/mixpeek-mock.js" --port 0 --port-file "$MX_TMP/mock.port" "$@" \
    >"$MX_TMP/mock.log" 2>&1 &
  MX_MOCK_PID=$!
  for _ in $(seq 1 100); do
    [ -s "$MX_TMP/mock.port" ] && break
    sleep 0.1
  done
  if [ ! -s "$MX_TMP/mock.port" ]; then cat "$MX_TMP/mock.log" >&2; echo "mock did not start" >&2; return 1; fi
  export MIXPEEK_MOCK_URL="http://127.0.0.1:$(cat "$MX_TMP/mock.port")"
  export MIXPEEK_MOCK_CONTROL="$MIXPEEK_MOCK_URL/_mock"
}

# mx_in_cluster CMD...: a throwaway PostgreSQL 15 cluster (-t: in a temporary
# directory, so that several can run at once) with the library
# preloaded, pointed at the mock with the test key.
mx_in_cluster() {
  pg_virtualenv -t -v 15 \
    -o "shared_preload_libraries=mixpeek" \
    -o "mixpeek.base_url=$MIXPEEK_MOCK_URL" \
    -o "mixpeek.api_key=sk_test_alpha" \
    -o "log_min_messages=warning" \
    "$@"
}
