# Shared by demo.sh, test/run-tests.sh and bench/run.sh: build and install
# the extension, start the bundled mock Mixpeek API on a free loopback port,
# and run a command inside a throwaway cluster that preloads the library.
# Source it; then call mx_build, mx_start_mock, mx_in_cluster CMD...

export MX_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# The PostgreSQL to build and test against: PG_CONFIG, as for make (default:
# the pg_config on PATH, Debian's 15).  MX_PG_CONFIG carries it into nested
# scripts that drop the PG* variables from their environment.  A PostgreSQL
# of Debian's (/usr/lib/postgresql/MAJOR) gets its clusters from
# pg_virtualenv; any other (a prefix of test/build-pg.sh) from
# test/cluster.sh, with its bin directory first on PATH so that psql,
# pgbench and pg_config are its own.
export MX_PG_CONFIG=${PG_CONFIG:-${MX_PG_CONFIG:-pg_config}}
export PG_CONFIG=$MX_PG_CONFIG
MX_PGBIN=$("$MX_PG_CONFIG" --bindir)
MX_PG_MAJOR=$("$MX_PG_CONFIG" --version | sed -E 's/^PostgreSQL ([0-9]+).*/\1/')
if [ "$MX_PGBIN" = "/usr/lib/postgresql/$MX_PG_MAJOR/bin" ]; then
  MX_PG_DEBIAN=1
else
  MX_PG_DEBIAN=0
  export PATH="$MX_PGBIN:$PATH"
fi
MX_TMP=$(mktemp -d /tmp/pg_mixpeek.XXXXXX)
chmod 755 "$MX_TMP"
MX_MOCK_PID=

mx_cleanup() {
  if [ -n "$MX_MOCK_PID" ]; then kill "$MX_MOCK_PID" 2>/dev/null || true; wait "$MX_MOCK_PID" 2>/dev/null || true; fi
  rm -rf "$MX_TMP"
}
trap mx_cleanup EXIT

mx_build() {
  local built_for="$MX_PGBIN $("$MX_PG_CONFIG" --version)"
  "$MX_TOP/test/deps.sh"
  # objects compiled against another PostgreSQL must not end up in this
  # one's library: PGXS does not notice, so start over
  if [ "$(cat "$MX_TOP/.built-for" 2>/dev/null)" != "$built_for" ]; then
    make -C "$MX_TOP" -s clean
  fi
  make -C "$MX_TOP" -s
  echo "$built_for" >"$MX_TOP/.built-for"
  if [ "$(id -u)" -ne 0 ]; then sudo make -C "$MX_TOP" -s install PG_CONFIG="$MX_PG_CONFIG"; else make -C "$MX_TOP" -s install; fi
}

# The mock's filter semantics (its --semantics): strict (the default, the
# real backend's stricter rules) or lenient.
export MX_MOCK_SEMANTICS=${MX_MOCK_SEMANTICS:-strict}

# mx_start_mock [mock options...]: sets MIXPEEK_MOCK_URL and MIXPEEK_MOCK_CONTROL
mx_start_mock() {
  node "$MX_TOP/test/mock/mixpeek-mock.js" --port 0 --port-file "$MX_TMP/mock.port" \
    --semantics "$MX_MOCK_SEMANTICS" "$@" \
    >"$MX_TMP/mock.log" 2>&1 &
  MX_MOCK_PID=$!
  # it starts in a fraction of a second; a starved machine gets a minute
  for _ in $(seq 1 600); do
    [ -s "$MX_TMP/mock.port" ] && break
    kill -0 "$MX_MOCK_PID" 2>/dev/null || break
    sleep 0.1
  done
  if [ ! -s "$MX_TMP/mock.port" ]; then cat "$MX_TMP/mock.log" >&2; echo "mock did not start" >&2; return 1; fi
  export MIXPEEK_MOCK_URL="http://127.0.0.1:$(cat "$MX_TMP/mock.port")"
  export MIXPEEK_MOCK_CONTROL="$MIXPEEK_MOCK_URL/_mock"
}

# mx_in_cluster CMD...: a throwaway cluster (-t: in a temporary directory,
# so that several can run at once) with the library preloaded, pointed at
# the mock with the test key and the namespace "default".  In the tests,
# aggregates are not sent (mixpeek.aggregate_pushdown = off): they count a
# scan's requests with count(*); fdw_aggregates and test_aggregates turn it
# on.  The demo and the benchmarks run with the default, on
# (MX_AGGREGATE_PUSHDOWN=on).
mx_in_cluster() {
  if [ "$MX_PG_DEBIAN" = 1 ]; then
    pg_virtualenv -t -v "$MX_PG_MAJOR" \
      -o "shared_preload_libraries=mixpeek" \
      -o "mixpeek.base_url=$MIXPEEK_MOCK_URL" \
      -o "mixpeek.api_key=sk_test_alpha" \
      -o "mixpeek.namespace=default" \
      -o "mixpeek.aggregate_pushdown=${MX_AGGREGATE_PUSHDOWN:-off}" \
      -o "log_min_messages=warning" \
      "$@"
  else
    # test/cluster.sh's defaults are the settings above
    mx_own_cluster "$@"
  fi
}

# mx_own_cluster [-b] [-o name=value]... CMD...: CMD in a throwaway cluster
# of test/cluster.sh, as pg_virtualenv -t -o ... would run it (-b: only the
# settings given, without the library's); the cluster is gone afterwards,
# and the environment is left as it was.
mx_own_cluster() {
  local opts=()
  while [ $# -gt 0 ]; do
    case $1 in
      -b) opts+=(-b); shift ;;
      -o) opts+=(-c "${2%%=*} = '${2#*=}'"); shift 2 ;;
      *) break ;;
    esac
  done
  [ "$(type -t mx_cluster_start)" = function ] || . "$MX_TOP/test/cluster.sh"
  (
    MX_CLUSTER_DIR=$(mktemp -d "$MX_TMP/cluster.XXXXXX")
    chmod 755 "$MX_CLUSTER_DIR"
    trap mx_cluster_stop EXIT
    mx_cluster_start "${opts[@]}" || exit 1
    "$@"
  )
}
