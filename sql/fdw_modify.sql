-- mixpeek_fdw writes: INSERT, UPDATE and DELETE behind the updatable option,
-- RETURNING, read-only columns, batches, and what EXPLAIN VERBOSE shows
\i sql/include/fdw_setup.psql
SELECT pg_temp.mock_reset() \gset
-- the writes the mock received after request number "since" (a reset would
-- also empty the writable collections)
CREATE FUNCTION pg_temp.last_seq() RETURNS int LANGUAGE sql AS $$
  SELECT coalesce(max((r->>'seq')::int), 0)
  FROM jsonb_array_elements(pg_temp.mock('/requests')) r $$;
CREATE FUNCTION pg_temp.writes_since(since int)
RETURNS TABLE (method text, path text, body jsonb) LANGUAGE sql AS $$
  SELECT r->>'method', r->>'path', r->'body'
  FROM jsonb_array_elements(pg_temp.mock('/requests?since=' || since)) r
  WHERE r->>'method' <> 'GET' AND r->>'path' NOT LIKE '%/list'
  ORDER BY (r->>'seq')::int $$;

CREATE SERVER mx_mod FOREIGN DATA WRAPPER mixpeek_fdw;
CREATE FOREIGN TABLE notes (
  document_id text, collection_id text, root_object_id text,
  created_at timestamptz,
  title text, rating numeric, tags text[], meta jsonb, flag boolean,
  subtitle text OPTIONS (field 'metadata.subtitle'),
  document jsonb
) SERVER mx_mod OPTIONS (collection 'scratch-notes');

-- not updatable unless asked for: PostgreSQL's own refusal
INSERT INTO notes (title) VALUES ('a');
\echo :LAST_ERROR_SQLSTATE
UPDATE notes SET title = 'a';
\echo :LAST_ERROR_SQLSTATE
DELETE FROM notes;
\echo :LAST_ERROR_SQLSTATE

-- the option is validated; the table's value overrides the server's
ALTER SERVER mx_mod OPTIONS (ADD updatable 'maybe');
\echo :LAST_ERROR_SQLSTATE
ALTER FOREIGN TABLE notes OPTIONS (ADD batch_size '1001');
\echo :LAST_ERROR_SQLSTATE
ALTER FOREIGN TABLE notes OPTIONS (ADD batch_size '0x10');
\echo :LAST_ERROR_SQLSTATE
ALTER SERVER mx_mod OPTIONS (ADD updatable 'true');
ALTER FOREIGN TABLE notes OPTIONS (ADD updatable 'false');
INSERT INTO notes (title) VALUES ('a');
\echo :LAST_ERROR_SQLSTATE
ALTER FOREIGN TABLE notes OPTIONS (SET updatable 'true');

-- INSERT: one POST per row, only user fields, NULLs left out
SELECT pg_temp.last_seq() AS seq \gset
INSERT INTO notes (title, rating, tags, meta, flag)
VALUES ('first', 4.123456789012345678, ARRAY['x', 'y'], '{"k": [1, 2]}', true);
INSERT INTO notes (title) VALUES ('second');
INSERT INTO notes (title) VALUES ('third');
SELECT * FROM pg_temp.writes_since(:seq);

-- RETURNING reads the document Mixpeek sent back
INSERT INTO notes (title, rating) VALUES ('fourth', 1.5)
RETURNING document_id, collection_id, created_at, title, rating, flag;

-- reads see the writes
SELECT document_id, title, rating, tags, meta, flag FROM notes ORDER BY document_id;

-- read-only columns: lineage and system fields, the whole document, nested fields
INSERT INTO notes (document_id, title) VALUES ('doc_mine', 'x');
\echo :LAST_ERROR_SQLSTATE
INSERT INTO notes (root_object_id) VALUES ('obj_1');
\echo :LAST_ERROR_SQLSTATE
UPDATE notes SET collection_id = 'col_other';
\echo :LAST_ERROR_SQLSTATE
UPDATE notes SET document = '{}';
\echo :LAST_ERROR_SQLSTATE
UPDATE notes SET subtitle = 's';
\echo :LAST_ERROR_SQLSTATE
UPDATE notes SET created_at = now();
\echo :LAST_ERROR_SQLSTATE

-- UPDATE: only the SET columns; one row is one PATCH
SELECT pg_temp.last_seq() AS seq \gset
UPDATE notes SET rating = 2, flag = false WHERE document_id = 'doc_w000002';
SELECT * FROM pg_temp.writes_since(:seq);
SELECT document_id, title, rating, flag FROM notes WHERE document_id = 'doc_w000002';

-- several rows: one batch request; a NULL is sent as null
SELECT pg_temp.last_seq() AS seq \gset
UPDATE notes SET title = upper(title), meta = NULL WHERE title <> 'first';
SELECT * FROM pg_temp.writes_since(:seq);
SELECT document_id, title, meta FROM notes ORDER BY document_id;

-- RETURNING: a PATCH per row, the row from Mixpeek's answer
UPDATE notes SET rating = rating + 1 WHERE document_id IN ('doc_w000001', 'doc_w000004')
RETURNING document_id, title, rating;

-- EXPLAIN VERBOSE shows the requests, as postgres_fdw shows its Remote SQL
EXPLAIN (VERBOSE, COSTS OFF)
UPDATE notes SET title = 'x', flag = true WHERE title = 'first';
EXPLAIN (VERBOSE, COSTS OFF)
UPDATE notes SET title = 'x' WHERE document_id = 'doc_w000001' RETURNING title;
EXPLAIN (VERBOSE, COSTS OFF)
DELETE FROM notes WHERE rating > 3;
EXPLAIN (VERBOSE, COSTS OFF)
INSERT INTO notes (title) VALUES ('x');

-- a join that brings a document twice writes it once
CREATE TEMP TABLE picks (id text, n int);
INSERT INTO picks VALUES ('doc_w000003', 1), ('doc_w000003', 2);
SELECT pg_temp.last_seq() AS seq \gset
UPDATE notes SET rating = p.n FROM picks p WHERE notes.document_id = p.id;
SELECT * FROM pg_temp.writes_since(:seq);

-- a missing document: deleted after the statement read it (fault: 404)
CREATE FOREIGN TABLE gone (document_id text, title text)
  SERVER mx_mod OPTIONS (collection 'writefault-2-1-status-404-gone');
INSERT INTO gone (title) VALUES ('soon gone');
UPDATE gone SET title = 'x';
\echo :LAST_ERROR_SQLSTATE

-- a table without document_id cannot be updated or deleted from
CREATE FOREIGN TABLE noid (title text) SERVER mx_mod OPTIONS (collection 'scratch-notes');
DELETE FROM noid;
\echo :LAST_ERROR_SQLSTATE

-- DELETE: RETURNING shows the row as the statement read it
SELECT pg_temp.last_seq() AS seq \gset
DELETE FROM notes WHERE document_id = 'doc_w000004' RETURNING document_id, title, rating;
-- batch_size documents a request (the rest in one DELETE)
INSERT INTO notes (title) VALUES ('fifth'), ('sixth');
ALTER FOREIGN TABLE notes OPTIONS (ADD batch_size '2');
SELECT pg_temp.last_seq() AS seq \gset
DELETE FROM notes WHERE title <> 'first';
SELECT * FROM pg_temp.writes_since(:seq);
SELECT document_id, title FROM notes;

-- COPY inserts as INSERT does
SELECT pg_temp.last_seq() AS seq \gset
COPY notes (title, rating) FROM stdin;
copied one	1
copied two	\N
\.
-- (rows of a batch are sent concurrently: in any order)
SELECT * FROM pg_temp.writes_since(:seq) ORDER BY body ->> 'title';
DELETE FROM notes WHERE title LIKE 'copied%';

-- remote writes are not transactional: a rollback says what stays written
BEGIN;
INSERT INTO notes (title) VALUES ('kept');
ROLLBACK;
BEGIN;
SAVEPOINT s;
DELETE FROM notes WHERE title = 'kept';
SAVEPOINT t;
ROLLBACK TO SAVEPOINT s;
COMMIT;
SELECT title FROM notes ORDER BY title;

-- a retriever's results are never written, even on an updatable server
CREATE FOREIGN TABLE searched (query text OPTIONS (input 'query'), title text)
  SERVER mx_mod OPTIONS (retriever 'article_search', updatable 'true');
INSERT INTO searched (title) VALUES ('x');
\echo :LAST_ERROR_SQLSTATE
UPDATE searched SET title = 'x' WHERE query = 'y';
\echo :LAST_ERROR_SQLSTATE

DROP FOREIGN TABLE notes, gone, noid, searched;
DROP SERVER mx_mod;
