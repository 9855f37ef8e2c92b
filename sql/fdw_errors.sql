-- mixpeek_fdw: conversion errors, API errors, and which key goes where
\i sql/include/fdw_setup.psql
\set SHOW_CONTEXT errors

CREATE SERVER mx_err FOREIGN DATA WRAPPER mixpeek_fdw;

-- a value that does not convert names the column, the document and the value,
-- with the input function's SQLSTATE
CREATE DOMAIN err_small AS integer CHECK (VALUE < 1000);
CREATE TYPE err_mood AS ENUM ('news', 'tech');
CREATE FOREIGN TABLE err_articles (
  document_id text,
  category text,
  word_count integer,
  small err_small OPTIONS (field 'word_count'),
  category_int integer OPTIONS (field 'category'),
  category_bool boolean OPTIONS (field 'category'),
  mood err_mood OPTIONS (field 'category'),
  short_title varchar(5) OPTIONS (field 'metadata.title'),
  tags int[],
  metadata_int integer OPTIONS (field 'metadata'),
  published_at date,
  chain_int int OPTIONS (field '_internal.lineage.chain')
) SERVER mx_err OPTIONS (collection 'col_articles');
SELECT category_int FROM err_articles WHERE document_id = 'doc_flat_01';
\echo :LAST_ERROR_SQLSTATE
SELECT category_bool FROM err_articles WHERE document_id = 'doc_flat_01';
\echo :LAST_ERROR_SQLSTATE
SELECT small FROM err_articles WHERE document_id = 'doc_nested_01';
\echo :LAST_ERROR_SQLSTATE
SELECT mood FROM err_articles WHERE document_id = 'doc_flat_01';
\echo :LAST_ERROR_SQLSTATE
SELECT short_title FROM err_articles WHERE document_id = 'doc_flat_02';
\echo :LAST_ERROR_SQLSTATE
SELECT tags FROM err_articles WHERE document_id = 'doc_nested_02';
\echo :LAST_ERROR_SQLSTATE
SELECT metadata_int FROM err_articles WHERE document_id = 'doc_flat_01';
\echo :LAST_ERROR_SQLSTATE
SELECT published_at FROM err_articles WHERE document_id = 'doc_flat_02';
SELECT chain_int FROM err_articles WHERE document_id = 'doc_nested_03';
\echo :LAST_ERROR_SQLSTATE
-- in a list scan too, and only for the columns the query uses
SELECT count(*) FROM err_articles WHERE small IS NOT NULL;
SELECT count(*), count(word_count) FROM err_articles;

-- API errors carry the SQLSTATEs of README's error table
SET mixpeek.max_retries = 0;
CREATE FOREIGN TABLE err_nope (document_id text) SERVER mx_err OPTIONS (collection 'col_nope');
SELECT * FROM err_nope;
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM err_nope WHERE document_id = 'x';
\echo :LAST_ERROR_SQLSTATE
CREATE FOREIGN TABLE err_faults (document_id text, ok boolean) SERVER mx_err
  OPTIONS (collection 'col_faults');
SELECT * FROM err_faults WHERE document_id = 'status-500';
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM err_faults WHERE document_id = 'invalid-json';
\echo :LAST_ERROR_SQLSTATE
-- an id list is a list request: its failure is the statement's
CREATE FOREIGN TABLE err_ids (document_id text) SERVER mx_err
  OPTIONS (collection 'faultpage-1-status-503');
SELECT * FROM err_ids WHERE document_id IN ('doc_flat_01', 'doc_flat_02');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM err_faults WHERE document_id = 'status-200';
-- a failure on a later page
CREATE FOREIGN TABLE err_page (document_id text) SERVER mx_err
  OPTIONS (collection 'faultpage-3-status-502', page_size '4');
SELECT count(*) FROM err_page;
\echo :LAST_ERROR_SQLSTATE
-- retried, then fine
RESET mixpeek.max_retries;
CREATE FOREIGN TABLE err_flaky (document_id text) SERVER mx_err
  OPTIONS (collection 'faultpage-2-flaky-503-1-fdwerr', page_size '8');
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT count(*) FROM err_flaky;

-- keys: the settings' key (sk_test_alpha) for a server without a base_url ...
SELECT pg_temp.mock_reset() \gset
CREATE FOREIGN TABLE err_plain (document_id text) SERVER mx_err
  OPTIONS (collection 'col_articles');
SELECT count(*) FROM err_plain WHERE document_id = 'doc_flat_01';
-- ... a user mapping's before it: the role's own, else PUBLIC's
CREATE ROLE regress_mx_reader;
CREATE ROLE regress_mx_owner;
GRANT USAGE ON FOREIGN SERVER mx_err TO regress_mx_reader, regress_mx_owner;
GRANT SELECT ON err_plain TO regress_mx_reader, regress_mx_owner;
GRANT CREATE ON SCHEMA public TO regress_mx_owner;
CREATE USER MAPPING FOR PUBLIC SERVER mx_err OPTIONS (api_key 'sk_test_gamma');
CREATE USER MAPPING FOR regress_mx_reader SERVER mx_err OPTIONS (api_key 'sk_test_beta');
CREATE USER MAPPING FOR regress_mx_owner SERVER mx_err;
SELECT count(*) FROM err_plain WHERE document_id = 'doc_flat_01';
SET ROLE regress_mx_reader;
SELECT count(*) FROM err_plain WHERE document_id = 'doc_flat_01';
-- a view runs with its owner's mapping; a mapping without a key falls back
SET ROLE regress_mx_owner;
SELECT count(*) FROM err_plain WHERE document_id = 'doc_flat_01';
CREATE VIEW err_owned AS SELECT document_id FROM err_plain;
GRANT SELECT ON err_owned TO regress_mx_reader;
SET ROLE regress_mx_reader;
SELECT count(*) FROM err_owned WHERE document_id = 'doc_flat_01';
RESET ROLE;
SELECT method, path, identity FROM pg_temp.mock_requests();

-- a server with its own base_url never gets the settings' key
CREATE SERVER mx_err_own FOREIGN DATA WRAPPER mixpeek_fdw OPTIONS (base_url :'mock_url');
CREATE FOREIGN TABLE err_own (document_id text) SERVER mx_err_own
  OPTIONS (collection 'col_articles');
GRANT USAGE ON FOREIGN SERVER mx_err_own TO regress_mx_reader;
GRANT SELECT ON err_own TO regress_mx_reader;
SELECT pg_temp.mock_reset() \gset
SELECT count(*) FROM err_own;
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM err_own WHERE document_id = 'doc_flat_01';
EXPLAIN (VERBOSE, COSTS OFF) SELECT count(*) FROM err_own;
SELECT count(*) AS requests_sent FROM pg_temp.mock_requests();
CREATE USER MAPPING FOR regress_mx_reader SERVER mx_err_own OPTIONS (api_key 'sk_test_beta');
SET ROLE regress_mx_reader;
SELECT count(*) FROM err_own;
RESET ROLE;
SELECT count(*) FROM err_own;
SELECT method, path, identity FROM pg_temp.mock_requests();
-- EXPLAIN ANALYZE and errors never show a key
SET ROLE regress_mx_reader;
EXPLAIN (ANALYZE, VERBOSE, COSTS OFF, TIMING OFF, SUMMARY OFF)
SELECT count(*) FROM err_own WHERE document_id = 'doc_flat_01';
RESET ROLE;
ALTER USER MAPPING FOR regress_mx_reader SERVER mx_err_own OPTIONS (SET api_key 'sk_wrong');
ALTER USER MAPPING FOR PUBLIC SERVER mx_err OPTIONS (SET api_key 'sk_test_forbidden');
SET ROLE regress_mx_reader;
SELECT count(*) FROM err_own;
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SELECT count(*) FROM err_plain;
\echo :LAST_ERROR_SQLSTATE
SET mixpeek.max_retries = 0;
-- an unreachable server
CREATE SERVER mx_err_dead FOREIGN DATA WRAPPER mixpeek_fdw
  OPTIONS (base_url 'http://127.0.0.1:1');
CREATE USER MAPPING FOR PUBLIC SERVER mx_err_dead OPTIONS (api_key 'sk_test_alpha');
CREATE FOREIGN TABLE err_dead (document_id text) SERVER mx_err_dead
  OPTIONS (collection 'col_articles');
SELECT count(*) FROM err_dead;
\echo :LAST_ERROR_SQLSTATE
RESET mixpeek.max_retries;

DROP OWNED BY regress_mx_reader, regress_mx_owner;
DROP SERVER mx_err, mx_err_own, mx_err_dead CASCADE;
DROP DOMAIN err_small;
DROP TYPE err_mood;
DROP ROLE regress_mx_reader, regress_mx_owner;
