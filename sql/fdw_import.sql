-- mixpeek_fdw: IMPORT FOREIGN SCHEMA
\i sql/include/fdw_setup.psql

CREATE SERVER mx_imp FOREIGN DATA WRAPPER mixpeek_fdw;
CREATE SCHEMA imp_all;
SELECT pg_temp.mock_reset() \gset
IMPORT FOREIGN SCHEMA mixpeek FROM SERVER mx_imp INTO imp_all;
SELECT method, path, query, body FROM pg_temp.mock_requests();
-- one table per collection, named after it, pointing at its id
SELECT c.relname, t.ftoptions
FROM pg_foreign_table t JOIN pg_class c ON c.oid = t.ftrelid
WHERE c.relnamespace = 'imp_all'::regnamespace ORDER BY 1;
-- standard columns, document, then the output_schema fields in order
\d imp_all.articles
\d imp_all."Weird ""Name""; drop"
-- the imported tables work
SELECT document_id, category, word_count, rating, published, issue_date,
       published_at AT TIME ZONE 'UTC' AS published_utc, tags, lineage_path
FROM imp_all.articles WHERE document_id IN ('doc_flat_02', 'doc_nested_02')
ORDER BY document_id;
SELECT document_id, title, score, source_type, lineage_path
FROM imp_all."Weird ""Name""; drop" ORDER BY 1;
SELECT count(*) FROM imp_all.big WHERE category = 'tech' AND word_count < 100;
-- an embedding output (an "array" named <extractor>_<version>_embedding) is
-- real[], with the option that makes a scan ask for vectors
\d imp_all.frames
SELECT pg_temp.mock_reset() \gset
SELECT document_id, image_extractor_v1_embedding FROM imp_all.frames ORDER BY 1 LIMIT 2;
SELECT count(*) FROM imp_all.frames;
SELECT query ->> 'include_total' AS include_total, body FROM pg_temp.mock_requests();

-- LIMIT TO and EXCEPT
CREATE SCHEMA imp_some;
IMPORT FOREIGN SCHEMA mixpeek LIMIT TO (frames, "Weird ""Name""; drop", nonexistent)
  FROM SERVER mx_imp INTO imp_some;
CREATE SCHEMA imp_rest;
IMPORT FOREIGN SCHEMA mixpeek EXCEPT (big, articles) FROM SERVER mx_imp INTO imp_rest;
SELECT n.nspname, c.relname
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname IN ('imp_some', 'imp_rest') ORDER BY 1, 2;

-- a namespace with no collections; a server that needs a key of its own
CREATE SERVER mx_imp_empty FOREIGN DATA WRAPPER mixpeek_fdw OPTIONS (namespace 'empty');
CREATE SCHEMA imp_none;
IMPORT FOREIGN SCHEMA mixpeek FROM SERVER mx_imp_empty INTO imp_none;
SELECT count(*) FROM pg_class WHERE relnamespace = 'imp_none'::regnamespace;
CREATE SERVER mx_imp_own FOREIGN DATA WRAPPER mixpeek_fdw OPTIONS (base_url :'mock_url');
IMPORT FOREIGN SCHEMA mixpeek FROM SERVER mx_imp_own INTO imp_none;
\echo :LAST_ERROR_SQLSTATE
-- an existing table of the same name is an error, as in postgres_fdw
IMPORT FOREIGN SCHEMA mixpeek LIMIT TO (frames) FROM SERVER mx_imp INTO imp_some;

DROP SCHEMA imp_all, imp_some, imp_rest, imp_none CASCADE;
DROP SERVER mx_imp, mx_imp_empty, mx_imp_own CASCADE;
