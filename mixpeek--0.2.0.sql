/* mixpeek--0.2.0.sql */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION mixpeek" to load this file. \quit

CREATE FUNCTION mixpeek_document(collection text,
                                 document_id text,
                                 return_url boolean DEFAULT false,
                                 return_vectors boolean DEFAULT false)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'mixpeek_document'
LANGUAGE C STRICT VOLATILE PARALLEL SAFE;

COMMENT ON FUNCTION mixpeek_document(text, text, boolean, boolean) IS
'one Mixpeek document as jsonb, or NULL when it does not exist';

CREATE FUNCTION mixpeek_documents(collection text,
                                  document_ids text[],
                                  return_url boolean DEFAULT false,
                                  return_vectors boolean DEFAULT false)
RETURNS SETOF jsonb
AS 'MODULE_PATHNAME', 'mixpeek_documents'
LANGUAGE C STRICT VOLATILE PARALLEL SAFE ROWS 100;

COMMENT ON FUNCTION mixpeek_documents(text, text[], boolean, boolean) IS
'the Mixpeek documents with the given ids, fetched concurrently; missing ids are skipped';

CREATE FUNCTION mixpeek_fdw_handler()
RETURNS fdw_handler
AS 'MODULE_PATHNAME'
LANGUAGE C STRICT;

CREATE FUNCTION mixpeek_fdw_validator(text[], oid)
RETURNS void
AS 'MODULE_PATHNAME'
LANGUAGE C STRICT;

CREATE FOREIGN DATA WRAPPER mixpeek_fdw
  HANDLER mixpeek_fdw_handler
  VALIDATOR mixpeek_fdw_validator;
