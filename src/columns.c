/*-------------------------------------------------------------------------
 *
 * columns.c
 *		The standard columns of a mixpeek_fdw foreign table.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "columns.h"

#define LINEAGE "_internal.lineage."

const MxStandardColumn mx_standard_columns[] = {
	{MX_DOCUMENT_ID_FIELD, "text", MX_DOCUMENT_ID_FIELD, NULL},
	{"collection_id", "text", "collection_id", NULL},
	{"root_object_id", "text", "root_object_id", LINEAGE "root_object_id"},
	{"root_bucket_id", "text", "root_bucket_id", LINEAGE "root_bucket_id"},
	{"source_type", "text", "source_type", LINEAGE "source_type"},
	{"source_collection_id", "text", "source_collection_id",
	LINEAGE "source_collection_id"},
	{"source_document_id", "text", "source_document_id",
	LINEAGE "source_document_id"},
	{"source_object_id", "text", "source_object_id",
	LINEAGE "source_object_id"},
	{"lineage_path", "text", "lineage_path", LINEAGE "path"},
	{"lineage_chain", "jsonb", "lineage_chain", LINEAGE "chain"},
	{"source_blobs", "jsonb", "source_blobs", "_internal.source_blobs"},
	{"document_blobs", "jsonb", "document_blobs", "_internal.document_blobs",
	false, true},
	{"internal_metadata", "jsonb", "internal_metadata", "_internal.metadata"},
	{"created_at", "timestamptz", "created_at", "_internal.created_at"},
	{"updated_at", "timestamptz", "updated_at", "_internal.updated_at"},
	{"modality", "text", "modality", "_internal.modality"},
	{"mime_type", "text", "mime_type", "_internal.mime_type"},
	{"vector", "real[]", "vector", "_internal.vector", true, false},
	{"presigned_url", "text", "presigned_url", "_internal.presigned_url",
	false, true, MX_BLOB_URL_FIRST},
	{"presigned_urls", "jsonb", "presigned_urls", "_internal.presigned_urls",
	false, true, MX_BLOB_URLS_ALL},
	{MX_WHOLE_DOCUMENT_COLUMN, "jsonb", NULL, NULL},
	{NULL}
};

const char *const mx_blob_locations[2] = {
	"document_blobs", "_internal.document_blobs"
};

const MxStandardColumn *
mx_standard_column(const char *name)
{
	const MxStandardColumn *std;

	for (std = mx_standard_columns; std->name; std++)
	{
		if (strcmp(std->name, name) == 0)
			return std;
	}
	return NULL;
}

const MxStandardColumn *
mx_standard_location(const char *field)
{
	const MxStandardColumn *std;

	for (std = mx_standard_columns; std->name; std++)
	{
		if ((std->flat && strcmp(field, std->flat) == 0) ||
			(std->nested && strcmp(field, std->nested) == 0))
			return std;
	}
	return NULL;
}
