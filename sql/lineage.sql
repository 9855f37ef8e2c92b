-- mixpeek_lineage() and mixpeek_object_documents() against the bundled mock:
-- rows, their order, what reached the mock, and the errors
\i sql/include/fdw_setup.psql
SELECT pg_temp.mock_reset() \gset

-- a flat document's chain, then a nested one's: a row per step from the root
SELECT step, collection_id, document_id, feature_extractor, created_at
FROM mixpeek_lineage('col_frames', 'doc_frame_003');
SELECT step, collection_id, feature_extractor, detail ? 'feature_extractor_id' AS has_detail
FROM mixpeek_lineage('col_articles', 'doc_nested_01');
-- one request each, percent-encoded
SELECT method, path FROM pg_temp.mock_requests();

-- a missing document: no rows; NULLs: no rows and no request
SELECT pg_temp.mock_reset() \gset
SELECT count(*) FROM mixpeek_lineage('col_articles', 'doc_missing');
SELECT count(*) FROM mixpeek_lineage('col_articles', NULL);
SELECT count(*) AS requests FROM pg_temp.mock_requests();

-- an id that is a path: it stays one segment
SELECT pg_temp.mock_reset() \gset
SELECT count(*) FROM mixpeek_lineage('col_articles', 'doc/with/slash');
SELECT path FROM pg_temp.mock_requests();

-- errors: an unknown collection, a key Mixpeek refuses
SELECT count(*) FROM mixpeek_lineage('col_nope', 'doc_flat_01');
\echo :LAST_ERROR_SQLSTATE
SET mixpeek.api_key = 'sk_test_unknown_key';
SELECT count(*) FROM mixpeek_lineage('col_articles', 'doc_flat_01');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM mixpeek_object_documents('obj_article_001');
\echo :LAST_ERROR_SQLSTATE
RESET mixpeek.api_key;

-- every document derived from one bucket object, in all collections or some
SELECT pg_temp.mock_reset() \gset
SELECT d ->> 'collection_id' AS collection_id, d ->> 'document_id' AS document_id
FROM mixpeek_object_documents('obj_article_001') AS d ORDER BY 1, 2;
SELECT d ->> 'collection_id' AS collection_id, d ->> 'document_id' AS document_id
FROM mixpeek_object_documents('obj_article_001', ARRAY['col_frames', NULL, 'col_frames']) AS d
ORDER BY 1, 2;
SELECT path, query FROM pg_temp.mock_requests();
-- an empty list of collections, or no object: no rows, no request
SELECT pg_temp.mock_reset() \gset
SELECT count(*) FROM mixpeek_object_documents('obj_article_001', ARRAY[]::text[]);
SELECT count(*) FROM mixpeek_object_documents(NULL);
SELECT count(*) AS requests FROM pg_temp.mock_requests();
