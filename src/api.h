/*-------------------------------------------------------------------------
 *
 * api.h
 *		The Mixpeek calls we make: request building (URLs with every path
 *		segment percent-encoded, JSON bodies) and reading responses into
 *		jsonb, with each failure mapped to its SQLSTATE (README, "Errors").
 *
 *-------------------------------------------------------------------------
 */
#ifndef MIXPEEK_API_H
#define MIXPEEK_API_H

#include "compat.h"
#include "http.h"
#include "utils/jsonb.h"

/*
 * Where requests go and with which credentials.  A target owns copies of
 * its strings: a setting's value is freed by the next SET of it, while a
 * cursor declared before goes on sending requests.
 */
typedef struct MxTarget
{
	const char *base_url;		/* without trailing slash */
	const char *api_key;		/* never NULL once resolved */
	const char *namespace;		/* NULL or "" when unset */
	Oid			userid;			/* whose requests, in mixpeek_stats */
	Oid			serverid;		/* InvalidOid: the settings' target */
} MxTarget;

/* A target with copies of the three strings (namespace may be NULL). */
extern MxTarget *mx_api_target(const char *base_url, const char *api_key,
							   const char *namespace,
							   Oid userid, Oid serverid);

/* Open a batch for a target (sets Authorization / X-Namespace headers). */
extern MxBatch *mx_api_batch(const MxTarget *target, int concurrency,
							 MxHttpStats *stats);

/* GET /v1/collections/{collection}/documents/{document_id} */
extern MxHttpRequest *mx_api_get_document(const MxTarget *target,
										  const char *collection,
										  const char *document_id,
										  bool return_url,
										  bool return_vectors);

/* GET /v1/collections/{collection}/documents/{document_id}/lineage */
extern MxHttpRequest *mx_api_get_lineage(const MxTarget *target,
										 const char *collection,
										 const char *document_id);

/*
 * GET /v1/objects/{object_id}/documents, with collection_ids=... once per
 * collection when collections is not NULL.
 */
extern MxHttpRequest *mx_api_object_documents(const MxTarget *target,
											  const char *object_id,
											  char **collections,
											  int ncollections);

/*
 * POST /v1/collections/{collection}/documents/list?limit=N with the given
 * JSON body (written by the caller; see deparse.c on why not with jansson).
 */
extern MxHttpRequest *mx_api_list_documents(const MxTarget *target,
											const char *collection,
											int limit,
											const char *json_body);

/* GET /v1/collections/{collection}: its document_count sizes scans */
extern MxHttpRequest *mx_api_get_collection(const MxTarget *target,
											const char *collection);

/*
 * Send one request on a batch of its own, wait for it, and read its reply
 * with read (mx_api_document_result or mx_api_object_result).
 */
extern Jsonb *mx_api_request_alone(const MxTarget *target, MxHttpRequest *req,
								   Jsonb *(*read) (MxHttpRequest *req));

/* POST /v1/collections/list?limit=100[&cursor=...], body {} */
extern MxHttpRequest *mx_api_list_collections(const MxTarget *target,
											  const char *cursor);

/*
 * POST /v1/collections/list?limit=1, body {}: the cheapest authenticated
 * call, made by mixpeek_check().
 */
extern MxHttpRequest *mx_api_check_request(const MxTarget *target);

/*
 * For a finished request answered with a Mixpeek NotFoundError: the
 * resource it names (details.resource, e.g. "namespace"), else NULL; NULL
 * too when the reply may not be shown (another host's).
 */
extern char *mx_api_error_resource(MxHttpRequest *req);

/*
 * Read a finished GET document request: the document, or NULL when the
 * document does not exist (404 for the document itself).  Any other
 * failure raises its ERROR (README, "Errors").
 */
extern Jsonb *mx_api_document_result(MxHttpRequest *req);

/*
 * Read a finished request expected to return a JSON object (list calls):
 * raises an ERROR for anything but a 2xx with a JSON object.
 */
extern Jsonb *mx_api_object_result(MxHttpRequest *req);

/*
 * The ERROR for a response that is not what the request expects.  Like the
 * errors of the two functions above, it names the request in its context.
 */
mx_noreturn extern void mx_api_report_unexpected(MxHttpRequest *req,
												 const char *detail);

/*
 * Sort ids and drop repeated ones, in place; returns how many are left.
 * Each document is then asked for once, however often it was listed.
 */
extern int	mx_api_distinct_ids(char **ids, int n);

/* Percent-encode one path segment (RFC 3986 unreserved kept as is). */
extern char *mx_api_escape_segment(const char *segment);

/* The "collection/document" path of a request, for messages and EXPLAIN. */
extern char *mx_api_document_path(const char *collection,
								  const char *document_id);
extern char *mx_api_list_path(const char *collection, int limit);

#endif							/* MIXPEEK_API_H */
