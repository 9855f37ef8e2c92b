-- mixpeek_search() and retriever foreign tables against the bundled mock
\i sql/include/fdw_setup.psql
\set SHOW_CONTEXT errors
CREATE FUNCTION pg_temp.sqlstate_of(q text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE q;
  RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
-- the execute requests the mock received since the last reset
CREATE FUNCTION pg_temp.searches()
RETURNS TABLE (path text, inputs jsonb, page_limit int, has_cursor boolean, identity text, namespace text)
LANGUAGE sql AS $$
  SELECT path, body->'inputs', (body#>>'{pagination,limit}')::int,
         body->'pagination' ? 'cursor', identity, namespace
  FROM pg_temp.mock_requests() WHERE path LIKE '/v1/retrievers/%' $$;

-- the retriever's results in its order: rank, id, score, the whole document
SELECT pg_temp.mock_reset() \gset
SELECT rank, document_id, score, document #>> '{metadata,title}' AS title
FROM mixpeek_search('ret_articles', '{"query": "machine learning hospital"}', 4);
SELECT * FROM pg_temp.searches();

-- by name; filters travel as the "filters" input; default max_results 100
SELECT pg_temp.mock_reset() \gset
SELECT rank, document_id, score
FROM mixpeek_search('article_search', '{"query": "awkward id"}', filters => '{"category": "culture"}');
SELECT * FROM pg_temp.searches();

-- max_results is honoured: 1200 rows in pages of 500, 500 and 200, no page beyond
SELECT pg_temp.mock_reset() \gset
SELECT count(*), min(rank), max(rank), count(DISTINCT document_id)
FROM mixpeek_search('big_search', '{"query": "anything"}', 1200);
SELECT page_limit, has_cursor FROM pg_temp.searches();
-- max_results 0: no rows and no request; fewer results than asked for: one page
SELECT pg_temp.mock_reset() \gset
SELECT count(*) FROM mixpeek_search('big_search', '{"query": "x"}', 0);
SELECT count(*) FROM mixpeek_search('ret_articles', '{"query": "healthcare"}', 1000);
SELECT page_limit, has_cursor FROM pg_temp.searches();

-- bad arguments: clear errors before any request
SELECT pg_temp.mock_reset() \gset
SELECT * FROM mixpeek_search('ret_articles', '["query"]');
SELECT pg_temp.sqlstate_of($$SELECT * FROM mixpeek_search('ret_articles', '"text"')$$);
SELECT pg_temp.sqlstate_of($$SELECT * FROM mixpeek_search('ret_articles', NULL)$$);
SELECT pg_temp.sqlstate_of($$SELECT * FROM mixpeek_search(NULL, '{}')$$);
SELECT pg_temp.sqlstate_of($$SELECT * FROM mixpeek_search('', '{}')$$);
SELECT pg_temp.sqlstate_of($$SELECT * FROM mixpeek_search('ret_articles', '{"query": "x"}', -1)$$);
SELECT pg_temp.sqlstate_of($$SELECT * FROM mixpeek_search('ret_articles', '{"query": "x"}', NULL)$$);
SELECT pg_temp.sqlstate_of($$SELECT * FROM mixpeek_search('ret_articles', '{"query": "x"}', 5, '[1]')$$);
SELECT * FROM mixpeek_search('ret_articles', '{"query": "x", "filters": {}}', 5, '{"category": "tech"}');
SELECT count(*) AS requests FROM pg_temp.searches();
-- what the API refuses: an unknown retriever, a missing input
SELECT pg_temp.sqlstate_of($$SELECT * FROM mixpeek_search('no_such_retriever', '{"query": "x"}')$$);
SELECT pg_temp.sqlstate_of($$SELECT * FROM mixpeek_search('ret_articles', '{}')$$);
-- a reply that says more follow without a cursor, endless empty pages: errors
SELECT pg_temp.sqlstate_of($$SELECT * FROM mixpeek_search('fault-more-no-cursor', '{"query": "id"}', 3)$$);
SELECT pg_temp.sqlstate_of($$SELECT * FROM mixpeek_search('fault-more-no-cursor', '{"query": "id"}', 1000)$$);
SELECT pg_temp.sqlstate_of($$SELECT * FROM mixpeek_search('fault-endless-empty', '{"query": "id"}', 1000)$$);
SELECT count(*) FROM mixpeek_search('fault-more-no-cursor', '{"query": "id"}', 1000);
SELECT count(*) FROM mixpeek_search('fault-endless-empty', '{"query": "id"}');
-- a retriever id reaches the API percent-encoded
SELECT pg_temp.mock_reset() \gset
SELECT pg_temp.sqlstate_of($$SELECT * FROM mixpeek_search('../collections/list', '{"query": "x"}')$$);
SELECT path FROM pg_temp.mock_requests();

-- retriever foreign tables
CREATE SERVER mx_search FOREIGN DATA WRAPPER mixpeek_fdw;
CREATE FOREIGN TABLE article_search (
  query text OPTIONS (input 'query'),
  category text OPTIONS (input 'category', required 'false'),
  rank int,
  score double precision,
  document_id text,
  title text OPTIONS (field 'metadata.title'),
  word_count int
) SERVER mx_search OPTIONS (retriever 'ret_articles');

SELECT pg_temp.mock_reset() \gset
SELECT rank, document_id, score, title, query, category
FROM article_search WHERE query = 'machine learning hospital';
SELECT rank, document_id, category FROM article_search
WHERE query = 'awkward id' AND category = 'Culture';
-- other conditions are checked locally, on what the search returned
SELECT rank, document_id, word_count FROM article_search
WHERE query = 'awkward id' AND word_count > 50 ORDER BY rank;
SELECT * FROM pg_temp.searches();

-- the inputs are required: an error at planning that names them
SELECT * FROM article_search;
SELECT pg_temp.sqlstate_of($$SELECT * FROM article_search WHERE category = 'x'$$);
SELECT pg_temp.sqlstate_of($$SELECT * FROM article_search WHERE query LIKE 'x%'$$);
-- a NULL input matches nothing: no request
SELECT pg_temp.mock_reset() \gset
SELECT count(*) FROM article_search WHERE query = NULL::text;
SELECT count(*) AS requests FROM pg_temp.searches();

-- EXPLAIN VERBOSE shows the request; LIMIT goes as the page size and maximum
EXPLAIN (VERBOSE, COSTS OFF)
SELECT rank, document_id FROM article_search WHERE query = 'awkward id' LIMIT 3;
SELECT pg_temp.mock_reset() \gset
SELECT rank, document_id FROM article_search WHERE query = 'awkward id' LIMIT 3;
SELECT * FROM pg_temp.searches();
-- ORDER BY rank is the retriever's order: no sort, and the LIMIT is sent
EXPLAIN (VERBOSE, COSTS OFF)
SELECT rank, document_id FROM article_search WHERE query = 'awkward id' ORDER BY rank LIMIT 2;
SELECT pg_temp.mock_reset() \gset
SELECT rank, document_id FROM article_search WHERE query = 'awkward id' ORDER BY rank LIMIT 2;
SELECT page_limit FROM pg_temp.searches();
-- other orders are sorted locally, over all the results
EXPLAIN (VERBOSE, COSTS OFF)
SELECT rank, document_id FROM article_search WHERE query = 'awkward id' ORDER BY rank DESC LIMIT 2;
SELECT rank, document_id FROM article_search WHERE query = 'awkward id' ORDER BY rank DESC LIMIT 2;
EXPLAIN (VERBOSE, COSTS OFF)
SELECT rank, document_id FROM article_search WHERE query IN ('awkward id', 'slash') ORDER BY rank LIMIT 2;
-- a join on a result column with a local table
CREATE TEMP TABLE sizes (word_count int, size text);
INSERT INTO sizes VALUES (60, 'medium'), (90, 'long'), (1200, 'very long');
SELECT s.rank, s.document_id, z.size
FROM article_search s JOIN sizes z ON z.word_count = s.word_count
WHERE s.query = 'awkward id healthcare' ORDER BY s.rank;
PREPARE search_by(text) AS SELECT rank, document_id FROM article_search WHERE query = $1 LIMIT 2;
EXPLAIN (VERBOSE, COSTS OFF) EXECUTE search_by('healthcare');
EXECUTE search_by('healthcare');

-- a join: one search per outer row (a nested loop over a parameterized scan)
CREATE TEMP TABLE wanted (q text, label text);
INSERT INTO wanted VALUES ('healthcare', 'health'), ('slash id', 'slash'), ('no match at all', 'none');
EXPLAIN (VERBOSE, COSTS OFF)
SELECT w.label, s.rank, s.document_id FROM wanted w JOIN article_search s ON s.query = w.q;
SELECT pg_temp.mock_reset() \gset
SELECT w.label, s.rank, s.document_id, s.score
FROM wanted w JOIN article_search s ON s.query = w.q ORDER BY 1, 2;
SELECT inputs, page_limit FROM pg_temp.searches() ORDER BY inputs::text;
-- LATERAL with a LIMIT per outer row
SELECT pg_temp.mock_reset() \gset
SELECT w.label, s.rank, s.document_id
FROM wanted w, LATERAL (SELECT * FROM article_search a WHERE a.query = w.q LIMIT 1) s
ORDER BY 1;
SELECT inputs, page_limit FROM pg_temp.searches() ORDER BY inputs::text;

-- = ANY / IN: one search per distinct non-null element, in the array's order
EXPLAIN (VERBOSE, COSTS OFF)
SELECT query, rank, document_id FROM article_search WHERE query IN ('healthcare', 'unicode');
SELECT pg_temp.mock_reset() \gset
SELECT query, rank, document_id FROM article_search
WHERE query IN ('healthcare', 'slash id', NULL, 'healthcare', 'unicode') AND rank <= 2;
SELECT inputs, page_limit FROM pg_temp.searches() ORDER BY inputs::text;
SELECT query, rank, document_id FROM article_search
WHERE query = ANY(ARRAY['healthcare', 'unicode']) AND category = 'culture';
SELECT count(*) FROM article_search WHERE query = ANY(ARRAY[]::text[]);
SELECT count(*) FROM article_search WHERE query = ANY(NULL::text[]);
-- a second = ANY on an input already given is checked locally
SELECT query, rank, document_id FROM article_search
WHERE query = ANY(ARRAY['healthcare', 'unicode']) AND query = ANY(ARRAY['unicode', 'x']);

-- table pages are at most 500 (page_size) and follow the cursor
CREATE FOREIGN TABLE big_search (query text OPTIONS (input 'query'), rank bigint, document_id text)
SERVER mx_search OPTIONS (retriever 'big_search', page_size '400');
SELECT pg_temp.mock_reset() \gset
SELECT count(*), max(rank) FROM (SELECT * FROM big_search WHERE query = 'x' LIMIT 1000) b;
SELECT page_limit, has_cursor FROM pg_temp.searches();

-- options: a table reads a collection or a retriever, not both
CREATE FOREIGN TABLE both_kinds (query text) SERVER mx_search
  OPTIONS (collection 'col_articles', retriever 'ret_articles');
CREATE FOREIGN TABLE bad_required (query text OPTIONS (input 'query', required 'maybe'))
  SERVER mx_search OPTIONS (retriever 'ret_articles');
CREATE FOREIGN TABLE bad_input (query text OPTIONS (input ''))
  SERVER mx_search OPTIONS (retriever 'ret_articles');

-- IMPORT FOREIGN SCHEMA retrievers: a table per retriever, odd names quoted
CREATE SCHEMA search_import;
IMPORT FOREIGN SCHEMA retrievers FROM SERVER mx_search INTO search_import;
SELECT c.relname, ft.ftoptions
FROM pg_foreign_table ft JOIN pg_class c ON c.oid = ft.ftrelid
WHERE c.relnamespace = 'search_import'::regnamespace ORDER BY 1;
SELECT attname, format_type(atttypid, atttypmod), attfdwoptions
FROM pg_attribute WHERE attrelid = 'search_import.article_search'::regclass AND attnum BETWEEN 1 AND 6
ORDER BY attnum;
SELECT rank, document_id FROM search_import."Weird ""Retriever""; drop" WHERE "Odd Input" = 'healthcare';
DROP SCHEMA search_import CASCADE;
CREATE SCHEMA search_import;
IMPORT FOREIGN SCHEMA retrievers LIMIT TO (big_search) FROM SERVER mx_search INTO search_import;
SELECT relname FROM pg_class WHERE relnamespace = 'search_import'::regnamespace;
DROP SCHEMA search_import CASCADE;
