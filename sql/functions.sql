-- mixpeek_document() and mixpeek_documents() against the bundled mock
\set ECHO all
\pset null '(null)'
\set SHOW_CONTEXT errors

-- a document, exactly as sent: both shapes, numbers with every digit
SELECT mixpeek_document('col_articles', 'doc_flat_01') ->> 'document_id' AS id,
       mixpeek_document('col_articles', 'doc_flat_01') -> 'metadata' ->> 'title' AS title;
SELECT mixpeek_document('col_articles', 'doc_nested_01') #>> '{_internal,lineage,path}' AS nested_path;
SELECT mixpeek_document('articles', 'doc_flat_01') ->> 'collection_id' AS by_name;
SELECT (mixpeek_document('col_faults', 'big-number') ->> 'big_int') AS big_int;

-- ids that need percent-encoding reach exactly that document
SELECT id, mixpeek_document('col_articles', id) ->> 'document_id' = id AS same
FROM unnest(ARRAY['doc/with/slash', 'doc?x=1&y=2', 'doc#frag', '100%', '..', '.',
                  'ünïcødé-ид', 'a b', 'plus+sign']) AS id;

-- a missing document is NULL; NULL arguments give NULL (STRICT)
SELECT mixpeek_document('col_articles', 'doc_does_not_exist') AS missing;
SELECT mixpeek_document('col_articles', NULL) AS null_id;

-- vectors and URLs only when asked for
SELECT mixpeek_document('col_articles', 'doc_flat_01') ? 'vector' AS has_vector,
       mixpeek_document('col_articles', 'doc_flat_01', return_vectors => true) ? 'vector' AS asked_vector,
       mixpeek_document('col_articles', 'doc_flat_01') ? 'presigned_url' AS has_url,
       mixpeek_document('col_articles', 'doc_flat_01', return_url => true) ? 'presigned_url' AS asked_url;

-- mixpeek_documents: distinct existing documents, missing and NULL ids skipped
SELECT d ->> 'document_id' AS id
FROM mixpeek_documents('col_articles',
                       ARRAY['doc_flat_02', 'doc_flat_01', 'nope', NULL, 'doc_flat_01', '..'])
     AS d
ORDER BY 1;
SELECT count(*) FROM mixpeek_documents('col_articles', '{}');
SELECT count(*) FROM mixpeek_documents('col_big',
    ARRAY(SELECT format('doc_%s', lpad(i::text, 6, '0')) FROM generate_series(0, 99) i));

-- a join against a local table
CREATE TEMP TABLE wanted (id text PRIMARY KEY, note text);
INSERT INTO wanted VALUES ('doc_flat_01', 'first'), ('doc_nested_02', 'second'), ('gone', 'missing');
SELECT w.id, w.note, mixpeek_document('col_articles', w.id) #>> '{metadata,title}' AS title
FROM wanted w ORDER BY w.id;

-- errors: SQLSTATE, status, Mixpeek's error type and message, method and path
SET mixpeek.max_retries = 0;
SELECT mixpeek_document('col_nope', 'doc_flat_01');
\echo :LAST_ERROR_SQLSTATE
SELECT mixpeek_document('', 'x');
\echo :LAST_ERROR_SQLSTATE
SELECT mixpeek_document('col_articles', '');
\echo :LAST_ERROR_SQLSTATE
SELECT mixpeek_document('col_faults', 'status-400');
\echo :LAST_ERROR_SQLSTATE
SELECT mixpeek_document('col_faults', 'status-422');
\echo :LAST_ERROR_SQLSTATE
SELECT mixpeek_document('col_faults', 'status-429');
\echo :LAST_ERROR_SQLSTATE
SELECT mixpeek_document('col_faults', 'status-500');
\echo :LAST_ERROR_SQLSTATE
SELECT mixpeek_document('col_faults', 'invalid-json');
\echo :LAST_ERROR_SQLSTATE
SELECT mixpeek_document('col_faults', 'non-object');
\echo :LAST_ERROR_SQLSTATE
SELECT mixpeek_document('col_faults', 'echo-key');
\echo :LAST_ERROR_SQLSTATE
SET mixpeek.namespace = 'no_such_namespace';
SELECT mixpeek_document('col_articles', 'doc_flat_01');
\echo :LAST_ERROR_SQLSTATE
RESET mixpeek.namespace;
SET mixpeek.api_key = 'sk_wrong';
SELECT mixpeek_document('col_articles', 'doc_flat_01');
\echo :LAST_ERROR_SQLSTATE
SET mixpeek.api_key = 'sk_test_forbidden';
SELECT mixpeek_document('col_articles', 'doc_flat_01');
\echo :LAST_ERROR_SQLSTATE
SET mixpeek.api_key = '';
SELECT mixpeek_document('col_articles', 'doc_flat_01');
\echo :LAST_ERROR_SQLSTATE
RESET mixpeek.api_key;
-- errors inside a subtransaction leave the session sound
DO $$
BEGIN
  PERFORM mixpeek_document('col_faults', 'status-500');
EXCEPTION WHEN fdw_error THEN
  RAISE NOTICE 'caught %', SQLSTATE;
END $$;
SELECT mixpeek_document('col_articles', 'doc_flat_02') ->> 'document_id' AS after_errors;
-- retries: 502/503/504 and 429 are retried, then reported with the count
SET mixpeek.max_retries = 2;
SELECT mixpeek_document('col_faults', 'status-503');
\echo :LAST_ERROR_SQLSTATE
SELECT mixpeek_document('col_faults', 'flaky-503-2-functions') ->> 'ok' AS recovered;
RESET mixpeek.max_retries;

-- settings: limits and who may set what
SET mixpeek.max_concurrency = 0;
SET mixpeek.page_size = 1001;
SET mixpeek.base_url = 'ftp://example.com';
SET mixpeek.base_url = 'http://10.0.0.1/meta?x=';
-- anyone may set the namespace, which becomes a header: no CR/LF
SET mixpeek.namespace = E'default\nX-Evil: 1';
SET mixpeek.allowed_hosts = 'api.mixpeek.com, [::1]:8000, bad host';
SELECT name, CASE WHEN name = 'mixpeek.api_key' THEN '(hidden here)' ELSE setting END AS setting,
       unit, context
FROM pg_settings WHERE name LIKE 'mixpeek.%' AND name <> 'mixpeek.base_url' ORDER BY name;
CREATE ROLE mixpeek_reader;
SET ROLE mixpeek_reader;
SHOW mixpeek.api_key;
SELECT current_setting('mixpeek.api_key');
SELECT count(*) AS visible FROM pg_settings WHERE name = 'mixpeek.api_key';
SET mixpeek.api_key = 'sk_mine';
SET mixpeek.base_url = 'http://127.0.0.1:1';
SET mixpeek.namespace = 'production';
SELECT mixpeek_document('col_articles', 'doc_flat_01') ->> 'document_id' AS as_reader;
RESET ROLE;
-- stored where every role can read it: refused
ALTER ROLE mixpeek_reader SET mixpeek.api_key = 'sk_test_beta';
\echo :LAST_ERROR_SQLSTATE
ALTER DATABASE contrib_regression SET mixpeek.api_key = 'sk_test_beta';
CREATE FUNCTION keyed() RETURNS int LANGUAGE sql SET mixpeek.api_key = 'sk_test_beta' AS 'SELECT 1';
SELECT count(*) AS stored FROM pg_db_role_setting WHERE array_to_string(setconfig, ',') LIKE '%api_key%';
DROP ROLE mixpeek_reader;

-- no namespace: an ERROR (22023) with a hint before any request, for every
-- entry point; mixpeek_check() reports it as rows instead
\i sql/include/fdw_setup.psql
CREATE SERVER mx_nons FOREIGN DATA WRAPPER mixpeek_fdw;
CREATE FOREIGN TABLE nons_articles (document_id text)
  SERVER mx_nons OPTIONS (collection 'col_articles');
CREATE SCHEMA nons_import;
SET mixpeek.namespace = '';
SELECT pg_temp.mock_reset();
SELECT mixpeek_document('col_articles', 'doc_flat_01');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM mixpeek_documents('col_articles', '{}');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM mixpeek_lineage('col_articles', 'doc_flat_01');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM mixpeek_object_documents('obj_01');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM nons_articles;
\echo :LAST_ERROR_SQLSTATE
IMPORT FOREIGN SCHEMA x FROM SERVER mx_nons INTO nons_import;
\echo :LAST_ERROR_SQLSTATE
SELECT "check", status FROM mixpeek_check('mx_nons')
WHERE "check" IN ('authentication', 'namespace');
SELECT count(*) AS requests FROM pg_temp.mock_requests();
RESET mixpeek.namespace;
SELECT count(*) FROM nons_articles WHERE document_id = 'doc_flat_01';
SELECT namespace FROM pg_temp.mock_requests();
DROP SCHEMA nons_import;
DROP SERVER mx_nons CASCADE;
