/*-------------------------------------------------------------------------
 *
 * api.c
 *		The Mixpeek calls: building requests and reading their results,
 *		with the error mapping of the interface contract.
 *
 * Every path segment taken from user input is percent-encoded, so no id can
 * address another endpoint.  Messages name the method and the path (never
 * the host, which may carry credentials, nor the key) and pass Mixpeek's own
 * error type and message through a filter that masks the key, in case a
 * server echoes it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/builtins.h"
#include "utils/formatting.h"
#include "utils/json.h"
#include "utils/jsonb.h"

#include "api.h"
#include "json.h"
#include "percent.h"

#define MX_SNIPPET_BYTES 200

MxBatch *
mx_api_batch(const MxTarget *target, int concurrency, MxHttpStats *stats)
{
	return mx_batch_create(target->api_key, target->namespace, concurrency,
						   stats);
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
			char *body)
{
	size_t		baselen = strlen(target->base_url);
	char	   *url = psprintf("%s%s", target->base_url, path);

	return mx_http_request_new(method, url, url + baselen, body);
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
	req = new_request(target, "GET", path, NULL);
	pfree(path);
	return req;
}

MxHttpRequest *
mx_api_list_documents(const MxTarget *target, const char *collection,
					  int limit, const char *json_body)
{
	char	   *path = mx_api_list_path(collection, limit);
	MxHttpRequest *req = new_request(target, "POST", path,
									 pstrdup(json_body ? json_body : "{}"));

	pfree(path);
	return req;
}

MxHttpRequest *
mx_api_list_collections(const MxTarget *target, const char *cursor)
{
	char	   *body = pstrdup("{}");

	if (cursor != NULL)
	{
		/* a JSON string literal: the cursor is opaque */
		StringInfoData buf;

		initStringInfo(&buf);
		appendStringInfoString(&buf, "{\"cursor\": ");
		escape_json(&buf, cursor);
		appendStringInfoChar(&buf, '}');
		body = buf.data;
	}
	return new_request(target, "POST", "/v1/collections/list?limit=100", body);
}

/* ---------- reading error bodies ---------- */

typedef struct MxErrorInfo
{
	bool		is_envelope;	/* a Mixpeek or FastAPI error body */
	char	   *type;
	char	   *message;
	char	   *resource;		/* error.details.resource, if any */
} MxErrorInfo;

/* FastAPI's 422: {"detail": [{"loc": [...], "msg": "...", "type": "..."}]} */
static void
read_fastapi_detail(JsonbValue *detail, MxErrorInfo *info)
{
	JsonbContainer *first;
	JsonbValue *v;

	if (detail->type == jbvString)
	{
		info->is_envelope = true;
		info->message = mx_json_string(detail);
		return;
	}
	if (detail->type != jbvBinary || !JsonContainerIsArray(detail->val.binary.data) ||
		JsonContainerSize(detail->val.binary.data) == 0)
		return;
	v = getIthJsonbValueFromContainer(detail->val.binary.data, 0);
	if (v == NULL || v->type != jbvBinary)
		return;
	first = v->val.binary.data;
	info->is_envelope = true;
	info->type = mx_json_string(mx_json_get(first, "type"));
	info->message = mx_json_string(mx_json_get(first, "msg"));
	v = mx_json_get(first, "loc");
	if (v != NULL && v->type == jbvBinary && info->message != NULL)
		info->message = psprintf("%s (at %s)", info->message,
								 JsonbToCString(NULL, v->val.binary.data, -1));
}

static MxErrorInfo
read_error_body(MxHttpRequest *req)
{
	MxErrorInfo info = {0};
	char	   *why;
	Jsonb	   *jb;
	JsonbValue *v;

	jb = mx_json_parse(req->response.data, req->response.len, &why);
	if (jb == NULL || !JB_ROOT_IS_OBJECT(jb))
		return info;
	v = mx_json_get(&jb->root, "error");
	if (v != NULL && v->type == jbvBinary)
	{
		info.is_envelope = true;
		info.type = mx_json_string(mx_json_get(v->val.binary.data, "type"));
		info.message = mx_json_string(mx_json_get(v->val.binary.data, "message"));
		info.resource = mx_json_string(mx_json_get_path(v->val.binary.data,
														"details.resource"));
		return info;
	}
	v = mx_json_get(&jb->root, "detail");
	if (v != NULL)
		read_fastapi_detail(v, &info);
	return info;
}

/*
 * A 404 means "no such document" only when Mixpeek says so: an error body
 * naming another resource (or an HTML page from a wrong base_url) is a
 * configuration problem and must not pass silently as a missing row.
 */
static bool
is_missing_document(MxHttpRequest *req)
{
	MxErrorInfo info = read_error_body(req);

	if (!info.is_envelope)
		return false;
	if (info.resource != NULL)
		return pg_strcasecmp(info.resource, "document") == 0;
	if (info.message != NULL)
	{
		char	   *lower = asc_tolower(info.message, strlen(info.message));

		if (strstr(lower, "collection") != NULL || strstr(lower, "namespace") != NULL)
			return false;
	}
	return true;
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
hint_for_status(long status)
{
	switch (status)
	{
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

/* The start of a body that is not a Mixpeek error, fit for a message. */
static char *
body_snippet(MxHttpRequest *req)
{
	int			len = Min(req->response.len, MX_SNIPPET_BYTES);
	char	   *s = pnstrdup(req->response.data, len);
	char	   *p;

	for (p = s; *p; p++)
		if ((unsigned char) *p < 0x20 || (unsigned char) *p >= 0x7f)
			*p = ' ';
	return s;
}

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

static void
report_http_status(MxHttpRequest *req)
{
	MxErrorInfo info = read_error_body(req);
	const char *hint = hint_for_status(req->status);
	char	   *detail = retries_detail(req);
	char	   *what;

	if (info.is_envelope)
		what = psprintf(" (%s: %s)",
						info.type ? info.type : "unknown error type",
						info.message ? info.message : "no message");
	else
		what = pstrdup("");
	if (!info.is_envelope && req->response.len > 0)
		detail = psprintf("%s%sThe response is not a Mixpeek error: \"%s\".",
						  detail ? detail : "", detail ? " " : "",
						  body_snippet(req));

	ereport(ERROR,
			(errcode(sqlstate_for_status(req->status)),
			 errmsg("Mixpeek returned HTTP %ld%s for %s %s",
					req->status, mx_http_redact(req, what),
					req->method, req->path),
			 detail ? errdetail_internal("%s", mx_http_redact(req, detail)) : 0,
			 hint ? errhint("%s", hint) : 0));
}

void
mx_api_report_failure(MxHttpRequest *req)
{
	switch (req->outcome)
	{
		case MX_HTTP_CONNECT_FAILED:
			ereport(ERROR,
					(errcode(ERRCODE_CONNECTION_FAILURE),
					 errmsg("could not reach Mixpeek for %s %s: %s",
							req->method, req->path,
							mx_http_redact(req, req->curl_error)),
					 (req->retries || req->out_of_time) ?
					 errdetail_internal("%s", retries_detail(req)) : 0));
			break;
		case MX_HTTP_TIMED_OUT:
			ereport(ERROR,
					(errcode(ERRCODE_CONNECTION_FAILURE),
					 errmsg("Mixpeek request %s %s timed out",
							req->method, req->path),
					 errdetail_internal("%s", mx_http_redact(req, req->curl_error)),
					 errhint("Raise mixpeek.timeout_ms or mixpeek.connect_timeout_ms if the service is slow.")));
			break;
		case MX_HTTP_TOO_LARGE:
			if (req->over_total)
				ereport(ERROR,
						(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
						 errmsg("Mixpeek responses held at once exceed mixpeek.max_response_bytes"),
						 errdetail("Failed while receiving the response to %s %s.",
								   req->method, req->path),
						 errhint("Lower mixpeek.max_concurrency, or have a superuser raise mixpeek.max_response_bytes.")));
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_STRING_FORMAT),
					 errmsg("Mixpeek response to %s %s is larger than mixpeek.max_response_bytes",
							req->method, req->path),
					 errhint("A superuser can raise mixpeek.max_response_bytes.")));
			break;
		case MX_HTTP_DONE:
			report_http_status(req);
			break;
		case MX_HTTP_PENDING:
			break;
	}
	elog(ERROR, "Mixpeek request %s %s reported before it finished",
		 req->method, req->path);
}

static void
report_bad_body(MxHttpRequest *req, const char *why)
{
	ereport(ERROR,
			(errcode(ERRCODE_FDW_INVALID_STRING_FORMAT),
			 errmsg("Mixpeek sent an invalid response to %s %s",
					req->method, req->path),
			 errdetail_internal("%s", mx_http_redact(req, why))));
}

Jsonb *
mx_api_object_result(MxHttpRequest *req)
{
	Jsonb	   *jb;
	char	   *why;

	if (req->outcome != MX_HTTP_DONE || req->status < 200 || req->status > 299)
		mx_api_report_failure(req);
	jb = mx_json_parse(req->response.data, req->response.len, &why);
	if (jb == NULL)
		report_bad_body(req, why);
	if (!JB_ROOT_IS_OBJECT(jb))
		report_bad_body(req, "The body is JSON but not an object.");
	return jb;
}

Jsonb *
mx_api_document_result(MxHttpRequest *req)
{
	if (req->outcome == MX_HTTP_DONE && req->status == 404 &&
		is_missing_document(req))
		return NULL;
	return mx_api_object_result(req);
}
