-- mixpeek_fdw: what is sent to the API (filters, sort, limit, select), and
-- that results never depend on it (mixpeek.pushdown safe = all = off)
\i sql/include/fdw_setup.psql

CREATE SERVER mx_push FOREIGN DATA WRAPPER mixpeek_fdw;
-- text columns in the C collation so that ranges and sorts can be sent
CREATE FOREIGN TABLE push_articles (
  document_id text OPTIONS (indexed 'true') COLLATE "C",
  collection_id text,
  root_object_id text,
  source_type text,
  lineage_path text,
  category text COLLATE "C",
  cluster_id text,
  taxonomy_topics_label text,
  title text OPTIONS (field 'metadata.title') COLLATE "C",
  author text OPTIONS (field 'metadata.author'),
  word_count integer OPTIONS (indexed 'true'),
  big_count bigint OPTIONS (field 'word_count'),
  rating numeric,
  rating_f double precision OPTIONS (field 'rating'),
  cluster_distance double precision,
  published boolean,
  published_at timestamptz,
  issue_date date,
  tags text[],
  -- text columns over fields that hold numbers, booleans, objects
  words_text text OPTIONS (field 'word_count'),
  published_text text OPTIONS (field 'published'),
  metadata_text text OPTIONS (field 'metadata')
) SERVER mx_push OPTIONS (collection 'col_articles');

-- The rules the mock applies to filters: strict for safe (which must send
-- nothing a strict API refuses or narrows), lenient for all (what all adds
-- is exact only there).  A mock without the setting answers 400: ignored.
CREATE FUNCTION pg_temp.mock_semantics(rules text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  TRUNCATE mock_raw;
  EXECUTE format('COPY mock_raw FROM PROGRAM %L (FORMAT csv, QUOTE %L, DELIMITER %L)',
                 format('curl -sS -X POST -d ''{"semantics": "%s"}'' %s/config',
                        rules, current_setting('fdw_test.mock_control')),
                 E'\x01', E'\x02');
END $$;

-- Each clause: rows at a pushdown level and the filters the mock received
-- (or the GETs).
CREATE FUNCTION pg_temp.rows_at(level text, clause text,
                                OUT got text[], OUT sent text)
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_temp.mock_reset();
  PERFORM pg_temp.mock_semantics(CASE WHEN level = 'all' THEN 'lenient' ELSE 'strict' END);
  PERFORM set_config('mixpeek.pushdown', level, true);
  EXECUTE format('SELECT array_agg(t::text ORDER BY t::text) FROM push_articles t WHERE %s',
                 clause) INTO got;
  SELECT string_agg(CASE WHEN r.method = 'GET' THEN 'GET ' || r.path
                         ELSE coalesce((r.body->'filters')::text, 'no filters') END,
                    ' + ')
    INTO sent FROM pg_temp.mock_requests() r;
END $$;

-- Rows at safe and all, whether they equal the rows with pushdown off, what
-- safe sent, and what all sent when it differs ("=" when the same).
CREATE FUNCTION pg_temp.differential(clause text,
                                     OUT nrows int, OUT same boolean, OUT sent text,
                                     OUT same_all boolean, OUT sent_all text)
LANGUAGE plpgsql AS $$
DECLARE
  at_safe record;
  at_all record;
  at_off record;
BEGIN
  SELECT * INTO at_safe FROM pg_temp.rows_at('safe', clause);
  SELECT * INTO at_all FROM pg_temp.rows_at('all', clause);
  SELECT * INTO at_off FROM pg_temp.rows_at('off', clause);
  nrows := coalesce(cardinality(at_safe.got), 0);
  same := at_safe.got IS NOT DISTINCT FROM at_off.got;
  same_all := at_all.got IS NOT DISTINCT FROM at_off.got;
  sent := at_safe.sent;
  sent_all := CASE WHEN at_all.sent IS NOT DISTINCT FROM at_safe.sent THEN '='
                   ELSE at_all.sent END;
END $$;

CREATE TEMP TABLE clauses (n serial, clause text);
INSERT INTO clauses (clause) VALUES
  -- strings: exact case, both shapes of standard columns
  ($$category = 'news'$$),
  ($$category = 'News'$$),
  ($$category <> 'news'$$),
  ($$category IN ('news', 'tech', 'nope')$$),
  ($$category NOT IN ('news', 'Tech')$$),
  ($$category IS NULL$$),
  ($$category IS NOT NULL$$),
  ($$category > 'n'$$),
  ($$category <= 'TECH'$$),
  ($$category LIKE 'n%'$$),
  ($$category LIKE 'S%'$$),
  ($$category LIKE 'news'$$),
  ($$category LIKE '%s'$$),
  ($$title LIKE 'Caf%'$$),
  ($$title >= 'Sports'$$),
  ($$author = 'O''Brien'$$),
  ($$root_object_id = 'obj_article_001'$$),
  ($$root_object_id <> 'obj_article_001'$$),
  ($$root_object_id IN ('obj_article_002', 'obj_article_013')$$),
  ($$lineage_path IS NULL$$),
  ($$lineage_path IS NOT NULL$$),
  ($$lineage_path LIKE 'bkt\_content/%'$$),
  ($$lineage_path LIKE 'bkt_content%'$$),
  ($$source_type = 'bucket' AND category = 'news'$$),
  ($$cluster_id NOT IN ('cl_tech', 'cl_awkward')$$),
  ($$taxonomy_topics_label IS NULL$$),
  -- integers, bigints, numerics (every digit), doubles
  ($$word_count = 1200$$),
  ($$word_count > 100$$),
  ($$word_count <= 0$$),
  ($$word_count <> 800$$),
  ($$word_count IN (0, 10, 1200)$$),
  ($$word_count NOT IN (0, 3000)$$),
  ($$word_count IS NULL$$),
  ($$100 < word_count$$),
  ($$big_count > 450$$),
  ($$big_count <> 450$$),
  ($$rating = 4.123456789012345678$$),
  ($$rating > 4.123456789012345$$),
  ($$rating < 3.5$$),
  ($$rating >= 99.99999999999999999$$),
  ($$rating IN (3.5, 5)$$),
  ($$rating <> 3.5$$),
  ($$rating_f = 4.123456789012345678$$),
  ($$rating_f >= 4.123456789012345$$),
  ($$rating_f <= 100$$),
  ($$rating_f > 4.123456789012345$$),
  ($$rating_f <> 3.5$$),
  ($$rating_f IN (3.5, 5)$$),
  ($$cluster_distance < 0.3$$),
  -- booleans
  ($$published$$),
  ($$NOT published$$),
  ($$published IS NULL$$),
  ($$published IS NOT TRUE$$),
  -- types the API compares otherwise: checked here only
  ($$published_at > '2024-03-01 12:00:00+00'$$),
  ($$issue_date = '2024-04-15'$$),
  ($$tags = '{ai,health}'$$),
  -- text columns show other JSON values as their JSON text
  ($$words_text = '1200'$$),
  ($$words_text IN ('800', '0', 'x')$$),
  ($$words_text <> '1200'$$),
  ($$words_text LIKE '12%'$$),
  ($$published_text = 'true'$$),
  ($$metadata_text = '{"title": null, "author": null}'$$),
  ($$category LIKE 't%'$$),
  -- document ids: GETs
  ($$document_id = 'doc_flat_01'$$),
  ($$document_id = 'nope'$$),
  ($$document_id IN ('..', '.', 'doc/with/slash', 'nope', '..')$$),
  ($$document_id > 'doc_n'$$),
  -- combinations, and clauses that are not sent at all
  ($$category = 'news' AND word_count > 500 AND published$$),
  ($$(category = 'news' OR category = 'tech') AND rating > 1$$),
  ($$category = 'news' OR word_count > 1000 OR root_object_id = 'obj_article_013'$$),
  ($$(category = 'news' AND published) OR (word_count < 50 AND NOT published)$$),
  ($$category = 'news' OR lower(category) = 'tech'$$),
  ($$NOT (category = 'news' OR category IS NULL)$$),
  ($$lower(category) = 'news'$$),
  ($$word_count + 1 > 100$$),
  -- a real is compared as the double it widens to
  ($$cluster_distance < 0.15::real$$),
  ($$cluster_distance <> 0.15::real$$),
  ($$cluster_distance <> ALL (ARRAY[0.15, 0.25]::real[])$$),
  -- NULL elements, empty arrays, escapes, negations
  ($$category <> ALL ('{}')$$),
  ($$category = ANY ('{news,NULL}')$$),
  ($$category NOT IN ('news', NULL)$$),
  ($$document_id = ANY ('{doc_flat_01,NULL,""}')$$),
  ($$document_id IN ('ünïcødé-ид', 'a b')$$),
  ($$document_id LIKE 'doc\_flat%'$$),
  ($$category LIKE 'new\%'$$),
  ($$category ILIKE 'n%'$$),
  ($$published <> true$$),
  ($$NOT (published OR published IS NULL)$$),
  ($$word_count BETWEEN SYMMETRIC 60 AND 20$$),
  -- ids given as names (text compares with name), as from the catalogs
  ($$document_id = 'doc_flat_01'::name$$),
  ($$document_id = ANY (ARRAY['doc_flat_01', '..', NULL]::name[])$$),
  ($$document_id IN (SELECT 'a b'::name)$$),
  -- a text column's match with a float's text is not sent (strict rules)
  ($$words_text = '12.5'$$),
  ($$words_text IN ('800', '1e3')$$),
  -- an AND inside an OR sends the members it can (a wider filter)
  ($$(category = 'news' AND lower(title) = 'x') OR word_count > 2000$$),
  ($$(category = 'news' AND title > 'B') OR (rating > 9 AND author IS NULL)$$);

SELECT n, clause, d.nrows, d.same, d.sent, d.same_all, d.sent_all
FROM clauses, pg_temp.differential(clause) d
ORDER BY n;

-- doubles are sent with every digit, whatever extra_float_digits says
SET extra_float_digits = 0;
SELECT clause, d.nrows, d.same, d.same_all
FROM (VALUES ($$rating_f = 4.123456789012345678$$),
             ($$cluster_distance <= 0.3333333333333333$$)) c (clause),
     pg_temp.differential(clause) d;
RESET extra_float_digits;
-- an id given as a name, in EXPLAIN
EXPLAIN (VERBOSE, COSTS OFF)
SELECT document_id FROM push_articles WHERE document_id = 'doc_flat_01'::name;

-- sort and limit: sent when every condition is, with PostgreSQL's order
SELECT pg_temp.mock_reset() \gset
EXPLAIN (VERBOSE, COSTS OFF)
SELECT document_id, word_count FROM push_articles
WHERE published ORDER BY word_count DESC LIMIT 3;
SELECT document_id, word_count FROM push_articles
WHERE published ORDER BY word_count DESC LIMIT 3;
SELECT method, path, query, body FROM pg_temp.mock_requests();
-- the same rows as a local sort (on a unique column, so without ties)
SELECT document_id FROM push_articles
WHERE published ORDER BY document_id DESC LIMIT 4;
SET mixpeek.pushdown = off;
SELECT document_id FROM push_articles
WHERE published ORDER BY document_id DESC LIMIT 4;
RESET mixpeek.pushdown;

-- ascending: nulls last, like PostgreSQL; title has no "indexed" option,
-- so only "all" sends its sort
EXPLAIN (VERBOSE, COSTS OFF)
SELECT document_id, title FROM push_articles ORDER BY title LIMIT 4;
-- "all" is a keyword in SET: quote it
SET mixpeek.pushdown = 'all';
SELECT pg_temp.mock_reset() \gset
SELECT document_id, title FROM push_articles ORDER BY title LIMIT 4;
SELECT method, query->>'limit' AS limit, body FROM pg_temp.mock_requests();
SELECT document_id, title FROM push_articles ORDER BY title DESC LIMIT 3;
RESET mixpeek.pushdown;
SELECT document_id, title FROM push_articles ORDER BY title DESC LIMIT 3;
-- the setting's values; "on" is "safe"
SET mixpeek.pushdown = on;
SHOW mixpeek.pushdown;
SET mixpeek.pushdown = false;
SHOW mixpeek.pushdown;
SET mixpeek.pushdown = 'sometimes';
RESET mixpeek.pushdown;
SHOW mixpeek.pushdown;
ALTER FOREIGN TABLE push_articles ALTER COLUMN title OPTIONS (ADD indexed 'maybe');

-- LIMIT alone; OFFSET counts
SELECT pg_temp.mock_reset() \gset
SELECT count(*) FROM (SELECT document_id FROM push_articles LIMIT 5) s;
SELECT count(*) FROM (SELECT document_id FROM push_articles LIMIT 2 OFFSET 3) s;
SELECT method, query->>'limit' AS limit FROM pg_temp.mock_requests();

-- not sent: a condition checked locally, a sort the API would do otherwise
EXPLAIN (VERBOSE, COSTS OFF)
SELECT document_id FROM push_articles WHERE lower(category) = 'news'
ORDER BY word_count LIMIT 2;
EXPLAIN (VERBOSE, COSTS OFF)
SELECT document_id FROM push_articles ORDER BY author LIMIT 2;
EXPLAIN (VERBOSE, COSTS OFF)
SELECT document_id FROM push_articles ORDER BY rating LIMIT 2;
EXPLAIN (VERBOSE, COSTS OFF)
SELECT document_id FROM push_articles ORDER BY word_count NULLS FIRST LIMIT 2;
EXPLAIN (VERBOSE, COSTS OFF)
SELECT document_id FROM push_articles ORDER BY category, word_count LIMIT 2;
-- a standard column has two locations: no single field to sort by
EXPLAIN (VERBOSE, COSTS OFF)
SELECT document_id FROM push_articles ORDER BY root_object_id LIMIT 2;

-- bigint and numeric: the API may compare them as doubles, where values
-- that differ tie.  The scan asks for the API's order and one row more than
-- the LIMIT, reads on while rows tie with the LIMIT-th as doubles, and a
-- Sort above it puts them in PostgreSQL's order.
ALTER FOREIGN TABLE push_articles ALTER COLUMN big_count OPTIONS (ADD indexed 'true');
EXPLAIN (VERBOSE, COSTS OFF)
SELECT document_id, big_count FROM push_articles ORDER BY big_count LIMIT 2;
SELECT pg_temp.mock_reset() \gset
-- 0, 10, then 20: one page
SELECT document_id, big_count FROM push_articles ORDER BY big_count LIMIT 2;
-- nulls first, then 3000 twice, then 1200: the tie goes on past the page
SELECT big_count FROM push_articles ORDER BY big_count DESC LIMIT 3;
SELECT method, query->>'limit' AS limit, body->'sort' AS sort FROM pg_temp.mock_requests();
SET mixpeek.pushdown = off;
SELECT document_id, big_count FROM push_articles ORDER BY big_count LIMIT 2;
SELECT big_count FROM push_articles ORDER BY big_count DESC LIMIT 3;
RESET mixpeek.pushdown;
ALTER FOREIGN TABLE push_articles ALTER COLUMN big_count OPTIONS (DROP indexed);
-- rating has no "indexed" option: only "all" sends its sort, which the
-- strict mock refuses; the scan then reads every row for the Sort above
SET mixpeek.pushdown = 'all';
EXPLAIN (VERBOSE, COSTS OFF)
SELECT rating FROM push_articles ORDER BY rating DESC LIMIT 2;
SELECT pg_temp.mock_reset() \gset
SELECT rating FROM push_articles ORDER BY rating DESC LIMIT 2;
SELECT method, query->>'limit' AS limit, body->'sort' AS sort FROM pg_temp.mock_requests();
RESET mixpeek.pushdown;
SELECT rating FROM push_articles ORDER BY rating DESC LIMIT 2;

-- a join needs all the rows: no limit is sent
CREATE TEMP TABLE few (k int);
INSERT INTO few VALUES (1);
EXPLAIN (VERBOSE, COSTS OFF)
SELECT a.document_id FROM push_articles a, few WHERE a.word_count > few.k LIMIT 2;

-- collations: ranges only in "C", equality only when deterministic
CREATE COLLATION mx_ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
EXPLAIN (VERBOSE, COSTS OFF)
SELECT document_id FROM push_articles WHERE author > 'M';
EXPLAIN (VERBOSE, COSTS OFF)
SELECT document_id FROM push_articles WHERE category = 'NEWS' COLLATE mx_ci;
SELECT count(*) FROM push_articles WHERE category = 'NEWS' COLLATE mx_ci;

-- select: only the fields used; everything when the whole row is
SELECT pg_temp.mock_reset() \gset
SELECT count(*) FROM push_articles;
SELECT count(title) FROM push_articles WHERE root_object_id IS NOT NULL;
SELECT count(*) FROM push_articles t WHERE t IS NOT NULL;
SELECT body->'select' AS sel FROM pg_temp.mock_requests();
-- two columns of one field: asked for once
EXPLAIN (VERBOSE, COSTS OFF) SELECT word_count, big_count FROM push_articles;

-- parameters: sent with their values at run time; a NULL sends nothing
SET plan_cache_mode = force_generic_plan;
PREPARE by_category(text, int) AS
  SELECT document_id FROM push_articles WHERE category = $1 AND word_count >= $2
  ORDER BY document_id;
EXPLAIN (VERBOSE, COSTS OFF) EXECUTE by_category('news', 0);
SELECT pg_temp.mock_reset() \gset
EXECUTE by_category('news', 0);
EXECUTE by_category(NULL, 0);
SELECT method, body->'filters' AS filters FROM pg_temp.mock_requests();
DEALLOCATE by_category;
-- inside an OR, a NULL comparison drops out; an OR of NULLs sends nothing
PREPARE either(text, text) AS
  SELECT document_id FROM push_articles WHERE category = $1 OR category = $2
  ORDER BY document_id;
SELECT pg_temp.mock_reset() \gset
EXECUTE either('tech', NULL);
EXECUTE either(NULL, NULL);
SELECT method, body->'filters' AS filters FROM pg_temp.mock_requests();
DEALLOCATE either;
RESET plan_cache_mode;

DROP SERVER mx_push CASCADE;
DROP COLLATION mx_ci;
