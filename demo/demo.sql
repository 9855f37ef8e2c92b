-- pg_mixpeek demo: run by ./demo.sh against the bundled mock Mixpeek API.
-- psql variable mock_url holds the mock's base URL.
\set ECHO queries
\pset null '(null)'

CREATE EXTENSION IF NOT EXISTS mixpeek;

-- 1. One document as jsonb, exactly as Mixpeek sent it.
SELECT jsonb_pretty(mixpeek_document('col_articles', 'doc_flat_01'));

-- 2. Many documents at once: fetched concurrently, missing ids skipped.
SELECT d ->> 'document_id' AS document_id, d #>> '{metadata,title}' AS title
FROM mixpeek_documents('col_articles',
                       ARRAY['doc_flat_01', 'doc_nested_02', 'doc_missing']) AS d
ORDER BY 1;

-- 3. A collection as a foreign table with typed lineage and enrichment columns.
CREATE SERVER mixpeek FOREIGN DATA WRAPPER mixpeek_fdw;
CREATE FOREIGN TABLE articles (
  document_id           text,
  collection_id         text,
  root_object_id        text,
  root_bucket_id        text,
  source_type           text,
  lineage_path          text,
  lineage_chain         jsonb,
  taxonomy_topics_label text,
  taxonomy_topics_score double precision,
  cluster_id            text,
  title                 text OPTIONS (field 'metadata.title'),
  category              text,
  word_count            integer,
  published_at          timestamptz,
  document              jsonb
) SERVER mixpeek OPTIONS (collection 'col_articles');

-- Both document shapes (flat and nested _internal) give the same typed columns.
SELECT document_id, root_object_id, lineage_path, taxonomy_topics_label, title
FROM articles
WHERE document_id IN ('doc_flat_01', 'doc_nested_01');

-- 4. Join with a local table: one concurrent batch of GETs, not a full scan.
CREATE TEMP TABLE reading_list (document_id text PRIMARY KEY, reader text);
INSERT INTO reading_list VALUES
  ('doc_flat_01', 'ana'), ('doc_nested_02', 'ben'), ('doc_flat_03', 'ana');
ANALYZE reading_list;
EXPLAIN (COSTS OFF, VERBOSE)
SELECT r.reader, a.title
FROM reading_list r JOIN articles a ON a.document_id = r.document_id;
SELECT r.reader, a.title, a.taxonomy_topics_label
FROM reading_list r JOIN articles a ON a.document_id = r.document_id
ORDER BY r.reader, a.title;

-- 5. Filters are pushed down (see the remote request in EXPLAIN VERBOSE).
EXPLAIN (COSTS OFF, VERBOSE)
SELECT document_id, word_count FROM articles
WHERE root_bucket_id = 'bkt_content' AND word_count >= 1000;

-- 6. A materialized view of enriched documents, refreshed without blocking readers.
CREATE MATERIALIZED VIEW article_topics AS
  SELECT document_id, taxonomy_topics_label AS topic, cluster_id, root_object_id
  FROM articles;
CREATE UNIQUE INDEX ON article_topics (document_id);
REFRESH MATERIALIZED VIEW CONCURRENTLY article_topics;
SELECT topic, count(*) AS documents
FROM article_topics GROUP BY topic ORDER BY documents DESC, topic;

-- 7. A report over the 100,000-document collection.  Mixpeek lists at most
-- 10,000 documents per query, so reading all of them is an ERROR with both
-- counts, never a silently partial result ...
IMPORT FOREIGN SCHEMA mixpeek LIMIT TO (big) FROM SERVER mixpeek INTO public;
\set ON_ERROR_STOP 0
SELECT category, count(*) AS documents, round(avg(word_count), 1) AS avg_words
FROM big GROUP BY category ORDER BY category;
\set ON_ERROR_STOP 1
-- ... Counts Mixpeek computes exactly are sent to it instead: one aggregate
-- request for the whole collection, whatever its size.
EXPLAIN (COSTS OFF, VERBOSE)
SELECT category, count(*) AS documents FROM big
WHERE category IN ('news', 'science', 'sports', 'tech') GROUP BY category;
SELECT category, count(*) AS documents FROM big
WHERE category IN ('news', 'science', 'sports', 'tech') GROUP BY category ORDER BY category;
SELECT count(*) AS documents FROM big;
-- An average is not (Mixpeek may add in doubles): a condition that is sent
-- keeps the scan under the limit, pages of 1,000 documents streamed as they
-- arrive.
ALTER FOREIGN TABLE big OPTIONS (ADD page_size '1000');
EXPLAIN (COSTS OFF, VERBOSE)
SELECT category, count(*) FROM big WHERE word_count < 50 GROUP BY category;
SELECT category, count(*) AS documents, round(avg(word_count), 1) AS avg_words
FROM big WHERE word_count < 50 GROUP BY category ORDER BY category;

-- 8. Lineage: the processing steps behind a video frame, then every document
-- derived from the bucket object at the root of its chain.
SELECT step, collection_id, document_id, feature_extractor, created_at
FROM mixpeek_lineage('col_frames', 'doc_frame_003');
SELECT d ->> 'collection_id' AS collection_id, d ->> 'document_id' AS document_id
FROM mixpeek_object_documents('obj_article_001') AS d
ORDER BY 1, 2;

-- 9. Curating from SQL: writes are off unless the table says updatable.
CREATE FOREIGN TABLE reviews (
  document_id text,
  title       text,
  metadata    jsonb
) SERVER mixpeek OPTIONS (collection 'scratch-reviews', updatable 'true');
INSERT INTO reviews (title, metadata) VALUES
  ('Launch recap', '{"status": "draft"}'),
  ('Q3 interview', '{"status": "draft"}');
EXPLAIN (COSTS OFF, VERBOSE)
UPDATE reviews SET metadata = metadata || '{"status": "approved"}'
WHERE title = 'Launch recap';
UPDATE reviews SET metadata = metadata || '{"status": "approved"}'
WHERE title = 'Launch recap';
-- read back from Mixpeek
SELECT title, metadata ->> 'status' AS status FROM reviews ORDER BY title;

-- 10. Search as rows: a retriever as a foreign table (its input given by =),
-- joined with a local table, and the same search as a function.
CREATE FOREIGN TABLE article_search (
  query       text OPTIONS (input 'query'),
  rank        int,
  score       double precision,
  document_id text,
  title       text OPTIONS (field 'metadata.title')
) SERVER mixpeek OPTIONS (retriever 'ret_articles');
EXPLAIN (COSTS OFF, VERBOSE)
SELECT s.rank, s.title, r.reader
FROM article_search s JOIN reading_list r ON r.document_id = s.document_id
WHERE s.query = 'machine learning hospital';
SELECT s.rank, round(s.score::numeric, 3) AS score, s.title, r.reader
FROM article_search s LEFT JOIN reading_list r ON r.document_id = s.document_id
WHERE s.query = 'machine learning hospital'
ORDER BY s.rank LIMIT 5;
SELECT rank, document_id, round(score::numeric, 3) AS score
FROM mixpeek_search('ret_articles', '{"query": "healthcare"}', max_results => 3);
