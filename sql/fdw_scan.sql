-- mixpeek_fdw: columns from both document shapes, type conversion, paging,
-- projection, and what EXPLAIN shows
\i sql/include/fdw_setup.psql

CREATE SERVER mx_scan FOREIGN DATA WRAPPER mixpeek_fdw;

-- every standard column, each read from the flat shape first, then _internal
CREATE FOREIGN TABLE scan_std (
  document_id text, collection_id text,
  root_object_id text, root_bucket_id text, source_type text,
  source_collection_id text, source_document_id text, source_object_id text,
  lineage_path text, lineage_chain jsonb, source_blobs jsonb, document_blobs jsonb,
  internal_metadata jsonb, created_at timestamptz, updated_at timestamptz,
  modality text, mime_type text, vector real[], presigned_url text,
  presigned_urls jsonb, document jsonb
) SERVER mx_scan OPTIONS (collection 'col_articles');

\x on
SELECT document_id, collection_id, root_object_id, root_bucket_id, source_type,
       source_collection_id, source_document_id, source_object_id, lineage_path,
       lineage_chain, source_blobs, internal_metadata, created_at, updated_at,
       modality, mime_type, vector, document ->> 'document_id' AS document
FROM scan_std WHERE document_id IN ('doc_flat_01', 'doc_nested_01')
ORDER BY document_id;
\x off

-- the same facts in both shapes (doc_flat_0N, doc_nested_0N) give identical
-- typed rows; presigned URLs are signed per document, so only their blobs
CREATE VIEW scan_facts AS
SELECT substring(document_id from '^doc_(flat|nested)_0[1-4]$') AS shape,
       right(document_id, 1) AS pair,
       to_jsonb(ROW(collection_id, root_object_id, root_bucket_id, source_type,
           source_collection_id, source_document_id, source_object_id,
           lineage_path, lineage_chain, source_blobs,
           jsonb_path_query_array(document_blobs, '$[*].url'),
           internal_metadata, created_at, updated_at, modality, mime_type, vector,
           presigned_url IS NOT NULL, jsonb_array_length(presigned_urls))) AS facts
FROM scan_std;
SELECT f.pair, f.facts = n.facts AS identical,
       (SELECT count(*) FROM jsonb_each(f.facts) WHERE value <> 'null') AS non_null_facts
FROM scan_facts f JOIN scan_facts n
  ON f.pair = n.pair AND f.shape = 'flat' AND n.shape = 'nested'
ORDER BY 1;

-- "document" is the whole document, as mixpeek_document() returns it
SELECT document = mixpeek_document('col_articles', 'doc_nested_02') AS same_document
FROM scan_std WHERE document_id = 'doc_nested_02';

-- vectors and URLs are asked for only when a column needs them
SELECT pg_temp.mock_reset() \gset
SELECT count(*) FROM scan_std WHERE document_id = 'doc_flat_01';
SELECT vector FROM scan_std WHERE document_id = 'doc_flat_01';
SELECT presigned_url, presigned_urls FROM scan_std WHERE document_id = 'doc_flat_01';
SELECT document_blobs FROM scan_std WHERE document_id = 'doc_nested_01';
SELECT count(vector) FROM scan_std;
SELECT count(presigned_url) FROM scan_std;
SELECT method, path, query, body FROM pg_temp.mock_requests();
-- ... also when "document" comes before them in the table
CREATE FOREIGN TABLE scan_doc_first (document_id text, document jsonb,
  vector real[], presigned_url text) SERVER mx_scan OPTIONS (collection 'col_articles');
SELECT pg_temp.mock_reset() \gset
SELECT document ? 'vector' AS has_vector, document ? 'presigned_url' AS has_url
FROM scan_doc_first WHERE document_id = 'doc_flat_01';
SELECT count(*) FILTER (WHERE document ? 'vector') AS with_vector FROM scan_doc_first;
SELECT method, path, query, body FROM pg_temp.mock_requests();

-- a path through an array reads nothing (a key of digits is an object's
-- key), whatever the query uses, and nothing is sent about it: the API may
-- take "tags.0" for the first tag
CREATE FOREIGN TABLE scan_array_path (document_id text,
  tag0 text OPTIONS (field 'tags.0')) SERVER mx_scan OPTIONS (collection 'col_articles');
SELECT document_id, tag0 FROM scan_array_path WHERE document_id IN ('doc_flat_01', 'doc_flat_04');
SELECT t FROM scan_array_path t WHERE document_id IN ('doc_flat_01', 'doc_flat_04');
SELECT pg_temp.mock_reset() \gset
SELECT count(*) FROM scan_array_path WHERE tag0 IS NULL;
SELECT count(tag0) FROM scan_array_path;
SELECT body FROM pg_temp.mock_requests();

-- conversion through the column type's input function
CREATE TYPE scan_category AS ENUM ('News', 'news', 'NEWS', 'sports', 'Sports', 'tech',
                                   'Tech', 'TECH', 'science', 'Science', 'culture');
CREATE DOMAIN scan_count AS integer CHECK (VALUE >= 0);
CREATE FOREIGN TABLE scan_types (
  document_id text,
  category scan_category,
  word_count scan_count,
  words_text text OPTIONS (field 'word_count'),
  rating numeric,
  rating_text text OPTIONS (field 'rating'),
  rating_f double precision OPTIONS (field 'rating'),
  published boolean,
  published_text text OPTIONS (field 'published'),
  published_at timestamptz,
  issue_date date,
  tags text[],
  tags_json json OPTIONS (field 'tags'),
  vector real[],
  vector_num numeric[] OPTIONS (field 'vector'),
  metadata jsonb,
  metadata_text text OPTIONS (field 'metadata'),
  title varchar(40) OPTIONS (field 'metadata.title'),
  cluster_distance numeric,
  missing_field text
) SERVER mx_scan OPTIONS (collection 'col_articles');
SET timezone = 'UTC';
\x on
SELECT * FROM scan_types WHERE document_id IN ('doc_flat_02', 'doc_nested_06')
ORDER BY document_id;
\x off
RESET timezone;
SELECT pg_typeof(category) AS category, pg_typeof(word_count) AS word_count,
       pg_typeof(tags_json) AS tags_json, pg_typeof(vector) AS vector
FROM scan_types LIMIT 1;
SELECT document_id, rating, rating_f, rating_text FROM scan_types
WHERE rating_text LIKE '%.%' AND length(rating_text) > 12 ORDER BY document_id;

-- paging: pages follow the cursor, each asked for as the previous arrives
CREATE FOREIGN TABLE scan_paged (document_id text) SERVER mx_scan
  OPTIONS (collection 'col_articles', page_size '3');
SELECT pg_temp.mock_reset() \gset
SELECT count(*), count(DISTINCT document_id) FROM scan_paged;
SELECT method, query->>'limit' AS limit, body ? 'cursor' AS has_cursor,
       body - 'cursor' AS body
FROM pg_temp.mock_requests();
EXPLAIN (ANALYZE, VERBOSE, COSTS OFF, TIMING OFF, SUMMARY OFF)
SELECT document_id FROM scan_paged;
-- without a table option, mixpeek.page_size
SET mixpeek.page_size = 7;
SELECT pg_temp.mock_reset() \gset
SELECT count(*) FROM scan_std;
SELECT method, query->>'limit' AS limit FROM pg_temp.mock_requests();
RESET mixpeek.page_size;

-- a scan that stops early asks for at most the page after the current one
SELECT pg_temp.mock_reset() \gset
SELECT document_id FROM scan_paged WHERE document_id || '' = 'doc_flat_02' LIMIT 1;
SELECT count(*) <= 3 AS at_most_three_pages FROM pg_temp.mock_requests();

-- a SCROLL cursor: the planner puts the scan under a Materialize, so
-- fetching backwards asks for no page twice (seven pages of three: LIKE
-- is not sent at the default level)
SELECT pg_temp.mock_reset() \gset
BEGIN;
DECLARE scan_scroll SCROLL CURSOR FOR
  SELECT document_id FROM scan_paged WHERE document_id LIKE 'doc\_flat%';
FETCH 3 FROM scan_scroll;
FETCH BACKWARD 2 FROM scan_scroll;
FETCH LAST FROM scan_scroll;
COMMIT;
SELECT count(*) AS requests FROM pg_temp.mock_requests();

-- a cursor opened before a subtransaction that fetches from it and is
-- rolled back keeps all its rows: what was in flight is asked for again
CREATE FUNCTION pg_temp.rows_when_first_fails(query text) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
  c refcursor;
  r record;
  n int := 0;
BEGIN
  OPEN c FOR EXECUTE query;
  LOOP
    BEGIN
      FETCH c INTO r;
      EXIT WHEN NOT FOUND;
      n := n + 1;
      IF n = 1 THEN
        RAISE EXCEPTION 'the first document fails';
      END IF;
    EXCEPTION WHEN raise_exception THEN
      NULL;
    END;
  END LOOP;
  RETURN n;
END $$;
SELECT pg_temp.rows_when_first_fails('SELECT document_id FROM scan_paged');
SELECT pg_temp.rows_when_first_fails($$SELECT document_id FROM scan_paged
  WHERE document_id IN ('doc_flat_01', 'doc_flat_02', 'doc_flat_03', 'doc_flat_04',
                        'doc_nested_01', 'doc_nested_02', '..', '.', 'a b', 'nope')$$);

-- many pages
CREATE FOREIGN TABLE scan_big (document_id text, word_count int, category text)
  SERVER mx_scan OPTIONS (collection 'col_big', page_size '1000');
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF)
SELECT count(*), count(DISTINCT document_id), sum(word_count) FROM scan_big;
SELECT count(*), count(DISTINCT document_id), sum(word_count) FROM scan_big;
SELECT category, count(*) FROM scan_big WHERE word_count < 10 GROUP BY 1 ORDER BY 1;

-- GETs in EXPLAIN ANALYZE
EXPLAIN (ANALYZE, VERBOSE, COSTS OFF, TIMING OFF, SUMMARY OFF)
SELECT document_id FROM scan_std WHERE document_id = ANY (ARRAY['doc_flat_01', 'nope', 'doc_flat_01']);

-- namespaces: table option, else server option, else mixpeek.namespace
CREATE SERVER mx_scan_ns FOREIGN DATA WRAPPER mixpeek_fdw OPTIONS (namespace 'production');
CREATE FOREIGN TABLE scan_ns_server (document_id text) SERVER mx_scan_ns
  OPTIONS (collection 'col_articles');
CREATE FOREIGN TABLE scan_ns_table (document_id text) SERVER mx_scan_ns
  OPTIONS (collection 'col_articles', namespace 'empty');
CREATE FOREIGN TABLE scan_ns_guc (document_id text) SERVER mx_scan
  OPTIONS (collection 'articles');
SELECT pg_temp.mock_reset() \gset
SELECT count(*) FROM scan_ns_server;
SELECT count(*) FROM scan_ns_table;
SET mixpeek.namespace = 'production';
SELECT count(*) FROM scan_ns_guc;
RESET mixpeek.namespace;
SELECT count(*) FROM scan_ns_guc;
SELECT method, path, namespace FROM pg_temp.mock_requests();

DROP VIEW scan_facts;
DROP SERVER mx_scan CASCADE;
DROP SERVER mx_scan_ns CASCADE;
DROP TYPE scan_category;
DROP DOMAIN scan_count;
