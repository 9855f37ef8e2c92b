#!/usr/bin/env bash
# test/virtualenv.sh [-o name=value]... CMD...: CMD in a throwaway cluster
# of the PostgreSQL under test (PG_CONFIG or MX_PG_CONFIG, see test/lib.sh)
# with only the settings given, PGHOST, PGPORT and PGUSER pointing at it:
# `pg_virtualenv -t` for Debian's PostgreSQL, test/cluster.sh's own cluster
# for any other.  Scripted tests use it for nested clusters.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
status=0
if [ "$MX_PG_DEBIAN" = 1 ]; then
  pg_virtualenv -t -v "$MX_PG_MAJOR" "$@" || status=$?
else
  mx_own_cluster -b "$@" || status=$?
fi
exit $status
