#!/usr/bin/env bash
# The demo: build and install the extension, start the bundled mock Mixpeek
# API and a throwaway PostgreSQL 15 cluster with the library preloaded, and
# run the example queries of demo/demo.sql.
set -euo pipefail
. "$(dirname "$0")/test/lib.sh"
mx_build
mx_start_mock
export MX_AGGREGATE_PUSHDOWN=on		# the default, as users have it
echo "mock Mixpeek API at $MIXPEEK_MOCK_URL"
mx_in_cluster psql -X -v ON_ERROR_STOP=1 -v mock_url="$MIXPEEK_MOCK_URL" \
  -d postgres -f "$MX_TOP/demo/demo.sql"
