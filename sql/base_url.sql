-- mixpeek.base_url and a server's base_url option: one rule, so both take
-- and refuse the same values, for the same reason
SET client_min_messages = warning;

-- 'accepted', or the detail of the error; nothing the statement did stays
CREATE FUNCTION pg_temp.verdict(statement text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    detail text;
BEGIN
    EXECUTE statement;
    RAISE SQLSTATE 'MXOK0';
EXCEPTION
    WHEN SQLSTATE 'MXOK0' THEN
        RETURN 'accepted';
    WHEN others THEN
        GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
        RETURN detail;
END
$$;

SELECT regexp_replace(url, '[[:cntrl:]]', '?', 'g') AS url,
       v.setting AS verdict, v.setting = v.option AS same
FROM unnest(ARRAY[
    'https://api.mixpeek.com', 'http://127.0.0.1:8000', 'HTTP://Host.Example:8080/',
    'https://api.mixpeek.com/v1/', 'http://a_b.example', 'http://[::1]:8000/x',
    'http://xn--bcher-kva.example', 'http://host/path/@x',
    -- no host
    'http://', 'https://', 'http:///v1', 'http://:80', 'http://[]',
    -- the request path is appended: no query or fragment
    'http://host?', 'http://host/v1?x=1', 'http://host#', 'http://host/#frag',
    -- no user information
    'http://user@host', 'http://u:p@host/', 'http://@host',
    -- ports
    'http://host:', 'http://host:0', 'http://host:65535', 'http://host:65536', 'http://host:x',
    -- schemes
    'ftp://host', 'host', '', 'http:/host', ' http://host', 'file:///etc/passwd',
    -- characters
    'http://ho st', E'http://host\t/', E'http://host\r\nX: 1', 'http://h"st',
    'http://höst.example', 'http://host/{x}', 'http://[::1', 'http://::1',
    'http://host!/'
]) AS url,
LATERAL (SELECT
    pg_temp.verdict(format('SET LOCAL mixpeek.base_url = %L', url)) AS setting,
    pg_temp.verdict(format('CREATE SERVER base_url_probe FOREIGN DATA WRAPPER mixpeek_fdw '
                           'OPTIONS (base_url %L)', url)) AS option) AS v
ORDER BY url COLLATE "C";
