/* mixpeek--0.1.0--0.2.0.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION mixpeek UPDATE TO '0.2.0'" to load this file. \quit

-- 0.2.0 adds no objects to 0.1.0's yet; new ones go here and, identically, at the end of mixpeek--0.2.0.sql.
