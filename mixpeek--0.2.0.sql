/* mixpeek--0.2.0.sql */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION mixpeek" to load this file. \quit

CREATE FUNCTION mixpeek_document(collection text,
                                 document_id text,
                                 return_url boolean DEFAULT false,
                                 return_vectors boolean DEFAULT false)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'mixpeek_document'
LANGUAGE C STRICT VOLATILE PARALLEL SAFE;

COMMENT ON FUNCTION mixpeek_document(text, text, boolean, boolean) IS
'one Mixpeek document as jsonb, or NULL when it does not exist';

CREATE FUNCTION mixpeek_documents(collection text,
                                  document_ids text[],
                                  return_url boolean DEFAULT false,
                                  return_vectors boolean DEFAULT false)
RETURNS SETOF jsonb
AS 'MODULE_PATHNAME', 'mixpeek_documents'
LANGUAGE C STRICT VOLATILE PARALLEL SAFE ROWS 100;

COMMENT ON FUNCTION mixpeek_documents(text, text[], boolean, boolean) IS
'the Mixpeek documents with the given ids, fetched concurrently; missing ids are skipped';

CREATE FUNCTION mixpeek_fdw_handler()
RETURNS fdw_handler
AS 'MODULE_PATHNAME'
LANGUAGE C STRICT;

CREATE FUNCTION mixpeek_fdw_validator(text[], oid)
RETURNS void
AS 'MODULE_PATHNAME'
LANGUAGE C STRICT;

CREATE FOREIGN DATA WRAPPER mixpeek_fdw
  HANDLER mixpeek_fdw_handler
  VALIDATOR mixpeek_fdw_validator;

-- Request statistics (shared memory; needs shared_preload_libraries)
CREATE FUNCTION mixpeek_stats(
    OUT dbid oid, OUT userid oid, OUT serverid oid, OUT kind text,
    OUT requests bigint, OUT retries bigint,
    OUT errors_4xx bigint, OUT errors_5xx bigint, OUT errors_network bigint,
    OUT rate_limited bigint, OUT bytes bigint,
    OUT time_ms double precision, OUT wait_ms double precision)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'mixpeek_stats'
LANGUAGE C STRICT VOLATILE PARALLEL SAFE;

CREATE FUNCTION mixpeek_stats_reset()
RETURNS void
AS 'MODULE_PATHNAME', 'mixpeek_stats_reset'
LANGUAGE C STRICT VOLATILE PARALLEL SAFE;

CREATE VIEW mixpeek_stats AS
  SELECT s.dbid, d.datname, s.userid, r.rolname,
         s.serverid, f.srvname AS servername, s.kind,
         s.requests, s.retries, s.errors_4xx, s.errors_5xx, s.errors_network,
         s.rate_limited, s.bytes, s.time_ms, s.wait_ms
  FROM mixpeek_stats() s
  LEFT JOIN pg_database d ON d.oid = s.dbid
  LEFT JOIN pg_roles r ON r.oid = s.userid
  LEFT JOIN pg_foreign_server f ON f.oid = s.serverid;

COMMENT ON VIEW mixpeek_stats IS
'Mixpeek requests per database, role, foreign server (NULL: the settings'' key) and kind';

REVOKE ALL ON FUNCTION mixpeek_stats() FROM PUBLIC;
REVOKE ALL ON FUNCTION mixpeek_stats_reset() FROM PUBLIC;
REVOKE ALL ON mixpeek_stats FROM PUBLIC;
GRANT EXECUTE ON FUNCTION mixpeek_stats() TO pg_read_all_stats;
GRANT SELECT ON mixpeek_stats TO pg_read_all_stats;

-- First contact: one row per check of a setup, never the key
CREATE FUNCTION mixpeek_check(server name DEFAULT NULL)
RETURNS TABLE ("check" text, status text, detail text, hint text)
AS 'MODULE_PATHNAME', 'mixpeek_check'
LANGUAGE C VOLATILE PARALLEL UNSAFE ROWS 7;

COMMENT ON FUNCTION mixpeek_check(name) IS
'checks the settings'' target (or the given foreign server): preload, key source, base URL, host, an authenticated call, namespace, rate limits';

GRANT EXECUTE ON FUNCTION mixpeek_check(name) TO PUBLIC;

-- Lineage navigation
CREATE FUNCTION mixpeek_lineage(collection text, document_id text)
RETURNS TABLE (step int, collection_id text, document_id text,
               feature_extractor text, created_at timestamptz, detail jsonb)
AS 'MODULE_PATHNAME', 'mixpeek_lineage'
LANGUAGE C STRICT VOLATILE PARALLEL SAFE ROWS 5;

COMMENT ON FUNCTION mixpeek_lineage(text, text) IS
'the processing steps that produced a Mixpeek document, from the root object on; no rows when it does not exist';

CREATE FUNCTION mixpeek_object_documents(object_id text,
                                         collections text[] DEFAULT NULL)
RETURNS SETOF jsonb
AS 'MODULE_PATHNAME', 'mixpeek_object_documents'
LANGUAGE C VOLATILE PARALLEL SAFE ROWS 100;

COMMENT ON FUNCTION mixpeek_object_documents(text, text[]) IS
'every Mixpeek document derived from one bucket object, optionally only in the given collections';

CREATE FUNCTION mixpeek_search(retriever text, inputs jsonb,
                               max_results int DEFAULT 100,
                               filters jsonb DEFAULT NULL)
RETURNS TABLE (rank int, document_id text, score double precision,
               document jsonb)
AS 'MODULE_PATHNAME', 'mixpeek_search'
LANGUAGE C VOLATILE PARALLEL SAFE ROWS 100;

COMMENT ON FUNCTION mixpeek_search(text, jsonb, int, jsonb) IS
'the results of a Mixpeek retriever, in its order, at most max_results of them';

-- The request budget of each API key (rate-limit pacing and AIMD concurrency)
CREATE FUNCTION mixpeek_budget(
    OUT key_id text, OUT in_flight int, OUT concurrency float8,
    OUT gap_ms float8, OUT remaining bigint, OUT paused_ms float8,
    OUT requests bigint, OUT rate_limited bigint, OUT cuts bigint,
    OUT waits bigint, OUT wait_ms float8)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'mixpeek_budget'
LANGUAGE C STRICT VOLATILE PARALLEL SAFE;

CREATE VIEW mixpeek_budget AS SELECT * FROM mixpeek_budget();

COMMENT ON VIEW mixpeek_budget IS
'the request budget of each Mixpeek API key in use (a salted hash, never the key): concurrency, pacing, 429s, time waited';

REVOKE ALL ON FUNCTION mixpeek_budget() FROM PUBLIC;
REVOKE ALL ON mixpeek_budget FROM PUBLIC;
GRANT EXECUTE ON FUNCTION mixpeek_budget() TO pg_read_all_stats;
GRANT SELECT ON mixpeek_budget TO pg_read_all_stats;

CREATE FUNCTION mixpeek_budget_reset()
RETURNS void
AS 'MODULE_PATHNAME', 'mixpeek_budget_reset'
LANGUAGE C STRICT VOLATILE PARALLEL SAFE;

REVOKE ALL ON FUNCTION mixpeek_budget_reset() FROM PUBLIC;
