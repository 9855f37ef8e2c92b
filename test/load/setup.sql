-- test/load.sh: the functions its pgbench scripts call.  Each makes one kind
-- of request, checks every row it gets back against what the mock serves
-- (col_big document i has document_id doc_<i, 6 digits>, word_count i % 1000
-- and metadata.title 'Document <i>'), and deals with failures:
--   * a wrong row raises SQLSTATE MX001, and an undocumented SQLSTATE (or the
--     wrong documented one for an injected fault) raises MX002: both abort the
--     pgbench client, and load.sh fails;
--   * a failure with a documented SQLSTATE (README, "Errors") is caught, and
--     logged as "mxload failure <kind> <sqlstate> <expected|unexpected>" so
--     that load.sh can count them; "expected" means an injected fault.
-- The EXCEPTION blocks also put every call in a subtransaction, so the
-- extension's abort clean-up runs on every failure under load.
CREATE EXTENSION IF NOT EXISTS mixpeek;

CREATE OR REPLACE FUNCTION mxload_failed(kind text, state text, msg text,
                                         expected_state text DEFAULT NULL)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  IF state NOT IN ('22023', '28000', '42501', '42704', '53400', 'HV000',
                   '08006', '57014', 'HV00A') THEN
    RAISE EXCEPTION 'mxload: % failed with undocumented SQLSTATE %: %', kind, state, msg
      USING ERRCODE = 'MX002';
  END IF;
  IF expected_state IS NOT NULL AND state <> expected_state THEN
    RAISE EXCEPTION 'mxload: % failed with SQLSTATE %, expected %: %', kind, state, expected_state, msg
      USING ERRCODE = 'MX002';
  END IF;
  RAISE LOG 'mxload failure % % %', kind, state,
    CASE WHEN expected_state IS NULL THEN 'unexpected' ELSE 'expected' END;
END $$;

CREATE OR REPLACE FUNCTION mxload_check(kind text, d jsonb, i int) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  IF d IS NULL
     OR d->>'document_id' IS DISTINCT FROM 'doc_' || lpad(i::text, 6, '0')
     OR d->>'collection_id' IS DISTINCT FROM 'col_big'
     OR (d->>'word_count')::int IS DISTINCT FROM i % 1000
     OR d #>> '{metadata,title}' IS DISTINCT FROM 'Document ' || i THEN
    RAISE EXCEPTION 'mxload: % returned a wrong row for document %: %', kind, i,
      left(coalesce(d::text, 'NULL'), 300) USING ERRCODE = 'MX001';
  END IF;
END $$;

-- mixpeek_document() on an existing document
CREATE OR REPLACE FUNCTION mxload_one(i int) RETURNS void LANGUAGE plpgsql AS $$
DECLARE d jsonb;
BEGIN
  BEGIN
    d := mixpeek_document('col_big', 'doc_' || lpad(i::text, 6, '0'));
  EXCEPTION WHEN OTHERS THEN
    PERFORM mxload_failed('one', SQLSTATE, SQLERRM);
    RETURN;
  END;
  PERFORM mxload_check('one', d, i);
END $$;

-- mixpeek_documents() on n ids (i, i+7, ...) plus one that does not exist
CREATE OR REPLACE FUNCTION mxload_many(i int, n int) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  ids text[];
  docs jsonb[];
  d jsonb;
  k int;
BEGIN
  SELECT array_agg('doc_' || lpad(((i + 7 * g) % 100000)::text, 6, '0'))
    INTO ids FROM generate_series(0, n - 1) g;
  BEGIN
    SELECT array_agg(x) INTO docs
      FROM mixpeek_documents('col_big', ids || ARRAY['no_such_doc']) x;
  EXCEPTION WHEN OTHERS THEN
    PERFORM mxload_failed('many', SQLSTATE, SQLERRM);
    RETURN;
  END;
  IF coalesce(array_length(docs, 1), 0) <> n THEN
    RAISE EXCEPTION 'mxload: many returned % rows for % ids', coalesce(array_length(docs, 1), 0), n
      USING ERRCODE = 'MX001';
  END IF;
  FOREACH d IN ARRAY docs LOOP
    k := substr(d->>'document_id', 5)::int;
    IF NOT (d->>'document_id' = ANY (ids)) THEN
      RAISE EXCEPTION 'mxload: many returned document % not asked for', d->>'document_id'
        USING ERRCODE = 'MX001';
    END IF;
    PERFORM mxload_check('many', d, k);
  END LOOP;
END $$;

-- a document that does not exist: NULL, not an error
CREATE OR REPLACE FUNCTION mxload_missing(r int) RETURNS void LANGUAGE plpgsql AS $$
DECLARE d jsonb;
BEGIN
  BEGIN
    d := mixpeek_document('col_big', 'missing_' || r);
  EXCEPTION WHEN OTHERS THEN
    PERFORM mxload_failed('missing', SQLSTATE, SQLERRM);
    RETURN;
  END;
  IF d IS NOT NULL THEN
    RAISE EXCEPTION 'mxload: missing_% returned a row', r USING ERRCODE = 'MX001';
  END IF;
END $$;

-- an injected fault (test/mock/mixpeek-mock.js, col_faults), with the
-- SQLSTATE README's error table promises; flaky ones succeed on a retry
CREATE OR REPLACE FUNCTION mxload_fault(f int, token text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  specs text[] := ARRAY['status-500', 'status-503', 'status-429', 'status-400',
                        'status-403', 'status-404-collection', 'invalid-json',
                        'non-object', 'truncated', 'reset', 'deep-600',
                        'invalid-utf8', 'nul-escape', 'html', 'empty',
                        'flaky-503-1-', 'flaky-429-1-', 'flaky-502-2-',
                        'status-404'];
  states text[] := ARRAY['HV000', 'HV000', '53400', '22023',
                         '42501', '42704', 'HV00A',
                         'HV00A', '08006', '08006', 'HV00A',
                         'HV00A', 'HV00A', 'HV00A', 'HV00A',
                         NULL, NULL, NULL,
                         NULL];
  k int := 1 + f % array_length(specs, 1);
  spec text := specs[k];
  d jsonb;
BEGIN
  IF spec LIKE 'flaky-%' THEN
    spec := spec || token;
  END IF;
  BEGIN
    d := mixpeek_document('col_faults', spec);
  EXCEPTION WHEN OTHERS THEN
    PERFORM mxload_failed('fault ' || specs[k], SQLSTATE, SQLERRM,
                          coalesce(states[k], 'none'));
    RETURN;
  END;
  IF states[k] IS NOT NULL THEN
    RAISE EXCEPTION 'mxload: fault % succeeded', spec USING ERRCODE = 'MX001';
  END IF;
  IF spec = 'status-404' THEN
    IF d IS NOT NULL THEN
      RAISE EXCEPTION 'mxload: status-404 returned a row' USING ERRCODE = 'MX001';
    END IF;
  ELSIF d->>'document_id' IS DISTINCT FROM spec OR d->>'ok' IS DISTINCT FROM 'true' THEN
    RAISE EXCEPTION 'mxload: % returned %', spec, left(coalesce(d::text, 'NULL'), 300)
      USING ERRCODE = 'MX001';
  END IF;
END $$;

-- Foreign tables for the FDW scripts: col_big through GETs and list scans,
-- and collections whose list fails on a later page (faultpage-<k>-<spec>
-- serves col_articles, 20 documents, with page k answered by the fault).
DROP SERVER IF EXISTS mxload CASCADE;
CREATE SERVER mxload FOREIGN DATA WRAPPER mixpeek_fdw
  OPTIONS (base_url :'mock_url');
CREATE USER MAPPING FOR CURRENT_USER SERVER mxload OPTIONS (api_key 'sk_test_alpha');
CREATE FOREIGN TABLE mxload_big (
  document_id text, word_count bigint, cluster_id text, category text,
  title text OPTIONS (field 'metadata.title'), created_at timestamptz, document jsonb
) SERVER mxload OPTIONS (collection 'col_big');
CREATE TABLE mxload_page_faults (k int PRIMARY KEY, spec text, state text);
INSERT INTO mxload_page_faults VALUES
  (0, 'faultpage-2-status-500', 'HV000'),
  (1, 'faultpage-3-invalid-json', 'HV00A'),
  (2, 'faultpage-2-status-400', '22023'),
  (3, 'faultpage-2-non-object', 'HV00A'),
  (4, 'faultpage-3-reset', '08006'),
  (5, 'faultpage-2-deep-600', 'HV00A'),
  (6, 'faultpage-2-status-403', '42501'),
  (7, 'faultpage-3-invalid-utf8', 'HV00A');
DO $$
DECLARE r record;
BEGIN
  FOR r IN SELECT * FROM mxload_page_faults LOOP
    EXECUTE format('CREATE FOREIGN TABLE mxload_fault_%s (document_id text, document jsonb)
                    SERVER mxload OPTIONS (collection %L, page_size ''5'')', r.k, r.spec);
  END LOOP;
END $$;

-- a document_id = value scan: one GET
CREATE OR REPLACE FUNCTION mxload_fdw_get(i int) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  id text := 'doc_' || lpad(i::text, 6, '0');
  r record;
  n int := 0;
BEGIN
  BEGIN
    FOR r IN SELECT * FROM mxload_big WHERE document_id = id LOOP
      n := n + 1;
      IF r.word_count IS DISTINCT FROM i % 1000 OR r.title IS DISTINCT FROM 'Document ' || i
         OR r.cluster_id IS DISTINCT FROM 'cl_' || (i % 50) THEN
        RAISE EXCEPTION 'mxload: fdw_get returned a wrong row for %: %', id, row_to_json(r)
          USING ERRCODE = 'MX001';
      END IF;
      PERFORM mxload_check('fdw_get', r.document, i);
    END LOOP;
  EXCEPTION WHEN OTHERS THEN
    IF SQLSTATE = 'MX001' THEN RAISE; END IF;
    PERFORM mxload_failed('fdw_get', SQLSTATE, SQLERRM);
    RETURN;
  END;
  IF n <> 1 THEN
    RAISE EXCEPTION 'mxload: fdw_get returned % rows for %', n, id USING ERRCODE = 'MX001';
  END IF;
END $$;

-- document_id = ANY(array): concurrent GETs, one id missing
CREATE OR REPLACE FUNCTION mxload_fdw_any(i int, n int) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  ids text[];
  got int := 0;
  r record;
BEGIN
  SELECT array_agg('doc_' || lpad(((i + 13 * g) % 100000)::text, 6, '0'))
    INTO ids FROM generate_series(0, n - 1) g;
  BEGIN
    FOR r IN SELECT * FROM mxload_big WHERE document_id = ANY (ids || 'doc_missing'::text) LOOP
      got := got + 1;
      IF NOT (r.document_id = ANY (ids)) THEN
        RAISE EXCEPTION 'mxload: fdw_any returned % not asked for', r.document_id USING ERRCODE = 'MX001';
      END IF;
      PERFORM mxload_check('fdw_any', r.document, substr(r.document_id, 5)::int);
    END LOOP;
  EXCEPTION WHEN OTHERS THEN
    IF SQLSTATE = 'MX001' THEN RAISE; END IF;
    PERFORM mxload_failed('fdw_any', SQLSTATE, SQLERRM);
    RETURN;
  END;
  IF got <> n THEN
    RAISE EXCEPTION 'mxload: fdw_any returned % rows for % ids', got, n USING ERRCODE = 'MX001';
  END IF;
END $$;

-- a list scan with filters, sort and limit pushed down (a sort on text is
-- sent only in the C collation); the rows must be exactly the ones the same
-- conditions select from the generated data
CREATE OR REPLACE FUNCTION mxload_fdw_list(k int, w int) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  got text[];
  want text[];
BEGIN
  BEGIN
    SELECT array_agg(document_id ORDER BY document_id) INTO got FROM (
      SELECT document_id FROM mxload_big
       WHERE cluster_id = 'cl_' || k AND word_count < w
       ORDER BY document_id COLLATE "C" LIMIT 5) s;
  EXCEPTION WHEN OTHERS THEN
    PERFORM mxload_failed('fdw_list', SQLSTATE, SQLERRM);
    RETURN;
  END;
  -- document i has cluster cl_<i % 50> and word_count i % 1000: with
  -- i = 1000 a + b, that is b % 50 = k and b < w
  SELECT array_agg(id ORDER BY id) INTO want FROM (
    SELECT 'doc_' || lpad((1000 * a + b)::text, 6, '0') AS id
      FROM generate_series(0, 99) a, generate_series(k, least(w, 1000) - 1, 50) b
     ORDER BY 1 LIMIT 5) s;
  IF got IS DISTINCT FROM want THEN
    RAISE EXCEPTION 'mxload: fdw_list(%, %) returned %, expected %', k, w, got, want
      USING ERRCODE = 'MX001';
  END IF;
END $$;

-- a list scan whose later page fails
CREATE OR REPLACE FUNCTION mxload_fdw_fault(f int) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  pf mxload_page_faults;
  n bigint;
BEGIN
  SELECT * INTO pf FROM mxload_page_faults WHERE k = f % 8;
  BEGIN
    EXECUTE format('SELECT count(*) FROM mxload_fault_%s', pf.k) INTO n;
  EXCEPTION WHEN OTHERS THEN
    PERFORM mxload_failed('fdw_fault ' || pf.spec, SQLSTATE, SQLERRM, pf.state);
    RETURN;
  END;
  RAISE EXCEPTION 'mxload: % returned % rows instead of failing', pf.spec, n USING ERRCODE = 'MX001';
END $$;
