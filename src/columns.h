/*-------------------------------------------------------------------------
 *
 * columns.h
 *		The standard columns of a mixpeek_fdw foreign table: one table for
 *		what a column reads (options.c), what a scan asks for (deparse.c)
 *		and what IMPORT FOREIGN SCHEMA creates (import.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef MIXPEEK_COLUMNS_H
#define MIXPEEK_COLUMNS_H

/* The field that identifies a document, at its root. */
#define MX_DOCUMENT_ID_FIELD "document_id"

/* A json or jsonb column of this name holds the whole document. */
#define MX_WHOLE_DOCUMENT_COLUMN "document"

/*
 * How a location holding an array of document blobs gives a column its
 * value: the presigned_url of its first blob that has one, or those of
 * all of them as a JSON array.  The current document shape keeps a
 * blob's presigned URL on the blob itself (document_blobs[].presigned_url,
 * with the blobs at the root or under _internal); the older flat shape
 * also had them at the root.
 */
typedef enum MxBlobUrls
{
	MX_BLOB_URLS_NONE,			/* the location holds the value itself */
	MX_BLOB_URL_FIRST,
	MX_BLOB_URLS_ALL
} MxBlobUrls;

/*
 * A column that every collection's documents have, whatever their
 * output_schema.  Documents of older collections carry the value at the
 * root (flat); current ones under _internal (nested).  A column reads the
 * flat location first, then the nested one.
 */
typedef struct MxStandardColumn
{
	const char *name;
	const char *sql_type;		/* its type in IMPORT FOREIGN SCHEMA */
	const char *flat;			/* NULL: the whole document */
	const char *nested;			/* NULL: only the flat location */
	bool		needs_vectors;	/* the API sends it with return_vectors */
	bool		needs_url;		/* the API sends it with return_url */
	MxBlobUrls	blob_urls;		/* else read from the document blobs */
} MxStandardColumn;

/* In the order IMPORT FOREIGN SCHEMA creates them; a NULL name ends it. */
extern const MxStandardColumn mx_standard_columns[];

/* The standard column of this name, or NULL. */
extern const MxStandardColumn *mx_standard_column(const char *name);

/* Where the document blobs are: at the root, else under _internal. */
extern const char *const mx_blob_locations[2];

/* The standard column whose flat or nested location is field, or NULL. */
extern const MxStandardColumn *mx_standard_location(const char *field);

#endif							/* MIXPEEK_COLUMNS_H */
