-- mixpeek_fdw: option validation
\set VERBOSITY default
SET client_min_messages = warning;

-- servers: base_url and namespace
CREATE SERVER opt_ok FOREIGN DATA WRAPPER mixpeek_fdw
  OPTIONS (base_url 'https://api.mixpeek.com', namespace 'production');
CREATE SERVER opt_bad FOREIGN DATA WRAPPER mixpeek_fdw OPTIONS (base_url 'ftp://example.com');
CREATE SERVER opt_bad FOREIGN DATA WRAPPER mixpeek_fdw OPTIONS (base_url 'example.com');
CREATE SERVER opt_bad FOREIGN DATA WRAPPER mixpeek_fdw OPTIONS (base_url 'https://');
CREATE SERVER opt_bad FOREIGN DATA WRAPPER mixpeek_fdw OPTIONS (base_url 'http://a b');
-- request paths are appended to base_url: no query, fragment or user info
CREATE SERVER opt_bad FOREIGN DATA WRAPPER mixpeek_fdw OPTIONS (base_url 'http://10.0.0.1/meta?x=');
CREATE SERVER opt_bad FOREIGN DATA WRAPPER mixpeek_fdw OPTIONS (base_url 'http://10.0.0.1/#');
CREATE SERVER opt_bad FOREIGN DATA WRAPPER mixpeek_fdw OPTIONS (base_url 'http://u:p@api.mixpeek.com');
CREATE SERVER opt_bad FOREIGN DATA WRAPPER mixpeek_fdw OPTIONS (base_url 'http://api.mixpeek.com:99999');
CREATE SERVER opt_bad FOREIGN DATA WRAPPER mixpeek_fdw OPTIONS (namespace ' production');
CREATE SERVER opt_bad FOREIGN DATA WRAPPER mixpeek_fdw OPTIONS (namespace '');
CREATE SERVER opt_bad FOREIGN DATA WRAPPER mixpeek_fdw OPTIONS (namespace E'prod\r\nX-Evil: 1');
CREATE SERVER opt_bad FOREIGN DATA WRAPPER mixpeek_fdw OPTIONS (collection 'col_articles');
CREATE SERVER opt_bad FOREIGN DATA WRAPPER mixpeek_fdw OPTIONS (bogus 'x');
ALTER SERVER opt_ok OPTIONS (SET base_url 'HTTP://127.0.0.1:1/');
ALTER SERVER opt_ok OPTIONS (ADD base_url 'https://other');

-- the key belongs in a user mapping, nowhere else
CREATE SERVER opt_bad FOREIGN DATA WRAPPER mixpeek_fdw OPTIONS (api_key 'sk_test_alpha');
ALTER SERVER opt_ok OPTIONS (ADD api_key 'sk_test_alpha');
CREATE USER MAPPING FOR CURRENT_USER SERVER opt_ok OPTIONS (api_key 'sk_test_alpha');
ALTER USER MAPPING FOR CURRENT_USER SERVER opt_ok OPTIONS (SET api_key '');
-- a key is never shown, not even a malformed one
ALTER USER MAPPING FOR CURRENT_USER SERVER opt_ok OPTIONS (SET api_key E'sk_test_alpha\n');
ALTER USER MAPPING FOR CURRENT_USER SERVER opt_ok OPTIONS (SET api_key 'sk test alpha');
ALTER USER MAPPING FOR CURRENT_USER SERVER opt_ok OPTIONS (SET api_key 'k');
ALTER USER MAPPING FOR CURRENT_USER SERVER opt_ok OPTIONS (ADD namespace 'x');
CREATE USER MAPPING FOR PUBLIC SERVER opt_ok;
ALTER FOREIGN DATA WRAPPER mixpeek_fdw OPTIONS (ADD api_key 'sk_test_alpha');
ALTER FOREIGN DATA WRAPPER mixpeek_fdw OPTIONS (ADD base_url 'https://x');

-- foreign tables: collection (required), namespace, page_size
CREATE FOREIGN TABLE opt_t (document_id text) SERVER opt_ok;
CREATE FOREIGN TABLE opt_t (document_id text) SERVER opt_ok OPTIONS (collection '');
CREATE FOREIGN TABLE opt_t (document_id text) SERVER opt_ok
  OPTIONS (collection 'col_articles', api_key 'sk_test_alpha');
CREATE FOREIGN TABLE opt_t (document_id text) SERVER opt_ok
  OPTIONS (collection 'col_articles', base_url 'https://x');
CREATE FOREIGN TABLE opt_t (document_id text) SERVER opt_ok
  OPTIONS (collection 'col_articles', page_size '0');
CREATE FOREIGN TABLE opt_t (document_id text) SERVER opt_ok
  OPTIONS (collection 'col_articles', page_size '1001');
CREATE FOREIGN TABLE opt_t (document_id text) SERVER opt_ok
  OPTIONS (collection 'col_articles', page_size 'ten');
-- the scan reads decimal digits only, so the validator does too
CREATE FOREIGN TABLE opt_t (document_id text) SERVER opt_ok
  OPTIONS (collection 'col_articles', page_size '0x10');
CREATE FOREIGN TABLE opt_t (document_id text) SERVER opt_ok
  OPTIONS (collection 'col_articles', page_size '1e2');
CREATE FOREIGN TABLE opt_t (document_id text) SERVER opt_ok
  OPTIONS (collection 'col_articles', namespace 'production', page_size '1000');
ALTER FOREIGN TABLE opt_t OPTIONS (DROP collection);
ALTER FOREIGN TABLE opt_t OPTIONS (SET page_size '1');
ALTER FOREIGN TABLE opt_t OPTIONS (ADD collection 'again');

-- columns: field, a non-empty dotted path
ALTER FOREIGN TABLE opt_t ADD COLUMN title text OPTIONS (field 'metadata.title');
ALTER FOREIGN TABLE opt_t ADD COLUMN lineage text OPTIONS (field '_internal.lineage.path');
ALTER FOREIGN TABLE opt_t ADD COLUMN c1 text OPTIONS (field '');
ALTER FOREIGN TABLE opt_t ADD COLUMN c2 text OPTIONS (field '.title');
ALTER FOREIGN TABLE opt_t ADD COLUMN c3 text OPTIONS (field 'metadata.');
ALTER FOREIGN TABLE opt_t ADD COLUMN c4 text OPTIONS (field 'a..b');
ALTER FOREIGN TABLE opt_t ADD COLUMN c5 text OPTIONS (api_key 'sk_test_alpha');
ALTER FOREIGN TABLE opt_t ADD COLUMN c6 text OPTIONS (path 'x');
ALTER FOREIGN TABLE opt_t ALTER COLUMN title OPTIONS (SET field 'metadata.headline');
-- columns: vector, the name of an embedding the scan asks Mixpeek to send
-- (one key); a column reads either its vector or its field
ALTER FOREIGN TABLE opt_t ADD COLUMN emb real[] OPTIONS (vector 'text_extractor_v1_embedding');
ALTER FOREIGN TABLE opt_t ADD COLUMN c7 real[] OPTIONS (vector '');
ALTER FOREIGN TABLE opt_t ADD COLUMN c8 real[] OPTIONS (vector E'a\nb');
ALTER FOREIGN TABLE opt_t ADD COLUMN c9 real[] OPTIONS (vector 'e', field 'e');
ALTER FOREIGN TABLE opt_t ALTER COLUMN emb OPTIONS (ADD field 'metadata.e');
ALTER FOREIGN TABLE opt_t ALTER COLUMN title OPTIONS (ADD vector 'e');

SELECT srvname, srvoptions FROM pg_foreign_server WHERE srvname = 'opt_ok';
SELECT ftoptions FROM pg_foreign_table WHERE ftrelid = 'opt_t'::regclass;
SELECT attname, attfdwoptions FROM pg_attribute
WHERE attrelid = 'opt_t'::regclass AND attnum > 0 ORDER BY attnum;

DROP SERVER opt_ok CASCADE;
