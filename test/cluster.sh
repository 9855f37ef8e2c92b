# A cluster of our own, for the tests that need what pg_virtualenv does not
# give: the server started under a wrapper (valgrind), its log file with
# every error's SQLSTATE, and the postmaster's pid; and for every test when
# PG_CONFIG names a PostgreSQL that pg_virtualenv does not know (a prefix of
# test/build-pg.sh).  Source it after test/lib.sh (it uses MX_TMP, MX_TOP,
# MX_PGBIN, MIXPEEK_MOCK_URL).
#
#   mx_cluster_start [-b] [-c name=value]... [-- wrapper command...]
#       initdb in $MX_CLUSTER_DIR (default $MX_TMP/cluster), start postgres
#       (through the wrapper when given), wait until it accepts
#       connections; -b: none of the library's settings (preloading, the
#       mock's address and key), only the -c ones; exports PGHOST, PGPORT,
#       PGUSER, PGDATABASE (superuser "postgres", trust auth on a private
#       socket directory), MX_CLUSTER_LOG and MX_CLUSTER_PID (the postmaster,
#       i.e. the wrapper's process, which becomes postgres).
#   mx_cluster_stop    fast shutdown, waits for the process to end.
#   mx_cluster_postmaster_pid   the pid postgres itself records.
#   mx_as_pg CMD...    run CMD as the cluster owner (postgres when root).

MX_PGBIN=${MX_PGBIN:-$(pg_config --bindir)}
MX_CLUSTER_DIR=$MX_TMP/cluster

mx_as_pg() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

mx_cluster_start() {
  local settings=() wrapper=() bare=0 port i
  while [ $# -gt 0 ]; do
    case $1 in
      -b) bare=1; shift ;;
      -c) settings+=("$2"); shift 2 ;;
      --) shift; wrapper=("$@"); break ;;
      *) echo "mx_cluster_start: unknown argument $1" >&2; return 2 ;;
    esac
  done
  mkdir -p "$MX_CLUSTER_DIR/sock"
  [ "$(id -u)" -eq 0 ] && chown -R postgres: "$MX_CLUSTER_DIR"
  # locale and encoding from the environment, as pg_virtualenv does: the
  # pg_regress expected files depend on the default collation
  mx_as_pg "$MX_PGBIN/initdb" -D "$MX_CLUSTER_DIR/data" -U postgres -A trust \
    --no-sync >"$MX_CLUSTER_DIR/initdb.log" 2>&1 \
    || { cat "$MX_CLUSTER_DIR/initdb.log" >&2; return 1; }
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  {
    echo "port = $port"
    echo "listen_addresses = ''"
    echo "unix_socket_directories = '$MX_CLUSTER_DIR/sock'"
    if [ "$bare" = 0 ]; then
      echo "shared_preload_libraries = 'mixpeek'"
      echo "mixpeek.base_url = '$MIXPEEK_MOCK_URL'"
      echo "mixpeek.api_key = 'sk_test_alpha'"
      echo "mixpeek.namespace = 'default'"
      echo "mixpeek.aggregate_pushdown = ${MX_AGGREGATE_PUSHDOWN:-off}"
    fi
    echo "fsync = off"
    echo "autovacuum = off"
    echo "jit = off"
    echo "max_connections = 40"
    echo "shared_buffers = 32MB"
    echo "log_min_messages = warning"
    echo "log_line_prefix = '%m [%p] %e '"
    for s in "${settings[@]}"; do echo "$s"; done
  } >>"$MX_CLUSTER_DIR/data/postgresql.conf"
  MX_CLUSTER_LOG=$MX_CLUSTER_DIR/server.log
  : >"$MX_CLUSTER_LOG"
  [ "$(id -u)" -eq 0 ] && chown postgres: "$MX_CLUSTER_LOG"
  # exec: the wrapper's pid is the postmaster's
  mx_as_pg bash -c 'exec "$@" >>"'"$MX_CLUSTER_LOG"'" 2>&1' _ \
    "${wrapper[@]}" "$MX_PGBIN/postgres" -D "$MX_CLUSTER_DIR/data" &
  MX_CLUSTER_PID=$!
  export PGHOST=$MX_CLUSTER_DIR/sock PGPORT=$port PGUSER=postgres PGDATABASE=postgres
  export MX_CLUSTER_LOG MX_CLUSTER_PID
  unset PGPASSWORD
  for i in $(seq 1 600); do
    "$MX_PGBIN/pg_isready" -q && return 0
    kill -0 "$MX_CLUSTER_PID" 2>/dev/null || break
    sleep 0.5
  done
  echo "the cluster did not start; its log:" >&2
  tail -50 "$MX_CLUSTER_LOG" >&2
  return 1
}

mx_cluster_postmaster_pid() {
  head -1 "$MX_CLUSTER_DIR/data/postmaster.pid"
}

mx_cluster_stop() {
  [ -n "${MX_CLUSTER_PID:-}" ] || return 0
  mx_as_pg "$MX_PGBIN/pg_ctl" -D "$MX_CLUSTER_DIR/data" stop -m fast -t 600 >/dev/null 2>&1 || true
  wait "$MX_CLUSTER_PID" 2>/dev/null || true
  MX_CLUSTER_PID=
}

# stop the cluster too when the script ends, however it ends
trap 'mx_cluster_stop; mx_cleanup' EXIT
