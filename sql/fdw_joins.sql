-- mixpeek_fdw: joins with local tables (nested loops of GETs), id lists,
-- materialized views, a report
\i sql/include/fdw_setup.psql

CREATE SERVER mx_join FOREIGN DATA WRAPPER mixpeek_fdw;
CREATE FOREIGN TABLE join_articles (
  document_id text,
  root_object_id text,
  lineage_path text,
  category text,
  title text OPTIONS (field 'metadata.title'),
  word_count integer,
  rating numeric,
  taxonomy_topics_label text,
  cluster_id text,
  published_at timestamptz
) SERVER mx_join OPTIONS (collection 'col_articles');
CREATE FOREIGN TABLE join_frames (
  document_id text,
  source_type text,
  source_collection_id text,
  source_document_id text,
  lineage_path text
) SERVER mx_join OPTIONS (collection 'col_frames');
CREATE FOREIGN TABLE join_big (document_id text, category text, word_count int)
  SERVER mx_join OPTIONS (collection 'col_big');

-- a few local rows: their ids in one list request (a batched join)
CREATE TABLE join_reading_list (id text PRIMARY KEY, reader text);
INSERT INTO join_reading_list VALUES
  ('doc_flat_01', 'ana'), ('doc_nested_02', 'bo'), ('doc/with/slash', 'cy'),
  ('gone', 'di');
ANALYZE join_reading_list;
EXPLAIN (VERBOSE, COSTS OFF)
SELECT r.reader, a.title FROM join_reading_list r JOIN join_articles a ON a.document_id = r.id;
SELECT pg_temp.mock_reset() \gset
SELECT r.reader, a.title FROM join_reading_list r JOIN join_articles a ON a.document_id = r.id
ORDER BY r.reader;
SELECT method, path FROM pg_temp.mock_requests() ORDER BY path;
-- outer join: the missing document gives NULLs
SELECT r.reader, a.title FROM join_reading_list r LEFT JOIN join_articles a ON a.document_id = r.id
ORDER BY r.reader;
-- without batched joins: one GET per row in a nested loop
SET mixpeek.batch_join = off;
SELECT pg_temp.mock_reset() \gset
SELECT r.reader, a.title FROM join_reading_list r JOIN join_articles a ON a.document_id = r.id
ORDER BY r.reader;
SELECT method, path FROM pg_temp.mock_requests() ORDER BY path;
RESET mixpeek.batch_join;

-- many local rows: 5 list requests of 1,000 ids, sent at once
CREATE TABLE join_many AS
  SELECT format('doc_%s', lpad(i::text, 6, '0')) AS id, i FROM generate_series(1, 5000) i;
ANALYZE join_many;
EXPLAIN (COSTS OFF)
SELECT count(*) FROM join_many m JOIN join_articles a ON a.document_id = m.id;
-- a few of them: one list request
EXPLAIN (COSTS OFF)
SELECT m.i FROM join_many m JOIN join_big b ON b.document_id = m.id
WHERE m.i < 3;
SELECT pg_temp.mock_reset() \gset
SELECT m.i, b.category FROM join_many m JOIN join_big b ON b.document_id = m.id
WHERE m.i < 3 ORDER BY m.i;
SELECT method, path FROM pg_temp.mock_requests() ORDER BY path;

-- frames to the articles they come from, across collections
SELECT f.document_id AS frame, a.title
FROM join_frames f JOIN join_articles a ON a.document_id = f.source_document_id
ORDER BY 1;

-- an IN list: one list request filtered by the ids, each id once, ids
-- that match nothing are no rows
SET mixpeek.max_concurrency = 2;
SELECT pg_temp.mock_reset() \gset
SELECT document_id FROM join_articles
WHERE document_id IN ('doc_flat_03', 'doc_flat_01', 'nope', 'doc_flat_03', '100%', 'a b', 'plus+sign')
ORDER BY 1;
SELECT method, path, query, body FROM pg_temp.mock_requests() ORDER BY path;
RESET mixpeek.max_concurrency;
-- an id array from a parameter
PREPARE by_ids(text[]) AS SELECT count(*) FROM join_articles WHERE document_id = ANY ($1);
EXECUTE by_ids(ARRAY['doc_flat_01', 'doc_nested_01', NULL, '']);
EXECUTE by_ids('{}');
EXECUTE by_ids(NULL);
DEALLOCATE by_ids;
-- a generic plan: the id comes at each execution
SET plan_cache_mode = force_generic_plan;
PREPARE by_id(text) AS SELECT document_id, category FROM join_articles WHERE document_id = $1;
EXECUTE by_id('doc_flat_02');
EXECUTE by_id('..');
EXECUTE by_id(NULL);
EXECUTE by_id('nope');
DEALLOCATE by_id;
RESET plan_cache_mode;
SELECT count(*) FROM join_big
WHERE document_id = ANY (ARRAY(SELECT format('doc_%s', lpad(i::text, 6, '0'))
                               FROM generate_series(0, 299) i));
-- the idiom for many ids from a local table: the array of an InitPlan,
-- fetched with list requests of up to 1,000 ids, whatever the planner
-- thinks of a join
EXPLAIN (VERBOSE, COSTS OFF)
SELECT count(*) FROM join_big b
WHERE b.document_id = ANY (ARRAY(SELECT id FROM join_many WHERE i <= 300));
SELECT pg_temp.mock_reset() \gset
SELECT count(*) FROM join_big b
WHERE b.document_id = ANY (ARRAY(SELECT id FROM join_many WHERE i <= 300));
SELECT method, count(*), sum(jsonb_array_length(body #> '{filters,AND,0,value}'))
FROM pg_temp.mock_requests() GROUP BY 1;

-- a materialized view of enriched documents, refreshed without blocking readers
CREATE MATERIALIZED VIEW join_enriched AS
SELECT document_id, title, category, taxonomy_topics_label, cluster_id, rating
FROM join_articles WHERE taxonomy_topics_label IS NOT NULL;
CREATE UNIQUE INDEX ON join_enriched (document_id);
SELECT count(*) FROM join_enriched;
REFRESH MATERIALIZED VIEW CONCURRENTLY join_enriched;
SELECT taxonomy_topics_label, count(*), round(avg(rating), 3) AS avg_rating
FROM join_enriched GROUP BY 1 ORDER BY 1;

-- a report: lineage roots with their documents, categories and words
SELECT coalesce(root_object_id, '(none)') AS root, count(*) AS documents,
       string_agg(DISTINCT lower(category), ', ') AS categories,
       sum(word_count) AS words
FROM join_articles
GROUP BY 1 ORDER BY documents DESC, root LIMIT 6;

-- a lateral join and a correlated subquery also run as one GET per row
SELECT r.reader, x.word_count
FROM join_reading_list r,
     LATERAL (SELECT word_count FROM join_articles a WHERE a.document_id = r.id) x
ORDER BY 1;
SELECT r.reader,
       (SELECT category FROM join_articles a WHERE a.document_id = r.id) AS category
FROM join_reading_list r ORDER BY 1;

-- two list scans with pages in flight at once (a merge join on the API's
-- sort), and a function's GETs between a scan's pages
CREATE FOREIGN TABLE join_paged (document_id text OPTIONS (indexed 'true') COLLATE "C",
                         word_count int)
  SERVER mx_join OPTIONS (collection 'col_articles', page_size '3');
SET enable_hashjoin = off;
SET enable_nestloop = off;
SET mixpeek.batch_join = off;
EXPLAIN (COSTS OFF)
SELECT a.document_id, b.word_count
FROM join_paged a JOIN join_paged b ON a.document_id = b.document_id
ORDER BY a.document_id;
SELECT a.document_id, b.word_count
FROM join_paged a JOIN join_paged b ON a.document_id = b.document_id
ORDER BY a.document_id;
RESET enable_hashjoin;
RESET enable_nestloop;
RESET mixpeek.batch_join;
SELECT count(*) FILTER (WHERE mixpeek_document('col_articles', document_id)
                              ->> 'document_id' = document_id) AS same
FROM join_paged;

-- parallel query: the wrapper does not mark its scans parallel safe, so
-- they run in the leader, with no Gather; mixpeek_document() may run in a
-- worker (the setting is debug_parallel_query from PostgreSQL 16 on)
SELECT CASE WHEN current_setting('server_version_num')::int >= 160000
       THEN 'debug_parallel_query' ELSE 'force_parallel_mode' END AS parallel_guc \gset
SET :parallel_guc = on;
EXPLAIN (COSTS OFF) SELECT count(*) FROM join_articles WHERE category = 'news';
SELECT count(*) FROM join_articles WHERE category = 'news';
SELECT mixpeek_document('col_articles', 'doc_flat_02') ->> 'category' AS category;
RESET :parallel_guc;

-- batched joins: 1,503 local rows (a NULL, a missing id, a duplicate), a
-- further join clause; their 1,501 distinct ids in two list requests
CREATE TABLE join_batch AS
  SELECT format('doc_%s', lpad((i * 37)::text, 6, '0')) AS id, i
  FROM generate_series(0, 1499) i;
INSERT INTO join_batch VALUES (NULL, 1500), ('nope', 1501), ('doc_000037', 1502);
ANALYZE join_batch;
-- the planner knows the collection's size: a scan of it is 1,000 requests
ALTER FOREIGN TABLE join_big OPTIONS (ADD rows '100000');
EXPLAIN (VERBOSE, COSTS OFF)
SELECT j.i, b.category FROM join_batch j
JOIN join_big b ON b.document_id = j.id AND b.word_count > j.i;
SELECT pg_temp.mock_reset() \gset
SELECT count(*), sum(b.word_count), count(DISTINCT b.document_id)
FROM join_batch j JOIN join_big b ON b.document_id = j.id AND b.word_count > j.i;
SELECT method, path, jsonb_array_length(body->'filters'->'AND'->0->'value') AS ids
FROM pg_temp.mock_requests() ORDER BY ids;
-- the same as with the ids handed over as an array
SET mixpeek.batch_join = off;
SELECT count(*), sum(b.word_count), count(DISTINCT b.document_id)
FROM join_batch j JOIN join_big b ON b.document_id = j.id AND b.word_count > j.i
WHERE b.document_id = ANY (ARRAY(SELECT id FROM join_batch));
RESET mixpeek.batch_join;
-- EXISTS: a semi-join, each local row once
EXPLAIN (VERBOSE, COSTS OFF)
SELECT count(*) FROM join_batch j
WHERE EXISTS (SELECT 1 FROM join_big b WHERE b.document_id = j.id AND b.category = 'tech');
SELECT count(*), count(DISTINCT j.id) FROM join_batch j
WHERE EXISTS (SELECT 1 FROM join_big b WHERE b.document_id = j.id AND b.category = 'tech');
-- NOT EXISTS: an anti-join, batched too
CREATE FUNCTION pg_temp.batched(query text) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
  line text;
BEGIN
  FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || query LOOP
    IF line LIKE '%MixpeekBatchJoin%' THEN
      RETURN true;
    END IF;
  END LOOP;
  RETURN false;
END $$;
SELECT pg_temp.batched($$SELECT count(*) FROM join_batch j
  WHERE NOT EXISTS (SELECT 1 FROM join_big b WHERE b.document_id = j.id)$$) AS batched;
SELECT count(*), count(j.id) FROM join_batch j
WHERE NOT EXISTS (SELECT 1 FROM join_big b WHERE b.document_id = j.id AND b.category = 'tech');
-- LEFT JOIN: NULLs for the rows without a document
EXPLAIN (VERBOSE, COSTS OFF)
SELECT j.i, b.document_id, b.word_count FROM join_batch j
LEFT JOIN join_big b ON b.document_id = j.id AND b.category <> 'news'
WHERE j.i >= 1496;
SELECT j.i, b.document_id, b.word_count FROM join_batch j
LEFT JOIN join_big b ON b.document_id = j.id AND b.category <> 'news'
WHERE j.i >= 1496 ORDER BY j.i;
-- EXPLAIN ANALYZE: the batches and the distinct ids sent
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF, BUFFERS OFF)
SELECT count(*) FROM join_batch j JOIN join_big b ON b.document_id = j.id;
DROP TABLE join_batch;
ALTER FOREIGN TABLE join_big OPTIONS (DROP rows);

DROP MATERIALIZED VIEW join_enriched;
DROP TABLE join_reading_list, join_many;
DROP SERVER mx_join CASCADE;
