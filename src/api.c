/*-------------------------------------------------------------------------
 *
 * api.c
 *		The Mixpeek calls: building requests and reading their results,
 *		with each failure mapped to its SQLSTATE (README, "Errors").
 *
 * Every path segment taken from user input is percent-encoded, so no id can
 * address another endpoint.  Errors name the method and the path in their
 * context (never the host nor the key), and messages pass Mixpeek's own
 * error type and message through a filter that masks the key, in case a
 * server echoes it.  Nothing of a reply from a host outside the allow-list
 * (settings.h) is shown: such a host may be an internal service that a
 * superuser's server points at, not Mixpeek.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/formatting.h"
#include "utils/json.h"
#include "utils/memutils.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#include "api.h"
#include "control.h"
#include "json.h"
#include "mixpeek_limits.h"
#include "percent.h"
#include "settings.h"

StaticAssertDecl(10 * ((MX_SNIPPET_WINDOW - MX_MAX_KEY_BYTES) / MX_MAX_KEY_BYTES) > MX_SNIPPET_BYTES,
				 "a key cut by the snippet window could reach the snippet");

MxTarget *
mx_api_target(const char *base_url, const char *api_key, const char *namespace,
			  Oid userid, Oid serverid)
{
	MxTarget   *target = palloc(sizeof(MxTarget));

	target->userid = userid;
	target->serverid = serverid;
	target->base_url = pstrdup(base_url);
	target->api_key = pstrdup(api_key);
	target->namespace = namespace ? pstrdup(namespace) : NULL;
	return target;
}

MxBatch *
mx_api_batch(const MxTarget *target, int concurrency, MxHttpStats *stats)
{
	return mx_batch_create(target->api_key, target->namespace,
						   target->userid, target->serverid, concurrency,
						   stats);
}

MxBatch *
mx_api_batch_in(const MxTarget *target, int concurrency, MxHttpStats *stats,
				MemoryContext parent, MemoryContext *cxt)
{
	MemoryContext old;
	MxBatch    *batch;

	*cxt = AllocSetContextCreate(parent, "mixpeek batch", ALLOCSET_SMALL_SIZES);
	old = MemoryContextSwitchTo(*cxt);
	batch = mx_api_batch(target, concurrency, stats);
	MemoryContextSwitchTo(old);
	return batch;
}

void
mx_api_batch_drop(MemoryContext *cxt)
{
	if (*cxt != NULL)
		MemoryContextDelete(*cxt);	/* its callback ends the batch */
	*cxt = NULL;
}

char *
mx_api_escape_segment(const char *segment)
{
	size_t		len = strlen(segment);
	char	   *out = palloc(MX_PERCENT_ENCODED_SIZE(len));

	mx_percent_encode_segment(segment, len, out);
	return out;
}

static void
check_segment(const char *what, const char *value)
{
	if (value[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("Mixpeek %s must not be empty", what)));
}

char *
mx_api_document_path(const char *collection, const char *document_id)
{
	char	   *coll;
	char	   *id;
	char	   *path;

	check_segment("collection", collection);
	check_segment("document id", document_id);
	coll = mx_api_escape_segment(collection);
	id = mx_api_escape_segment(document_id);
	path = psprintf("/v1/collections/%s/documents/%s", coll, id);
	/* a batch builds one path per id in a long-lived context: leave no litter */
	pfree(coll);
	pfree(id);
	return path;
}

char *
mx_api_list_path(const char *collection, int limit)
{
	check_segment("collection", collection);
	return psprintf("/v1/collections/%s/documents/list?limit=%d",
					mx_api_escape_segment(collection), limit);
}

/* URL and path in one allocation: path points into url. */
static MxHttpRequest *
new_request(const MxTarget *target, const char *method, const char *path,
			char *body, MxRequestKind kind)
{
	size_t		baselen = strlen(target->base_url);
	char	   *url = psprintf("%s%s", target->base_url, path);

	return mx_http_request_new(method, url, url + baselen, body, kind);
}

MxHttpRequest *
mx_api_get_document(const MxTarget *target, const char *collection,
					const char *document_id, bool return_url,
					bool return_vectors)
{
	char	   *path = mx_api_document_path(collection, document_id);
	const char *query = "";
	MxHttpRequest *req;

	if (return_url && return_vectors)
		query = "?return_url=true&return_presigned_urls=true&return_vectors=true";
	else if (return_url)
		query = "?return_url=true&return_presigned_urls=true";
	else if (return_vectors)
		query = "?return_vectors=true";
	if (query[0] != '\0')
	{
		char	   *plain = path;

		path = psprintf("%s%s", plain, query);
		pfree(plain);
	}
	req = new_request(target, "GET", path, NULL, MX_REQ_GET_DOCUMENT);
	pfree(path);
	return req;
}

MxHttpRequest *
mx_api_get_lineage(const MxTarget *target, const char *collection,
				   const char *document_id)
{
	char	   *document = mx_api_document_path(collection, document_id);
	char	   *path = psprintf("%s/lineage", document);
	MxHttpRequest *req = new_request(target, "GET", path, NULL,
									 MX_REQ_GET_LINEAGE);

	pfree(document);
	pfree(path);
	return req;
}

MxHttpRequest *
mx_api_object_documents(const MxTarget *target, const char *object_id,
						char **collections, int ncollections)
{
	StringInfoData path;
	MxHttpRequest *req;
	int			i;

	check_segment("object id", object_id);
	initStringInfo(&path);
	appendStringInfo(&path, "/v1/objects/%s/documents",
					 mx_api_escape_segment(object_id));
	/* an array query parameter: FastAPI reads the key repeated */
	for (i = 0; collections != NULL && i < ncollections; i++)
	{
		check_segment("collection", collections[i]);
		appendStringInfo(&path, "%ccollection_ids=%s", i == 0 ? '?' : '&',
						 mx_api_escape_segment(collections[i]));
	}
	req = new_request(target, "GET", path.data, NULL,
					  MX_REQ_OBJECT_DOCUMENTS);
	pfree(path.data);
	return req;
}

/*
 * GET /v1/collections/{collection}: the collection, with its
 * document_count.
 */
MxHttpRequest *
mx_api_get_collection(const MxTarget *target, const char *collection)
{
	char	   *coll;
	char	   *path;
	MxHttpRequest *req;

	check_segment("collection", collection);
	coll = mx_api_escape_segment(collection);
	path = psprintf("/v1/collections/%s", coll);
	req = new_request(target, "GET", path, NULL, MX_REQ_GET_COLLECTION);
	pfree(coll);
	pfree(path);
	return req;
}

/*
 * Send one request on a batch of its own, wait for it, and read its reply
 * with read (mx_api_document_result or mx_api_object_result) while the
 * batch still holds the key that masks what the reply may echo.
 */
Jsonb *
mx_api_request_alone(const MxTarget *target, MxHttpRequest *req,
					 Jsonb *(*read) (MxHttpRequest *req))
{
	MxBatch    *batch = mx_api_batch(target, 1, NULL);
	Jsonb	   *reply;

	mx_batch_add(batch, req);
	reply = read(mx_batch_next(batch));
	mx_batch_destroy(batch);
	return reply;
}

/*
 * A list body with the page size as its first member: the API reads the
 * limit from the query, some deployments from the body, so it goes in both.
 * json_body is the compact text of a JSON object (mx_list_body's), or NULL.
 */
static char *
list_body_with_limit(const char *json_body, int limit)
{
	const char *rest = json_body ? json_body + 1 : "}";

	Assert(json_body == NULL || json_body[0] == '{');
	return psprintf("{\"limit\":%d%s%s",
					limit, rest[0] == '}' ? "" : ",", rest);
}

/* ---------- writes ---------- */

/* Each write's verb and where it goes below /v1/collections/{collection}. */
typedef struct MxWriteCall
{
	MxRequestKind kind;
	const char *method;
	const char *suffix;			/* NULL: documents/{document_id} */
} MxWriteCall;

static const MxWriteCall write_calls[] = {
	{MX_REQ_CREATE_DOCUMENT, "POST", "documents"},
	{MX_REQ_UPDATE_DOCUMENT, "PATCH", NULL},
	{MX_REQ_DELETE_DOCUMENT, "DELETE", NULL},
	{MX_REQ_BATCH_UPDATE, "POST", "documents/batch"},
	{MX_REQ_BATCH_DELETE, "DELETE", "documents/batch"},
};

static const MxWriteCall *
write_call(MxRequestKind kind)
{
	int			i;

	for (i = 0; i < lengthof(write_calls); i++)
	{
		if (write_calls[i].kind == kind)
			return &write_calls[i];
	}
	elog(ERROR, "request kind %d is not a write", (int) kind);
	return NULL;				/* keep the compiler quiet */
}

const char *
mx_api_write_method(MxRequestKind kind)
{
	return write_call(kind)->method;
}

char *
mx_api_write_path(MxRequestKind kind, const char *collection,
				  const char *document_id)
{
	const MxWriteCall *call = write_call(kind);

	if (call->suffix == NULL && document_id != NULL)
		return mx_api_document_path(collection, document_id);
	check_segment("collection", collection);
	if (call->suffix == NULL)	/* EXPLAIN: one request per document */
		return psprintf("/v1/collections/%s/documents/{document_id}",
						mx_api_escape_segment(collection));
	return psprintf("/v1/collections/%s/%s",
					mx_api_escape_segment(collection), call->suffix);
}

MxHttpRequest *
mx_api_write(const MxTarget *target, MxRequestKind kind,
			 const char *collection, const char *document_id, char *body)
{
	char	   *path = mx_api_write_path(kind, collection, document_id);
	MxHttpRequest *req = new_request(target, mx_api_write_method(kind),
									 path, body, kind);

	pfree(path);
	return req;
}

MxHttpRequest *
mx_api_list_page(const MxTarget *target, const char *collection, int limit,
				 const char *json_body, bool include_total, int64 offset)
{
	char	   *list = mx_api_list_path(collection, limit);
	char	   *path = psprintf("%s%s", list,
								include_total ? "&include_total=true" : "");
	MxHttpRequest *req;

	if (offset > 0)
	{
		char	   *first = path;

		path = psprintf("%s&offset=" INT64_FORMAT, first, offset);
		pfree(first);
	}
	req = new_request(target, "POST", path,
					  list_body_with_limit(json_body, limit),
					  MX_REQ_LIST_DOCUMENTS);
	pfree(list);
	pfree(path);
	return req;
}

char *
mx_api_execute_path(const char *retriever)
{
	check_segment("retriever", retriever);
	return psprintf("/v1/retrievers/%s/execute",
					mx_api_escape_segment(retriever));
}

/*
 * Cursor pagination, never "stream": the reply is then one JSON object.
 * The body is written here with escape_json, as list bodies are (see
 * deparse.c): inputs is already JSON text.
 */
MxHttpRequest *
mx_api_execute_retriever(const MxTarget *target, const char *retriever,
						 const char *inputs, int limit, const char *cursor)
{
	char	   *path = mx_api_execute_path(retriever);
	StringInfoData body;
	MxHttpRequest *req;

	initStringInfo(&body);
	appendStringInfo(&body,
					 "{\"inputs\":%s,\"pagination\":{\"method\":\"cursor\",\"limit\":%d",
					 inputs, limit);
	if (cursor != NULL)
	{
		appendStringInfoString(&body, ",\"cursor\":");
		escape_json(&body, cursor);
	}
	appendStringInfoString(&body, "}}");
	req = new_request(target, "POST", path, body.data,
					  MX_REQ_EXECUTE_RETRIEVER);
	pfree(path);
	return req;
}

char *
mx_api_aggregate_path(const char *collection)
{
	check_segment("collection", collection);
	return psprintf("/v1/collections/%s/documents/aggregate",
					mx_api_escape_segment(collection));
}

MxHttpRequest *
mx_api_aggregate(const MxTarget *target, const char *collection, char *body)
{
	char	   *path = mx_api_aggregate_path(collection);
	MxHttpRequest *req = new_request(target, "POST", path, body,
									 MX_REQ_AGGREGATE_DOCUMENTS);

	pfree(path);
	return req;
}

/* The reply has no cursor (ListRetrieversResponse): pages go by offset. */
MxHttpRequest *
mx_api_list_retrievers(const MxTarget *target, int offset)
{
	char	   *path = psprintf("/v1/retrievers/list?limit=%d&offset=%d",
								MX_IMPORT_PAGE_SIZE, offset);
	MxHttpRequest *req = new_request(target, "POST", path, pstrdup("{}"),
									 MX_REQ_LIST_RETRIEVERS);

	pfree(path);
	return req;
}

MxHttpRequest *
mx_api_list_collections(const MxTarget *target, const char *cursor)
{
	StringInfoData path;
	MxHttpRequest *req;

	initStringInfo(&path);
	appendStringInfo(&path, "/v1/collections/list?limit=%d",
					 MX_IMPORT_PAGE_SIZE);
	/* a query parameter: the body has no cursor, the API would drop one there */
	if (cursor != NULL)
		appendStringInfo(&path, "&cursor=%s", mx_api_escape_segment(cursor));
	req = new_request(target, "POST", path.data, pstrdup("{}"),
					  MX_REQ_LIST_COLLECTIONS);
	pfree(path.data);
	return req;
}

/* Counted as list_collections in mixpeek_stats: that is what it is. */
MxHttpRequest *
mx_api_check_request(const MxTarget *target)
{
	return new_request(target, "POST", "/v1/collections/list?limit=1",
					   pstrdup("{}"), MX_REQ_LIST_COLLECTIONS);
}

static int
compare_ids(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

int
mx_api_distinct_ids(char **ids, int n)
{
	int			kept = 0;
	int			i;

	qsort(ids, n, sizeof(char *), compare_ids);
	for (i = 0; i < n; i++)
	{
		if (kept == 0 || strcmp(ids[kept - 1], ids[i]) != 0)
			ids[kept++] = ids[i];
	}
	return kept;
}

/* ---------- error context ---------- */

/* The request an error is about, as a CONTEXT line: method and path. */
static void
request_context(void *arg)
{
	MxHttpRequest *req = arg;

	errcontext("Mixpeek request %s %s", req->method, req->path);
}

/* While reading a response: enter before, leave after (an ERROR leaves too). */
static void
enter_request(ErrorContextCallback *errcb, MxHttpRequest *req)
{
	errcb->callback = request_context;
	errcb->arg = req;
	errcb->previous = error_context_stack;
	error_context_stack = errcb;
}

static void
leave_request(ErrorContextCallback *errcb)
{
	error_context_stack = errcb->previous;
}

void
mx_api_enter_request(ErrorContextCallback *errcb, MxHttpRequest *req)
{
	enter_request(errcb, req);
}

/* ---------- reading error bodies ---------- */

typedef struct MxErrorInfo
{
	bool		is_envelope;	/* a Mixpeek or FastAPI error body */
	bool		is_mixpeek;		/* Mixpeek's own {"error": {...}} */
	char	   *type;
	char	   *message;
	char	   *resource;		/* error.details.resource, if any */
	bool		has_document_id;	/* error.details.document_id is set */
	char	   *field;			/* error.details.field, if any */
	char	   *operator;		/* error.details.operator, if any */
	char	   *details;		/* the details' lines, for errdetail */
} MxErrorInfo;

static char *printable_prefix(const char *s, int max);

/*
 * A string of the reply (UTF-8) for a message: as it is in a UTF-8
 * database, else its ASCII with "?" for every other byte.
 */
static char *
server_string(const char *utf8)
{
	if (utf8 == NULL)
		return NULL;
	if (GetDatabaseEncoding() == PG_UTF8)
		return pstrdup(utf8);
	return printable_prefix(utf8, strlen(utf8));
}

/* The details' lines as one paragraph, or NULL when there are none. */
static char *
details_text(MxControlError *err)
{
	StringInfoData buf;
	int			i;

	if (err->ndetails == 0)
		return NULL;
	initStringInfo(&buf);
	appendStringInfoString(&buf, "Mixpeek's details:");
	for (i = 0; i < err->ndetails; i++)
		appendStringInfo(&buf, "%s %s", i > 0 ? ";" : "", err->details[i]);
	if (err->more_details > 0)
		appendStringInfo(&buf, "; and %d more", err->more_details);
	appendStringInfoChar(&buf, '.');
	return buf.data;
}

/*
 * The error body as control.c reads it (jansson, malloc), copied into the
 * current memory context and freed at once.  Only an out-of-memory ERROR
 * of palloc in between could leak the malloc'd copy.
 */
static MxErrorInfo
read_error_body(MxHttpRequest *req)
{
	MxErrorInfo info = {0};
	MxControlError err;

	if (mx_control_read_error(req->response.data, req->response.len, &err))
	{
		info.is_envelope = true;
		info.is_mixpeek = err.is_mixpeek;
		info.type = server_string(err.type);
		info.message = server_string(err.message);
		info.resource = server_string(err.resource);
		info.has_document_id = err.has_document_id;
		info.field = server_string(err.field);
		info.operator = server_string(err.operator);
		info.details = details_text(&err);
	}
	mx_control_error_free(&err);
	return info;
}

static bool
mentions(const char *text, const char *word)
{
	return strstr(asc_tolower(text, strlen(text)), word) != NULL;
}

/*
 * A 404 means "no such document" only when Mixpeek's error envelope says
 * so: a NotFoundError about a document (details.resource, details
 * .document_id, or else its message).  FastAPI's {"detail": "Not Found"}
 * for an unknown route (a base_url with a wrong path), an HTML page or an
 * error about another resource is a configuration problem and must not
 * pass silently as a missing row.
 */
static bool
is_missing_document(MxErrorInfo *info)
{
	if (!info->is_mixpeek || info->type == NULL ||
		pg_strcasecmp(info->type, "NotFoundError") != 0)
		return false;
	if (info->resource != NULL)
		return pg_strcasecmp(info->resource, "document") == 0;
	if (info->has_document_id)
		return true;
	return info->message != NULL && mentions(info->message, "document") &&
		!mentions(info->message, "collection") &&
		!mentions(info->message, "namespace");
}

/* Is the reply Mixpeek's NotFoundError about one of its resources? */
static bool
names_resource(MxErrorInfo *info)
{
	if (!info->is_mixpeek || info->type == NULL ||
		pg_strcasecmp(info->type, "NotFoundError") != 0)
		return false;
	if (info->resource != NULL)
		return pg_strcasecmp(info->resource, "route") != 0;
	return info->has_document_id ||
		(info->message != NULL &&
		 (mentions(info->message, "document") ||
		  mentions(info->message, "collection") ||
		  mentions(info->message, "namespace")));
}

static int
sqlstate_for_status(long status)
{
	switch (status)
	{
		case 400:
		case 422:
			return ERRCODE_INVALID_PARAMETER_VALUE;
		case 401:
			return ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION;
		case 403:
			return ERRCODE_INSUFFICIENT_PRIVILEGE;
		case 404:
			return ERRCODE_UNDEFINED_OBJECT;
		case 429:
			return ERRCODE_CONFIGURATION_LIMIT_EXCEEDED;
		default:
			return ERRCODE_FDW_ERROR;
	}
}

static const char *
hint_for_status(long status, MxErrorInfo *info)
{
	switch (status)
	{
		case 404:
			if (names_resource(info))
				return NULL;
			return "The reply names no document, collection or namespace, so the URL is probably wrong: "
				"check the base_url of the foreign server, or mixpeek.base_url.";
		case 401:
			return "Check the API key in mixpeek.api_key or in the user mapping.";
		case 403:
			return "The API key is valid but may not access this namespace or collection.";
		case 429:
			return "Lower mixpeek.max_concurrency or raise mixpeek.max_retries.";
		default:
			return NULL;
	}
}

/*
 * Characters that are valid but would disturb the display of a message: C1
 * controls, zero-width and bidirectional formatting, line and paragraph
 * separators, the byte order mark, noncharacters.
 */
static bool
is_invisible(pg_wchar c)
{
	return (c >= 0x80 && c <= 0x9f) ||
		(c >= 0x200b && c <= 0x200f) ||
		(c >= 0x2028 && c <= 0x202e) ||
		(c >= 0x2060 && c <= 0x206f) ||
		c == 0xfeff ||
		(c >= 0xfdd0 && c <= 0xfdef) ||
		(c & 0xfffe) == 0xfffe;
}

/*
 * Length of the character at c if it is valid UTF-8 that shows as itself in
 * a message of this database, else 0.
 */
static int
printable_char_len(const unsigned char *c, int left)
{
	int			n = pg_utf_mblen(c);

	if (GetDatabaseEncoding() != PG_UTF8 || n > left ||
		!pg_utf8_islegal(c, n) || is_invisible(utf8_to_unicode(c)))
		return 0;
	return n;
}

/*
 * At most max bytes of s, cut at a character boundary, with every byte that
 * does not begin a printable character (printable_char_len) shown as "?".
 */
static char *
printable_prefix(const char *s, int max)
{
	int			len = strlen(s);
	StringInfoData out;
	int			i = 0;

	initStringInfo(&out);
	while (i < len)
	{
		const unsigned char *c = (const unsigned char *) s + i;
		int			n = (*c < 0x80) ? 1 : printable_char_len(c, len - i);

		if (out.len + Max(n, 1) > max)
			break;
		if (n == 0)
			appendStringInfoChar(&out, '?');
		else
			appendBinaryStringInfo(&out, (const char *) c, n);
		i += Max(n, 1);
	}
	return out.data;
}

/*
 * The start of a body that is not a Mixpeek error, fit for a message: one
 * line, the key masked before the cut, so that no key's start shows.
 */
static char *
body_snippet(MxHttpRequest *req)
{
	int			len = Min(req->response.len, MX_SNIPPET_WINDOW);
	char	   *window = palloc(len + 1);
	int			i;

	for (i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) req->response.data[i];

		window[i] = (c < 0x20 || c == 0x7f) ? ' ' : (char) c;
	}
	window[len] = '\0';
	return printable_prefix(mx_http_redact(req, window), MX_SNIPPET_BYTES);
}

/*
 * Whether the request went to an allowed host, so that its reply may be
 * quoted.  The base URL is what precedes the path in the URL (new_request).
 */
static bool
reply_may_be_shown(MxHttpRequest *req)
{
	return mx_host_allowed(pnstrdup(req->url, req->path - req->url));
}

static const char reply_hidden[] =
"The reply is not shown: the host is neither that of mixpeek.base_url nor in mixpeek.allowed_hosts.";

static char *
retries_detail(MxHttpRequest *req)
{
	char	   *gave_up = NULL;

	if (req->retries > 0)
		gave_up = psprintf("Gave up after %d %s.", req->retries,
						   req->retries == 1 ? "retry" : "retries");
	if (!req->out_of_time)
		return gave_up;
	return psprintf("%s%sNo retry: the next one, due in %ld ms, would come after mixpeek.timeout_ms runs out.",
					gave_up ? gave_up : "", gave_up ? " " : "",
					req->retry_in_ms);
}

/* detail, then a space and more (detail may be NULL) */
static char *
append_sentence(char *detail, const char *more)
{
	return psprintf("%s%s%s", detail ? detail : "", detail ? " " : "", more);
}

mx_noreturn static void
report_http_status(MxHttpRequest *req, MxErrorInfo *reply)
{
	MxErrorInfo info = *reply;
	const char *hint = hint_for_status(req->status, &info);
	char	   *detail = retries_detail(req);
	const char *what = "";

	if (!reply_may_be_shown(req))
	{
		if (req->response.len > 0)
			detail = append_sentence(detail, reply_hidden);
	}
	else if (info.is_envelope)
	{
		what = psprintf(" (%s: %s)",
						info.type ? info.type : "unknown error type",
						info.message ? info.message : "no message");
		/* what the API found wrong with the request */
		if (info.details != NULL && (req->status == 400 || req->status == 422))
			detail = append_sentence(detail,
									 printable_prefix(info.details,
													  strlen(info.details)));
	}
	else if (req->response.len > 0)
		detail = append_sentence(detail,
								 psprintf("The response is not a Mixpeek error: \"%s\".",
										  body_snippet(req)));

	ereport(ERROR,
			(errcode(sqlstate_for_status(req->status)),
			 errmsg("Mixpeek returned HTTP %ld%s",
					req->status, mx_http_redact(req, what)),
			 detail ? errdetail_internal("%s", mx_http_redact(req, detail)) : 0,
			 hint ? errhint("%s", hint) : 0));
}

/* The ERROR for a request that failed. */
mx_noreturn static void
report_failure(MxHttpRequest *req)
{
	switch (req->outcome)
	{
		case MX_HTTP_CONNECT_FAILED:
			ereport(ERROR,
					(errcode(ERRCODE_CONNECTION_FAILURE),
					 errmsg("could not reach Mixpeek: %s",
							mx_http_redact(req, req->curl_error)),
					 (req->retries || req->out_of_time) ?
					 errdetail_internal("%s", retries_detail(req)) : 0));
			break;
		case MX_HTTP_TIMED_OUT:
			ereport(ERROR,
					(errcode(ERRCODE_CONNECTION_FAILURE),
					 errmsg("Mixpeek request timed out"),
					 errdetail_internal("%s", mx_http_redact(req, req->curl_error)),
					 errhint("Raise mixpeek.timeout_ms or mixpeek.connect_timeout_ms if the service is slow.")));
			break;
		case MX_HTTP_TOO_LARGE:
			if (req->over_total)
				ereport(ERROR,
						(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
						 errmsg("Mixpeek responses held at once exceed mixpeek.max_response_bytes"),
						 errhint("Lower mixpeek.max_concurrency, or have a superuser raise mixpeek.max_response_bytes.")));
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_STRING_FORMAT),
					 errmsg("Mixpeek response is larger than mixpeek.max_response_bytes"),
					 errhint("A superuser can raise mixpeek.max_response_bytes.")));
			break;
		case MX_HTTP_DONE:
			{
				MxErrorInfo info = read_error_body(req);

				report_http_status(req, &info);
			}
			break;
		case MX_HTTP_PENDING:
			break;
	}
	elog(ERROR, "Mixpeek request reported before it finished");
}

mx_noreturn static void
report_bad_body(MxHttpRequest *req, const char *why)
{
	ereport(ERROR,
			(errcode(ERRCODE_FDW_INVALID_STRING_FORMAT),
			 errmsg("Mixpeek sent an invalid response"),
			 errdetail_internal("%s", reply_may_be_shown(req)
								? mx_http_redact(req, why) : reply_hidden)));
}

void
mx_api_report_unexpected(MxHttpRequest *req, const char *detail)
{
	ErrorContextCallback errcb;

	enter_request(&errcb, req);
	ereport(ERROR,
			(errcode(ERRCODE_FDW_INVALID_STRING_FORMAT),
			 errmsg("unexpected response from Mixpeek"),
			 errdetail_internal("%s", detail)));
}

/* The ERROR of a request that failed or was answered other than 2xx. */
static void
require_success(MxHttpRequest *req)
{
	if (req->outcome != MX_HTTP_DONE || req->status < 200 || req->status > 299)
		report_failure(req);
}

static Jsonb *
object_result(MxHttpRequest *req)
{
	Jsonb	   *jb;
	char	   *why;

	require_success(req);
	jb = mx_json_parse(req->response.data, req->response.len, &why);
	if (jb == NULL)
		report_bad_body(req, why);
	if (!JB_ROOT_IS_OBJECT(jb))
		report_bad_body(req, "The body is JSON but not an object.");
	return jb;
}

/* The documents of a body parsed whole: "results" an array, null or absent. */
static void
whole_list_page(MxHttpRequest *req, MxListPage *page)
{
	Jsonb	   *jb = object_result(req);
	JsonbValue *results = mx_json_get(&jb->root, "results");

	page->pagination = mx_json_get(&jb->root, "pagination");
	if (results == NULL || results->type == jbvNull)
		return;
	if (results->type != jbvBinary ||
		!JsonContainerIsArray(results->val.binary.data))
		mx_api_report_unexpected(req, "\"results\" is not an array.");
	page->results = results->val.binary.data;
	page->nresults = JsonContainerSize(page->results);
}

/*
 * A list page is split, not parsed: its documents' text is found by a scan
 * that does not build them, so that the next page is asked for before the
 * bulk of the work, and parsing each document alone costs the same per
 * byte whatever the page size.  A body of another shape is parsed whole,
 * which reports exactly what is wrong with it.
 */
MxListPage *
mx_api_list_result(MxHttpRequest *req)
{
	ErrorContextCallback errcb;
	MxListPage *page = palloc0(sizeof(MxListPage));

	enter_request(&errcb, req);
	require_success(req);
	if (!mx_json_split_list_page(req->response.data, req->response.len, page))
		whole_list_page(req, page);
	leave_request(&errcb);
	return page;
}

MxAggAnswer *
mx_api_aggregate_result(MxHttpRequest *req)
{
	ErrorContextCallback errcb;
	MxAggAnswer *answer = palloc(sizeof(MxAggAnswer));

	enter_request(&errcb, req);
	require_success(req);
	if (!mx_json_read_aggregate(req->response.data, req->response.len, answer))
		mx_json_aggregate_whole(object_result(req), answer);
	leave_request(&errcb);
	return answer;
}

JsonbValue *
mx_api_list_document(MxHttpRequest *req, MxListPage *page, int i)
{
	JsonbValue *v;

	if (page->results != NULL)
		v = getIthJsonbValueFromContainer(page->results, i);
	else
	{
		char	   *why;
		Jsonb	   *jb = mx_json_parse_element(page->doc_text[i],
											   page->doc_len[i], &why);

		if (jb == NULL)
		{
			ErrorContextCallback errcb;

			enter_request(&errcb, req);
			report_bad_body(req, why);
		}
		v = palloc(sizeof(JsonbValue));
		v->type = jbvBinary;
		v->val.binary.data = &jb->root;
		v->val.binary.len = VARSIZE(jb) - VARHDRSZ;
	}
	if (v->type != jbvBinary || !JsonContainerIsObject(v->val.binary.data))
		mx_api_report_unexpected(req,
								 "An element of \"results\" is not an object.");
	return v;
}

/* A 404 for a missing document is no error; any other 404 raises one. */
static bool
is_missing(MxHttpRequest *req)
{
	MxErrorInfo info;

	if (req->outcome != MX_HTTP_DONE || req->status != 404)
		return false;
	info = read_error_body(req);
	if (!is_missing_document(&info))
		report_http_status(req, &info);
	return true;
}

Jsonb *
mx_api_object_result(MxHttpRequest *req)
{
	ErrorContextCallback errcb;
	Jsonb	   *jb;

	enter_request(&errcb, req);
	jb = object_result(req);
	leave_request(&errcb);
	return jb;
}

Jsonb *
mx_api_document_result(MxHttpRequest *req)
{
	ErrorContextCallback errcb;
	Jsonb	   *jb = NULL;

	enter_request(&errcb, req);
	if (!is_missing(req))
		jb = object_result(req);
	leave_request(&errcb);
	return jb;
}

/*
 * Text of a reply, for a message: masked should it echo the key, and only
 * from a host the reply of which may be quoted at all (NULL otherwise).
 */
char *
mx_api_shown_text(MxHttpRequest *req, const char *text)
{
	if (text == NULL || !reply_may_be_shown(req))
		return NULL;
	return mx_http_redact(req, text);
}

char *
mx_api_error_resource(MxHttpRequest *req)
{
	MxErrorInfo info;

	if (req->outcome != MX_HTTP_DONE || !reply_may_be_shown(req))
		return NULL;
	info = read_error_body(req);
	if (!info.is_mixpeek || info.type == NULL ||
		pg_strcasecmp(info.type, "NotFoundError") != 0)
		return NULL;
	return info.resource;
}

MxRejection *
mx_api_rejection(MxHttpRequest *req)
{
	MxRejection *rej;
	MxErrorInfo info;

	if (req->outcome != MX_HTTP_DONE ||
		(req->status != 400 && req->status != 422))
		return NULL;
	rej = palloc0(sizeof(MxRejection));
	rej->status = req->status;
	if (!reply_may_be_shown(req))
		return rej;
	info = read_error_body(req);
	if (!info.is_envelope)
		return rej;
	rej->field = info.field;
	rej->operator = info.operator;
	rej->words = mx_http_redact(req,
								printable_prefix(psprintf("Mixpeek's message: \"%s\".%s%s",
														  info.message ? info.message : "",
														  info.details ? " " : "",
														  info.details ? info.details : ""),
												 MX_SNIPPET_WINDOW));
	return rej;
}
