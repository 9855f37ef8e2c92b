/*-------------------------------------------------------------------------
 *
 * paging.c
 *		From one page of a document list to the next, in either of the
 *		API's two paging styles, and the check that a list that ended
 *		held every document the API reported (paging.h).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/builtins.h"
#include "utils/numeric.h"

#include "api.h"
#include "json.h"
#include "mixpeek_limits.h"
#include "paging.h"

/* A scan's first page is next: nothing received, no total known yet. */
void
mx_paging_start(MxPaging *paging)
{
	paging->total = -1;
	paging->received = 0;
	paging->pages = 0;
	paging->more = false;
	paging->cursor = NULL;
	paging->seen = mx_cursor_set_create();
}

/*
 * An offset counts the documents before a page, and every page read so far
 * came in order: the next page starts after all of them.
 */
int64
mx_paging_offset(const MxPaging *paging)
{
	return paging->received;
}

/*
 * A first page small enough for the first row to come soon, then pages
 * that grow so that a long scan takes few requests: 100,000 documents in
 * about a hundred pages rather than a thousand.  An offset stays right
 * whatever the sizes, as it counts the documents received.
 */
int
mx_paging_next_limit(int limit)
{
	if (limit >= MX_PAGE_SIZE_MAX / MX_PAGE_GROWTH)
		return MX_PAGE_SIZE_MAX;
	return limit * MX_PAGE_GROWTH;
}

/*
 * A count the API reported: a non-negative integer (below 10^18, far past
 * any collection), or -1 when the field is absent or null.  Anything else
 * is not a count, and not guessed at.
 */
static int64
reported_count(MxHttpRequest *req, JsonbContainer *pagination,
			   const char *key)
{
	JsonbValue *v = mx_json_get(pagination, key);
	char	   *digits;

	if (v == NULL || v->type == jbvNull)
		return -1;
	if (v->type == jbvNumeric)
	{
		size_t		len;

		digits = DatumGetCString(DirectFunctionCall1(numeric_out,
													 NumericGetDatum(v->val.numeric)));
		len = strspn(digits, "0123456789");
		/* an integer, written with a fraction of zeros or not ("5.0") */
		if (len >= 1 && len <= 18 &&
			(digits[len] == '\0' ||
			 (digits[len] == '.' && strspn(digits + len + 1, "0") == strlen(digits + len + 1))))
		{
			digits[len] = '\0';
			return strtoi64(digits, NULL, 10);
		}
	}
	mx_api_report_unexpected(req,
							 psprintf("\"pagination.%s\" is not a count of documents.",
									  key));
}

/* has_more: true, false, or absent (-1). */
static int
reported_has_more(MxHttpRequest *req, JsonbContainer *pagination)
{
	JsonbValue *v = mx_json_get(pagination, "has_more");

	if (v == NULL || v->type == jbvNull)
		return -1;
	if (v->type != jbvBool)
		mx_api_report_unexpected(req, "\"pagination.has_more\" is not a boolean.");
	return v->val.boolean ? 1 : 0;
}

static const char incomplete_hint[] =
"Mixpeek lists at most " CppAsString2(MX_LIST_MAX_RESULTS) " documents per query: add conditions that are sent to Mixpeek (EXPLAIN VERBOSE shows them) so that fewer match. "
"If documents were deleted during the scan, run the query again.";

/*
 * The list ended (why) before all of its documents came: a result from
 * which documents are missing is never returned as if it were complete.
 * Without a reported total, only the API's own signs (has_more, an offset
 * past its limit) tell that more remained.
 */
mx_noreturn static void
report_incomplete(MxHttpRequest *req, const MxPaging *paging, const char *why)
{
	ErrorContextCallback errcb;

	mx_api_enter_request(&errcb, req);
	if (paging->total >= 0)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_UNABLE_TO_CREATE_REPLY),
				 errmsg("Mixpeek list ended after " INT64_FORMAT " of " INT64_FORMAT " documents",
						paging->received, paging->total),
				 errdetail("The first page reported " INT64_FORMAT " documents for this query; %s.",
						   paging->total, why),
				 errhint("%s", incomplete_hint)));
	ereport(ERROR,
			(errcode(ERRCODE_FDW_UNABLE_TO_CREATE_REPLY),
			 errmsg("Mixpeek list ended after " INT64_FORMAT " documents, with more to come",
					paging->received),
			 errdetail("The API reported more documents for this query; %s.", why),
			 errhint("%s", incomplete_hint)));
}

/*
 * mx_paging_read_page
 *		mx_paging_read for a page that mx_api_list_result split: a page
 *		that ends the list wrongly may be wrong in its documents too, and
 *		what is wrong with the body comes first, as it would were the page
 *		parsed whole.
 */
void
mx_paging_read_page(MxPaging *paging, MxHttpRequest *req, MxListPage *page)
{
	MemoryContext cxt = CurrentMemoryContext;

	PG_TRY();
	{
		mx_paging_read(paging, req, page->pagination, page->nresults);
	}
	PG_CATCH();
	{
		ErrorData  *edata;
		int			i;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		for (i = 0; i < page->nresults; i++)
			(void) mx_api_list_document(req, page, i);
		ReThrowError(edata);
	}
	PG_END_TRY();
}

/*
 * A cursor is followed whenever there is one; otherwise the next page goes
 * by offset while has_more, or without it the total, says that more
 * remain.  Each way out that leaves documents behind is an ERROR.
 */
void
mx_paging_read(MxPaging *paging, MxHttpRequest *req, JsonbValue *pagination,
			   int nresults)
{
	JsonbContainer *pc = NULL;
	char	   *cursor = NULL;
	int			has_more = -1;
	bool		remaining;

	if (pagination != NULL && pagination->type == jbvBinary &&
		JsonContainerIsObject(pagination->val.binary.data))
		pc = pagination->val.binary.data;
	if (pc != NULL)
	{
		cursor = mx_json_string(mx_json_get(pc, "next_cursor"));
		has_more = reported_has_more(req, pc);
		/* include_total=true is asked on the first page only */
		if (paging->pages == 0)
		{
			paging->total = reported_count(req, pc, "total");
			if (paging->total < 0)
				paging->total = reported_count(req, pc, "total_count");
		}
	}
	paging->pages++;
	paging->received += nresults;
	paging->cursor = cursor;
	remaining = paging->total >= 0 && paging->received < paging->total;

	if (cursor != NULL)
	{
		/* a cursor seen before would page forever */
		if (!mx_cursor_set_add(paging->seen, cursor))
			mx_api_report_unexpected(req, "The next cursor was already followed in this scan.");
		paging->more = true;
		return;
	}
	paging->more = (has_more == 1 || (has_more < 0 && remaining));
	if (!paging->more)
	{
		/* without has_more, a total that says more remain goes on by offset */
		if (remaining)
			report_incomplete(req, paging,
							  "a page said that no more follow (has_more false)");
		return;
	}
	/* by offset: a page that brought nothing would be asked for forever */
	if (nresults == 0)
		report_incomplete(req, paging,
						  "a page without documents and without a next cursor said that more follow");
	if (mx_paging_offset(paging) >= MX_LIST_MAX_RESULTS)
		report_incomplete(req, paging,
						  psprintf("the next page would start at offset " INT64_FORMAT ", where the API's limit of %d results per query ends",
								   mx_paging_offset(paging), MX_LIST_MAX_RESULTS));
}
