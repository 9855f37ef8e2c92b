-- mixpeek_fdw: aggregates sent to POST .../documents/aggregate, and those
-- that are not (the rows are PostgreSQL's either way)
\i sql/include/fdw_setup.psql
-- the test clusters run with it off, for the tests that count a scan's requests
SET mixpeek.aggregate_pushdown = on;

CREATE SERVER mx_agg FOREIGN DATA WRAPPER mixpeek_fdw;
CREATE FOREIGN TABLE agg_articles (
  document_id text, collection_id text,
  category text,
  word_count integer,
  title text OPTIONS (field 'metadata.title') COLLATE "C",
  rating numeric,
  published boolean,
  created_at timestamptz
) SERVER mx_agg OPTIONS (collection 'col_articles');
-- every document of col_big has a category and a word_count: declared
CREATE FOREIGN TABLE agg_big (
  category text NOT NULL,
  word_count integer NOT NULL,
  cluster_id text,
  cluster text OPTIONS (field 'cluster_id') COLLATE "C" NOT NULL
) SERVER mx_agg OPTIONS (collection 'col_big');

-- without GROUP BY: grouped by collection_id, which every document has
EXPLAIN (VERBOSE, COSTS OFF) SELECT count(*) FROM agg_articles;
SELECT pg_temp.mock_reset();
SELECT count(*) FROM agg_articles;
SELECT method, path, body FROM pg_temp.mock_requests();

-- GROUP BY a NOT NULL column
EXPLAIN (VERBOSE, COSTS OFF)
SELECT category, count(*), min(word_count), max(word_count) FROM agg_big
GROUP BY category ORDER BY category;
SELECT category, count(*), min(word_count), max(word_count) FROM agg_big
GROUP BY category ORDER BY category;

-- GROUP BY alone (the request asks for a count, which is not shown)
EXPLAIN (VERBOSE, COSTS OFF)
SELECT category FROM agg_big GROUP BY category ORDER BY category;
SELECT category FROM agg_big GROUP BY category ORDER BY category;

-- expressions over aggregates and group keys are computed from the answer
EXPLAIN (VERBOSE, COSTS OFF)
SELECT upper(category), count(*) * 2, max(word_count) - min(word_count) FROM agg_big
GROUP BY category ORDER BY 1;
SELECT upper(category), count(*) * 2, max(word_count) - min(word_count) FROM agg_big
GROUP BY category ORDER BY 1;

-- ORDER BY one key (integers, booleans, text in the C collation) or one
-- aggregate, and LIMIT without OFFSET, go with the grouping
EXPLAIN (VERBOSE, COSTS OFF)
SELECT cluster, count(*) FROM agg_big WHERE word_count < 300
GROUP BY cluster ORDER BY cluster DESC LIMIT 3;
SELECT cluster, count(*) FROM agg_big WHERE word_count < 300
GROUP BY cluster ORDER BY cluster DESC LIMIT 3;
EXPLAIN (VERBOSE, COSTS OFF)
SELECT word_count, count(*) FROM agg_big WHERE category = 'tech'
GROUP BY word_count ORDER BY count(*) DESC, word_count LIMIT 3;
EXPLAIN (VERBOSE, COSTS OFF)
SELECT count(*) FROM (SELECT category FROM agg_big GROUP BY category LIMIT 2) s;
-- HAVING without GROUP BY: one group even for no document, so not sent
EXPLAIN (VERBOSE, COSTS OFF)
SELECT count(*) FROM agg_big WHERE cluster = 'cl_3' HAVING count(*) <> 2000;
SELECT count(*) FROM agg_big WHERE cluster = 'cl_3' HAVING count(*) <> 2000;
-- an OFFSET stays local, above the sorted groups
EXPLAIN (VERBOSE, COSTS OFF)
SELECT word_count FROM agg_big GROUP BY word_count ORDER BY word_count LIMIT 2 OFFSET 1;
SELECT word_count FROM agg_big GROUP BY word_count ORDER BY word_count LIMIT 2 OFFSET 1;

-- columns with exact conditions: count(DISTINCT), min/max, HAVING
EXPLAIN (VERBOSE, COSTS OFF)
SELECT category, count(*), count(DISTINCT word_count), min(word_count), max(word_count)
FROM agg_articles WHERE category IN ('news', 'tech', 'science', 'culture') AND word_count >= 0
GROUP BY category HAVING count(*) >= 2 ORDER BY category;
SELECT category, count(*), count(DISTINCT word_count), min(word_count), max(word_count)
FROM agg_articles WHERE category IN ('news', 'tech', 'science', 'culture') AND word_count >= 0
GROUP BY category HAVING count(*) >= 2 ORDER BY category;
SET mixpeek.aggregate_pushdown = off;
SELECT category, count(*), count(DISTINCT word_count), min(word_count), max(word_count)
FROM agg_articles WHERE category IN ('news', 'tech', 'science', 'culture') AND word_count >= 0
GROUP BY category HAVING count(*) >= 2 ORDER BY category;
SET mixpeek.aggregate_pushdown = on;

-- an exact condition: a column it compares is never null in what is counted
EXPLAIN (VERBOSE, COSTS OFF)
SELECT word_count, count(*) FROM agg_articles WHERE word_count = 1200 GROUP BY word_count;
SELECT word_count, count(*) FROM agg_articles WHERE word_count = 1200 GROUP BY word_count;

-- no document: one row without GROUP BY, none with it
SELECT count(*), min(word_count), count(DISTINCT category) FROM agg_articles
WHERE category = 'none' AND word_count > 0;
SELECT category, count(*) FROM agg_articles WHERE category = 'none' GROUP BY category;

-- a nullable group key: a second request, side by side, groups the
-- documents without it (the null group, which Mixpeek leaves out of every
-- group of the first)
EXPLAIN (VERBOSE, COSTS OFF)
SELECT cluster_id, count(*) FROM agg_big GROUP BY cluster_id;
-- not sent: date_trunc outside a UTC session, a sum of numeric, a condition
-- checked locally, an id lookup; the scan is the same as without aggregates
EXPLAIN (VERBOSE, COSTS OFF)
SELECT date_trunc('month', created_at), count(*) FROM agg_articles GROUP BY 1;
EXPLAIN (VERBOSE, COSTS OFF)
SELECT category, sum(word_count::numeric) FROM agg_big GROUP BY category;
EXPLAIN (VERBOSE, COSTS OFF)
SELECT count(*) FROM agg_articles WHERE rating > 4;
EXPLAIN (VERBOSE, COSTS OFF)
SELECT count(*) FROM agg_articles WHERE document_id = 'doc_flat_01';
SELECT word_count, count(*) FROM agg_articles GROUP BY word_count ORDER BY 1 NULLS FIRST;
SELECT count(*) FROM agg_articles WHERE rating > 4;

-- min/max of text only under the C collation (the API compares bytes)
EXPLAIN (VERBOSE, COSTS OFF)
SELECT count(*), min(category) FROM agg_articles WHERE category = 'News';
EXPLAIN (VERBOSE, COSTS OFF)
SELECT min(title), max(title) FROM agg_articles WHERE title = 'AI in Healthcare';
SELECT min(title), max(title) FROM agg_articles WHERE title = 'AI in Healthcare';

-- a prepared statement: the parameter goes in the filters
PREPARE agg_cat(text) AS SELECT count(*), count(DISTINCT category) FROM agg_articles
WHERE category = $1;
EXPLAIN (VERBOSE, COSTS OFF) EXECUTE agg_cat('News');
EXECUTE agg_cat('News');
EXECUTE agg_cat('Tutorials');
DEALLOCATE agg_cat;

-- off with mixpeek.pushdown = off too
SET mixpeek.pushdown = off;
EXPLAIN (VERBOSE, COSTS OFF) SELECT count(*) FROM agg_articles;
RESET mixpeek.pushdown;

-- a refused aggregate request is an ERROR (the scan would need the
-- aggregation the plan left out)
CREATE FOREIGN TABLE agg_refused (category text NOT NULL) SERVER mx_agg
  OPTIONS (collection 'faultpage-1-status-400');
SELECT category, count(*) FROM agg_refused GROUP BY category;
\echo :LAST_ERROR_SQLSTATE

-- sum and avg: of integers with the group's count, min and max (exact, or
-- an ERROR), of doubles as PostgreSQL adds them in a scan; date_trunc groups
-- while the time zone is UTC
SET TimeZone = 'UTC';
CREATE FOREIGN TABLE agg_sums (
  category text NOT NULL,
  word_count integer NOT NULL,
  words smallint OPTIONS (field 'word_count') NOT NULL,
  published boolean NOT NULL,
  views bigint NOT NULL,
  huge bigint NOT NULL,
  rating float8 NOT NULL,
  published_at timestamptz NOT NULL,
  missing integer OPTIONS (field 'metadata.missing')
) SERVER mx_agg OPTIONS (collection 'col_big');
EXPLAIN (VERBOSE, COSTS OFF)
SELECT category, sum(word_count), avg(word_count), sum(views), avg(views), sum(rating), avg(rating)
FROM agg_sums WHERE word_count < 10 GROUP BY category ORDER BY category;
SELECT category, sum(word_count), avg(word_count), sum(views), avg(views), sum(rating), avg(rating)
FROM agg_sums WHERE word_count < 10 GROUP BY category ORDER BY category;
SET mixpeek.aggregate_pushdown = off;
SELECT category, sum(word_count), avg(word_count), sum(views), avg(views), sum(rating), avg(rating)
FROM agg_sums WHERE word_count < 10 GROUP BY category ORDER BY category;
SET mixpeek.aggregate_pushdown = on;
-- PostgreSQL's types: sum(int2/int4) bigint, sum(int8) and avg numeric
SELECT pg_typeof(sum(words)), pg_typeof(sum(word_count)), pg_typeof(sum(views)),
  pg_typeof(avg(words)), pg_typeof(avg(views)), pg_typeof(avg(rating)),
  sum(words), avg(words), avg(views)
FROM agg_sums WHERE word_count = 1;
-- no number: null, though Mixpeek's sum of none is 0
SELECT count(*), sum(word_count), avg(views), sum(rating), avg(rating)
FROM agg_sums WHERE category = 'none';
EXPLAIN (VERBOSE, COSTS OFF)
SELECT category, sum(missing), count(*) FROM agg_sums WHERE word_count = 3 GROUP BY category;
SELECT category, sum(missing), count(*) FROM agg_sums WHERE word_count = 3 GROUP BY category;
-- 34 values near 2^47 add up exactly in doubles; 100 may not: an ERROR
SELECT sum(huge), avg(huge) FROM agg_sums WHERE word_count = 5 AND NOT published;
SELECT sum(huge) FROM agg_sums WHERE word_count = 5;
\echo :LAST_ERROR_SQLSTATE
SET mixpeek.aggregate_pushdown = off;
SELECT sum(huge) FROM agg_sums WHERE word_count = 5;
SET mixpeek.aggregate_pushdown = on;

-- date_trunc of a timestamptz column as a group key
EXPLAIN (VERBOSE, COSTS OFF)
SELECT date_trunc('month', published_at), count(*), sum(word_count) FROM agg_sums
WHERE category = 'tech' GROUP BY 1 ORDER BY 1 LIMIT 4;
SELECT date_trunc('month', published_at), count(*), sum(word_count) FROM agg_sums
WHERE category = 'tech' GROUP BY 1 ORDER BY 1 LIMIT 4;
SELECT date_trunc('SECOND', published_at) AS s, date_trunc('hour', published_at) AS h, count(*)
FROM agg_sums WHERE word_count = 7 AND published GROUP BY 1, 2 ORDER BY 1 LIMIT 3;

-- not sent: another time zone, week, HAVING on a sum (an ORDER BY of one stays
-- local), avg of a nullable column
SET TimeZone = 'America/New_York';
EXPLAIN (VERBOSE, COSTS OFF)
SELECT date_trunc('day', published_at), count(*) FROM agg_sums WHERE word_count = 1 GROUP BY 1;
SET TimeZone = 'UTC';
EXPLAIN (VERBOSE, COSTS OFF)
SELECT date_trunc('week', published_at), count(*) FROM agg_sums WHERE word_count = 1 GROUP BY 1;
EXPLAIN (VERBOSE, COSTS OFF)
SELECT category, sum(word_count) FROM agg_sums GROUP BY 1 HAVING sum(word_count) > 100;
EXPLAIN (VERBOSE, COSTS OFF)
SELECT category, sum(word_count) FROM agg_sums GROUP BY 1 ORDER BY 2 DESC LIMIT 1;
EXPLAIN (VERBOSE, COSTS OFF)
SELECT category, avg(missing) FROM agg_sums GROUP BY 1;

-- a plan made in UTC runs in no other time zone
PREPARE agg_years AS
SELECT date_trunc('year', published_at), count(*) FROM agg_sums GROUP BY 1 ORDER BY 1;
EXECUTE agg_years;
SET TimeZone = 'America/New_York';
EXECUTE agg_years;
\echo :LAST_ERROR_SQLSTATE
SET TimeZone = 'Etc/UTC';
EXECUTE agg_years;
DEALLOCATE agg_years;
RESET TimeZone;

-- a standard column with two locations (at the root in older documents,
-- under _internal in current ones) is grouped in one request per location,
-- the documents split by whether the flat field holds a value; a group key
-- that may be null takes one more request, for the documents with
-- neither.  The answers are merged by group key; ORDER BY and LIMIT stay
-- local.  count(DISTINCT) of a column that may be null groups on it and
-- counts the groups.
CREATE FOREIGN TABLE agg_lineage (
  category text, word_count integer, root_object_id text, source_type text
) SERVER mx_agg OPTIONS (collection 'col_articles');
CREATE FOREIGN TABLE agg_big_lineage (
  word_count integer NOT NULL, source_type text
) SERVER mx_agg OPTIONS (collection 'col_big');
EXPLAIN (VERBOSE, COSTS OFF)
SELECT count(DISTINCT root_object_id) FROM agg_lineage;
SELECT pg_temp.mock_reset();
SELECT count(DISTINCT root_object_id) FROM agg_lineage;
SELECT method, path, body FROM pg_temp.mock_requests() ORDER BY body::text;
EXPLAIN (VERBOSE, COSTS OFF)
SELECT source_type, count(*), max(word_count) FROM agg_big_lineage
WHERE word_count < 10 GROUP BY source_type ORDER BY source_type LIMIT 2;
SELECT source_type, count(*), max(word_count) FROM agg_big_lineage
WHERE word_count < 10 GROUP BY source_type ORDER BY source_type LIMIT 2;
EXPLAIN (VERBOSE, COSTS OFF)
SELECT count(DISTINCT category) FROM agg_lineage WHERE word_count > 1000;
SELECT count(DISTINCT category) FROM agg_lineage WHERE word_count > 1000;
SELECT category, count(DISTINCT root_object_id) FROM agg_lineage
WHERE category IN ('news', 'tech', 'science') GROUP BY 1 ORDER BY 1;
SET mixpeek.aggregate_pushdown = off;
SELECT count(DISTINCT root_object_id) FROM agg_lineage;
SELECT source_type, count(*), max(word_count) FROM agg_big_lineage
WHERE word_count < 10 GROUP BY source_type ORDER BY source_type LIMIT 2;
SELECT count(DISTINCT category) FROM agg_lineage WHERE word_count > 1000;
SELECT category, count(DISTINCT root_object_id) FROM agg_lineage
WHERE category IN ('news', 'tech', 'science') GROUP BY 1 ORDER BY 1;
SET mixpeek.aggregate_pushdown = on;
-- date_trunc of a timestamptz groups only in a UTC session (Mixpeek
-- truncates in UTC); the test sessions run in PST8PDT
SET TimeZone = 'UTC';
EXPLAIN (VERBOSE, COSTS OFF)
SELECT date_trunc('month', created_at), count(*) FROM agg_articles
WHERE category IN ('news', 'tech') GROUP BY 1 ORDER BY 1;
SELECT date_trunc('month', created_at), count(*) FROM agg_articles
WHERE category IN ('news', 'tech') GROUP BY 1 ORDER BY 1;
SET mixpeek.aggregate_pushdown = off;
SELECT date_trunc('month', created_at), count(*) FROM agg_articles
WHERE category IN ('news', 'tech') GROUP BY 1 ORDER BY 1;
SET mixpeek.aggregate_pushdown = on;
RESET TimeZone;
-- HAVING on merged groups is checked by the scan (Filter), not sent
EXPLAIN (VERBOSE, COSTS OFF)
SELECT source_type, count(*) FROM agg_lineage GROUP BY 1 HAVING count(*) > 1;
SELECT source_type, count(*) FROM agg_lineage GROUP BY 1 HAVING count(*) > 1;
SELECT source_type, count(*) FROM agg_lineage GROUP BY 1 HAVING count(*) > 100;
-- not sent: two columns with two locations (nothing promises that their
-- flat fields are present in the same documents)
EXPLAIN (VERBOSE, COSTS OFF)
SELECT source_type, count(DISTINCT root_object_id) FROM agg_lineage GROUP BY 1;

-- sums and averages over a column with two locations: integers merged from
-- each answer's sum, count, min and max; doubles are not split
CREATE FOREIGN TABLE agg_big_split (
  word_count integer NOT NULL, views bigint NOT NULL, rating float8 NOT NULL,
  source_type text
) SERVER mx_agg OPTIONS (collection 'col_big');
EXPLAIN (VERBOSE, COSTS OFF)
SELECT source_type, sum(word_count), avg(views) FROM agg_big_split
WHERE word_count < 3 GROUP BY 1 ORDER BY 1;
SELECT source_type, sum(word_count), avg(views) FROM agg_big_split
WHERE word_count < 3 GROUP BY 1 ORDER BY 1;
SET mixpeek.aggregate_pushdown = off;
SELECT source_type, sum(word_count), avg(views) FROM agg_big_split
WHERE word_count < 3 GROUP BY 1 ORDER BY 1;
SET mixpeek.aggregate_pushdown = on;
EXPLAIN (VERBOSE, COSTS OFF)
SELECT source_type, sum(rating) FROM agg_big_split GROUP BY 1;

-- avg of a double that may be null: the number of values is rint(sum / avg)
-- of Mixpeek's sum and avg (weight is missing where word_count < 10, 0 where
-- word_count < 20, null in every 7th document)
CREATE FOREIGN TABLE agg_weights (
  word_count integer NOT NULL, weight float8
) SERVER mx_agg OPTIONS (collection 'col_big');
EXPLAIN (VERBOSE, COSTS OFF)
SELECT word_count, count(*), avg(weight), sum(weight) FROM agg_weights
WHERE word_count IN (5, 15, 25) GROUP BY 1 ORDER BY 1;
SELECT pg_temp.mock_reset();
SELECT word_count, count(*), avg(weight), sum(weight) FROM agg_weights
WHERE word_count IN (5, 15, 25) GROUP BY 1 ORDER BY 1;
SELECT method, path, body FROM pg_temp.mock_requests() ORDER BY body::text;
SET mixpeek.aggregate_pushdown = off;
SELECT word_count, count(*), avg(weight), sum(weight) FROM agg_weights
WHERE word_count IN (5, 15, 25) GROUP BY 1 ORDER BY 1;
SET mixpeek.aggregate_pushdown = on;

-- the workload's report: a key and a double that may be null, in two
-- requests (documents with a category, and those without); col_articles has
-- documents without category, rating or both
CREATE FOREIGN TABLE agg_ratings (category text, rating float8)
SERVER mx_agg OPTIONS (collection 'col_articles');
EXPLAIN (VERBOSE, COSTS OFF)
SELECT category, count(*), avg(rating) FROM agg_ratings GROUP BY 1 ORDER BY 1;
SELECT category, count(*), avg(rating) FROM agg_ratings GROUP BY 1 ORDER BY 1;
SET mixpeek.aggregate_pushdown = off;
SELECT category, count(*), avg(rating) FROM agg_ratings GROUP BY 1 ORDER BY 1;
SET mixpeek.aggregate_pushdown = on;

DROP SERVER mx_agg CASCADE;
