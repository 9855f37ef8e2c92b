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
#include "json.h"
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

/*
 * A batch in a context of its own, a new child of parent, stored in *cxt.
 * Made after the contexts that hold its requests: when parent goes, its
 * children go youngest first, so the batch's clean-up (tied to *cxt) still
 * finds the requests it stops.  mx_api_batch_drop() deletes *cxt (ending
 * the batch and whatever it still runs) and clears it.
 */
extern MxBatch *mx_api_batch_in(const MxTarget *target, int concurrency,
								MxHttpStats *stats, MemoryContext parent,
								MemoryContext *cxt);
extern void mx_api_batch_drop(MemoryContext *cxt);

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
 * One page of a document list: POST
 * /v1/collections/{collection}/documents/list?limit=N with the given JSON
 * body (written by the caller; see deparse.c on why not with jansson), the
 * limit also put first in the body, and include_total=true (the first
 * page, which reports the total) and offset=N (a page of an API that pages
 * by offset) in the query when asked for.
 */
extern MxHttpRequest *mx_api_list_page(const MxTarget *target,
									   const char *collection, int limit,
									   const char *json_body,
									   bool include_total, int64 offset);

/*
 * The writes, by their kind in mixpeek_stats: POST .../documents (create),
 * PATCH and DELETE .../documents/{document_id}, POST and DELETE
 * .../documents/batch.  document_id is used by PATCH and DELETE of one
 * document only (a NULL one makes the path "{document_id}", for EXPLAIN);
 * body (JSON, or NULL for a DELETE of one) is the caller's and must stay
 * valid until the request is done.
 */
extern MxHttpRequest *mx_api_write(const MxTarget *target, MxRequestKind kind,
								   const char *collection,
								   const char *document_id, char *body);
extern const char *mx_api_write_method(MxRequestKind kind);
extern char *mx_api_write_path(MxRequestKind kind, const char *collection,
							   const char *document_id);

/*
 * POST /v1/retrievers/{retriever}/execute with body {"inputs": <inputs>,
 * "pagination": {"method": "cursor", "limit": N[, "cursor": ...]}};
 * inputs is the JSON text of an object.
 */
extern MxHttpRequest *mx_api_execute_retriever(const MxTarget *target,
											   const char *retriever,
											   const char *inputs,
											   int limit,
											   const char *cursor);
extern char *mx_api_execute_path(const char *retriever);

/*
 * POST /v1/collections/{collection}/documents/aggregate with the given
 * JSON body (a DocumentAggregationRequest written by upper.c).
 */
extern MxHttpRequest *mx_api_aggregate(const MxTarget *target,
									   const char *collection, char *body);
extern char *mx_api_aggregate_path(const char *collection);

/* POST /v1/retrievers/list?limit=100&offset=N, body {} */
extern MxHttpRequest *mx_api_list_retrievers(const MxTarget *target,
											 int offset);

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
 * Text taken from a reply (a batch result's error), for a message: NULL
 * when the reply comes from a host whose replies are not quoted, else
 * with the key masked.
 */
extern char *mx_api_shown_text(MxHttpRequest *req, const char *text);

/*
 * What the API says about a request it refused as invalid (HTTP 400 or
 * 422): the part it names, when it does, and its words (masked), for a
 * caller that can do without that part (fdw.c).  Members are NULL when the
 * reply does not say, or may not be shown (another host's).
 */
typedef struct MxRejection
{
	long		status;
	char	   *field;			/* error.details.field */
	char	   *operator;		/* error.details.operator */
	char	   *words;			/* message and details, one line */
} MxRejection;

/* The rejection of a finished request, or NULL if it was not one. */
extern MxRejection *mx_api_rejection(MxHttpRequest *req);

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
 * Read a finished list request: its documents and pagination (json.h),
 * with the same ERRORs as mx_api_object_result, and an ERROR when
 * "results" is neither an array nor null.  The documents are parsed one
 * by one as mx_api_list_document reads them, so that the next page can be
 * asked for while they are.
 */
extern MxListPage *mx_api_list_result(MxHttpRequest *req);

/*
 * Read a finished aggregate request: its members (json.h), with the same
 * ERRORs as mx_api_object_result.  The usual shape is read without
 * building jsonb (its groups may number 100,000).
 */
extern MxAggAnswer *mx_api_aggregate_result(MxHttpRequest *req);

/*
 * The i-th document of a list page, in CurrentMemoryContext; an ERROR
 * when it is not valid JSON or not an object.
 */
extern JsonbValue *mx_api_list_document(MxHttpRequest *req, MxListPage *page,
										int i);

/*
 * The ERROR for a response that is not what the request expects.  Like the
 * errors of the two functions above, it names the request in its context.
 */
mx_noreturn extern void mx_api_report_unexpected(MxHttpRequest *req,
												 const char *detail);

/*
 * Push an error context that names the request, as the errors above have:
 * for an ERROR about a request raised elsewhere.  An ERROR pops it.
 */
extern void mx_api_enter_request(ErrorContextCallback *errcb,
								 MxHttpRequest *req);

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
