/*-------------------------------------------------------------------------
 *
 * modify.c
 *		INSERT, UPDATE and DELETE through mixpeek_fdw.
 *
 * A foreign table is written only when its (or its server's) "updatable"
 * option is true.  document_id identifies the row; only user fields are
 * written: lineage and system columns, the whole-document column and
 * columns that read a nested field are read-only.
 *
 * INSERT sends POST .../documents per row (with a batch_size above one,
 * the rows of a batch go concurrently); UPDATE sends PATCH with the changed
 * user fields; DELETE sends DELETE.  Without RETURNING, updates and
 * deletes are collected and sent batch_size at a time through the batch
 * endpoints (POST and DELETE .../documents/batch): the rows are counted
 * when they are collected, and a batch that fails errors the statement,
 * naming what was written and what was not.
 *
 * The API has no transactions: what was sent stays written whatever the
 * transaction does.  A rollback that leaves remote writes behind says so
 * with a WARNING.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/explain.h"
#if PG_VERSION_NUM >= 180000
#include "commands/explain_format.h"
#include "commands/explain_state.h"
#endif
#include "executor/executor.h"
#include "foreign/fdwapi.h"
#include "foreign/foreign.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/appendinfo.h"
#if PG_VERSION_NUM >= 160000
#include "optimizer/inherit.h"
#endif
#include "optimizer/pathnode.h"
#include "parser/parsetree.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "columns.h"
#include "compat.h"
#include "json.h"
#include "mixpeek_fdw.h"
#include "settings.h"

/*
 * The junk columns that carry a row's document id, and for DELETE
 * RETURNING each column's value as read, to the modify node.
 */
#define MX_ID_JUNK "mx_document_id"
#define MX_COLUMN_JUNK "mx_column_%d"

/* The documents one statement wrote: counted, and the first few named. */
typedef struct MxWritten
{
	int64		count;
	int			nshown;
	char	   *shown[MX_WRITE_SHOWN_IDS];
} MxWritten;

typedef struct MxModifyState
{
	Relation	relation;
	MxRelation *rel;
	CmdType		operation;
	MxTarget   *target;			/* NULL for EXPLAIN without ANALYZE */
	MxConverter *conv;
	List	   *target_attrs;	/* INSERT: every column; UPDATE: the SET ones */
	FmgrInfo   *to_jsonb;		/* per column, for what is sent */
	AttrNumber	id_junk;		/* UPDATE, DELETE: document id in the plan */
	AttrNumber *column_junk;	/* DELETE RETURNING: the row as read */
	int			batch_size;
	bool		returning;

	MemoryContext cxt;			/* the statement's */
	MemoryContext row_cxt;		/* one row's request, reset per row */
	MemoryContext pending_cxt;	/* collected updates or deletes */

	/* updates (without RETURNING) and deletes, sent when the scan is done */
	char	  **pending_ids;
	char	  **pending_bodies;
	int			npending;
	int			pending_cap;

	HTAB	   *seen;			/* ids written by this statement */
	MxWritten	written;
	char	   *failure_note;	/* what the failing request left unwritten */
	int64		unsent;			/* collected writes after the failing one */
	char	  **flight_ids;		/* the ids of the update or delete in flight */
	int			nflight;
	bool		detail_says_written;	/* the ERROR's DETAIL, not its context */
	bool		defer_inserts;	/* the statement reads the collection too */
	TupleTableSlot *read_row_slot;	/* DELETE RETURNING's rows */
	Bitmapset  *all_columns;	/* RETURNING converts them all */
	MxHttpStats stats;
} MxModifyState;

/* Documents written in this transaction, for the WARNING on rollback. */
static int64 xact_written = 0;
static List *savepoint_written = NIL;	/* xact_written at each savepoint */

/* ---------- options ---------- */

/* A table option, else the server's; NULL when neither sets it. */
static char *
table_or_server_option(Oid relid, const char *name)
{
	ForeignTable *table = GetForeignTable(relid);
	char	   *value = mx_fdw_option(table->options, name);

	if (value == NULL)
		value = mx_fdw_option(GetForeignServer(table->serverid)->options, name);
	return value;
}

static bool
table_updatable(Oid relid)
{
	char	   *value = table_or_server_option(relid, "updatable");
	bool		updatable = false;

	/* the validator refused anything else; an unreadable value is false */
	if (value != NULL && !parse_bool(value, &updatable))
		updatable = false;
	return updatable;
}

static int
table_batch_size(Oid relid)
{
	char	   *value = table_or_server_option(relid, "batch_size");
	int			n = value ? mx_parse_batch_size(value) : 0;

	return n > 0 ? n : MX_WRITE_BATCH_DEFAULT;
}

/* ---------- which columns may be written ---------- */

/*
 * Why a column cannot be written, or NULL when it can: it must read one
 * root field of the document that Mixpeek does not manage.  A nested field
 * would have to be sent as its parent object, replacing the parent's other
 * keys.
 */
static const char *
read_only_reason(MxColumn *col)
{
	MxLocation *loc;

	if (col->whole_document)
		return "The column holds the whole document.";
	if (col->nlocations != 1)
		return "Mixpeek sets lineage and system fields.";
	loc = &col->locations[0];
	if (mx_standard_location(loc->dotted) != NULL ||
		strcmp(loc->keys[0], "_internal") == 0)
		return "Mixpeek sets lineage and system fields.";
	if (loc->nkeys != 1)
		return "The column reads a nested field; writing it would replace the whole object that holds it.";
	return NULL;
}

static void
check_writable(MxRelation *rel, MxColumn *col)
{
	const char *reason = read_only_reason(col);

	if (reason != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_GENERATED_ALWAYS),
				 errmsg("column \"%s\" of foreign table \"%s\" is read-only",
						col->name, get_rel_name(rel->relid)),
				 errdetail("%s", reason),
				 errhint("Only columns that read a user field at the root of the document can be written.")));
}

/* The column that holds the document id. */
static MxColumn *
id_column(MxRelation *rel)
{
	int			i;

	for (i = 0; i < rel->natts; i++)
	{
		MxColumn   *col = &rel->columns[i];

		if (col->name != NULL && !col->whole_document &&
			col->nlocations == 1 &&
			strcmp(col->locations[0].dotted, MX_DOCUMENT_ID_FIELD) == 0)
			return col;
	}
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("foreign table \"%s\" has no document_id column",
					get_rel_name(rel->relid)),
			 errdetail("UPDATE and DELETE identify documents by their id."),
			 errhint("Add a column: ALTER FOREIGN TABLE %s ADD COLUMN document_id text.",
					 quote_identifier(get_rel_name(rel->relid)))));
	return NULL;				/* keep the compiler quiet */
}

/* ---------- planning ---------- */

/*
 * mixpeekIsForeignRelUpdatable
 *		INSERT, UPDATE and DELETE when "updatable" is true, none otherwise;
 *		PostgreSQL then refuses with "foreign table ... does not allow ...".
 *		A retriever's results are never written, whatever its server says.
 */
static int
mixpeekIsForeignRelUpdatable(Relation relation)
{
	if (mx_is_retriever_table(RelationGetRelid(relation)) ||
		!table_updatable(RelationGetRelid(relation)))
		return 0;
	return (1 << CMD_INSERT) | (1 << CMD_UPDATE) | (1 << CMD_DELETE);
}

/*
 * DELETE RETURNING shows the row as it was read: each column travels to
 * the modify node as a junk column of its own (a whole-row reference
 * would do, but PostgreSQL 15 mishandles one in a foreign table's DELETE).
 */
static void
add_column_targets(PlannerInfo *root, Index rtindex, MxRelation *rel)
{
	int			i;

	for (i = 0; i < rel->natts; i++)
	{
		MxColumn   *col = &rel->columns[i];

		if (col->name == NULL)
			continue;
		add_row_identity_var(root,
							 makeVar(rtindex, col->attnum, col->typid,
									 col->typmod, col->collid, 0),
							 rtindex, psprintf(MX_COLUMN_JUNK, (int) col->attnum));
	}
}

/*
 * mixpeekAddForeignUpdateTargets
 *		The document id is the row identity.  DELETE ... RETURNING also
 *		takes every column: the API's answer to a DELETE holds no document.
 */
static void
mixpeekAddForeignUpdateTargets(PlannerInfo *root, Index rtindex,
							   RangeTblEntry *target_rte,
							   Relation target_relation)
{
	MxRelation *rel;
	MxColumn   *col;

	/* not written at all: the executor refuses it with PostgreSQL's error */
	if (mixpeekIsForeignRelUpdatable(target_relation) == 0)
		return;
	rel = mx_fdw_relation(RelationGetRelid(target_relation),
						  RelationGetDescr(target_relation));
	col = id_column(rel);
	add_row_identity_var(root,
						 makeVar(rtindex, col->attnum, col->typid, col->typmod,
								 col->collid, 0),
						 rtindex, MX_ID_JUNK);
	if (root->parse->commandType == CMD_DELETE &&
		root->parse->returningList != NIL)
		add_column_targets(root, rtindex, rel);
}

/* An INSERT's columns: all but the dropped ones. */
static List *
insert_attrs(TupleDesc tupdesc)
{
	List	   *attrs = NIL;
	int			i;

	for (i = 0; i < tupdesc->natts; i++)
	{
		if (!TupleDescAttr(tupdesc, i)->attisdropped)
			attrs = lappend_int(attrs, i + 1);
	}
	return attrs;
}

/*
 * mixpeekPlanForeignModify
 *		The columns each row writes: every writable column for INSERT (a
 *		read-only one must be NULL, checked per row), the SET columns for
 *		UPDATE, which must all be writable; and whether there is RETURNING.
 */
static List *
mixpeekPlanForeignModify(PlannerInfo *root, ModifyTable *plan,
						 Index resultRelation, int subplan_index)
{
	RangeTblEntry *rte = planner_rt_fetch(resultRelation, root);
	Relation	relation = table_open(rte->relid, NoLock);
	MxRelation *rel = mx_fdw_relation(rte->relid, RelationGetDescr(relation));
	List	   *attrs = NIL;

	if (plan->operation == CMD_UPDATE)
	{
		Bitmapset  *updated = mx_updated_cols(root, resultRelation, rte);
		int			k = -1;

		while ((k = bms_next_member(updated, k)) >= 0)
		{
			AttrNumber	attnum = k + FirstLowInvalidHeapAttributeNumber;

			if (attnum <= 0)
				continue;
			check_writable(rel, &rel->columns[attnum - 1]);
			attrs = lappend_int(attrs, attnum);
		}
	}
	else if (plan->operation == CMD_INSERT)
		attrs = insert_attrs(RelationGetDescr(relation));
	table_close(relation, NoLock);

	/*
	 * Whether rows are returned, known here and not from the executor: it
	 * sets up RETURNING after BeginForeignModify.
	 */
	return list_make2(attrs,
					  makeBoolean(plan->returningLists != NIL &&
								  list_nth(plan->returningLists, subplan_index) != NIL));
}

/* ---------- transactions ---------- */

static void
warn_not_rolled_back(int64 n, const char *what)
{
	ereport(WARNING,
			(errcode(ERRCODE_WARNING),
			 errmsg_plural("%lld Mixpeek document written by this %s stays written",
						   "%lld Mixpeek documents written by this %s stay written",
						   n, (long long) n, what),
			 errdetail("Writes through mixpeek_fdw are sent when they are made; the API cannot roll them back.")));
}

/*
 * The remote writes of a transaction or savepoint that is rolled back stay
 * made: say so.  What a savepoint wrote still counts for the transaction.
 */
static void
modify_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT)
	{
		if (xact_written > 0)
			warn_not_rolled_back(xact_written, "transaction");
	}
	else if (event != XACT_EVENT_COMMIT && event != XACT_EVENT_PARALLEL_COMMIT &&
			 event != XACT_EVENT_PREPARE)
		return;
	xact_written = 0;
	list_free_deep(savepoint_written);
	savepoint_written = NIL;
}

static void
modify_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						SubTransactionId parentSubid, void *arg)
{
	MemoryContext old;
	int64		at_start;

	switch (event)
	{
		case SUBXACT_EVENT_START_SUB:
			old = MemoryContextSwitchTo(TopMemoryContext);
			savepoint_written = lcons(palloc(sizeof(int64)), savepoint_written);
			*(int64 *) linitial(savepoint_written) = xact_written;
			MemoryContextSwitchTo(old);
			break;
		case SUBXACT_EVENT_COMMIT_SUB:
		case SUBXACT_EVENT_ABORT_SUB:
			if (savepoint_written == NIL)
				break;
			at_start = *(int64 *) linitial(savepoint_written);
			pfree(linitial(savepoint_written));
			savepoint_written = list_delete_first(savepoint_written);
			if (event == SUBXACT_EVENT_ABORT_SUB && xact_written > at_start)
				warn_not_rolled_back(xact_written - at_start, "subtransaction");
			break;
		default:
			break;
	}
}

/* ---------- what is sent ---------- */

/*
 * A column's value as JSON, by to_jsonb(): numbers keep every digit, text
 * is a string, json and jsonb stay as they are, arrays become arrays.
 */
static void
prepare_to_jsonb(FmgrInfo *f, MxColumn *col)
{
	fmgr_info(F_TO_JSONB, f);
	fmgr_info_set_expr((Node *) makeFuncExpr(F_TO_JSONB, JSONBOID,
											 list_make1(makeNullConst(col->typid,
																	  col->typmod,
																	  col->collid)),
											 InvalidOid, InvalidOid,
											 COERCE_EXPLICIT_CALL),
					   f);
}

static void
append_value(StringInfo buf, MxModifyState *st, int attnum, Datum value,
			 bool isnull)
{
	Jsonb	   *jb;

	if (isnull)
	{
		appendStringInfoString(buf, "null");
		return;
	}
	jb = DatumGetJsonbP(FunctionCall1(&st->to_jsonb[attnum - 1], value));
	(void) JsonbToCString(buf, &jb->root, VARSIZE(jb));
}

/*
 * The user fields of a row as a JSON object: an INSERT's non-NULL columns
 * (after collection_id), an UPDATE's SET columns, NULL ones as null.
 */
static char *
fields_body(MxModifyState *st, TupleTableSlot *slot)
{
	StringInfoData buf;
	ListCell   *lc;
	bool		first = true;

	slot_getallattrs(slot);
	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	if (st->operation == CMD_INSERT)
	{
		appendStringInfoString(&buf, "\"collection_id\":");
		escape_json(&buf, st->rel->collection);
		first = false;
	}
	foreach(lc, st->target_attrs)
	{
		int			attnum = lfirst_int(lc);
		MxColumn   *col = &st->rel->columns[attnum - 1];
		bool		isnull = slot->tts_isnull[attnum - 1];

		if (st->operation == CMD_INSERT)
		{
			if (isnull)
				continue;
			check_writable(st->rel, col);
		}
		if (!first)
			appendStringInfoChar(&buf, ',');
		first = false;
		escape_json(&buf, col->locations[0].keys[0]);
		appendStringInfoChar(&buf, ':');
		append_value(&buf, st, attnum, slot->tts_values[attnum - 1], isnull);
	}
	appendStringInfoChar(&buf, '}');
	return buf.data;
}

/* The document id of the row being updated or deleted. */
static char *
row_document_id(MxModifyState *st, TupleTableSlot *planSlot)
{
	bool		isnull;
	Datum		value = ExecGetJunkAttribute(planSlot, st->id_junk, &isnull);
	MxColumn   *col;
	char	   *id;

	col = id_column(st->rel);
	if (isnull)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("document_id of a row of foreign table \"%s\" is null",
						RelationGetRelationName(st->relation))));
	id = mx_output_text(value, col->typid);
	if (id[0] == '\0' || mx_has_control_chars(id))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid document id \"%s\" in foreign table \"%s\"",
						id, RelationGetRelationName(st->relation)),
				 errdetail("A document id is not empty and has no control characters.")));
	return id;
}

/* ---------- what was written ---------- */

static const char *
past_tense(CmdType operation)
{
	switch (operation)
	{
		case CMD_INSERT:
			return "created";
		case CMD_UPDATE:
			return "updated";
		default:
			return "deleted";
	}
}

static void
note_written(MxModifyState *st, const char *id)
{
	MxWritten  *w = &st->written;

	if (w->nshown < MX_WRITE_SHOWN_IDS)
		w->shown[w->nshown++] = MemoryContextStrdup(st->cxt, id);
	w->count++;
	xact_written++;
}

/* "3 (a, b, c)" or "1500 (a, ..., and 1490 more)", for a DETAIL */
static void
append_ids(StringInfo buf, int64 count, char **shown, int nshown)
{
	int			i;

	appendStringInfo(buf, "%lld", (long long) count);
	if (nshown == 0)
		return;
	appendStringInfoString(buf, " (");
	for (i = 0; i < nshown; i++)
		appendStringInfo(buf, "%s%s", i > 0 ? ", " : "", shown[i]);
	if (count > nshown)
		appendStringInfo(buf, ", and %lld more", (long long) (count - nshown));
	appendStringInfoChar(buf, ')');
}

/*
 * The sentence on what this statement wrote before a failure, and what it
 * did not send at all.
 */
static char *
written_sentence(MxModifyState *st)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfo(&buf, "Documents %s by this statement before the failure: ",
					 past_tense(st->operation));
	append_ids(&buf, st->written.count, st->written.shown, st->written.nshown);
	appendStringInfoChar(&buf, '.');
	if (st->nflight > 0)
	{
		appendStringInfo(&buf, " In the failed request, not known to be %s: ",
						 past_tense(st->operation));
		append_ids(&buf, st->nflight, st->flight_ids,
				   Min(st->nflight, MX_WRITE_SHOWN_IDS));
		appendStringInfoChar(&buf, '.');
	}
	if (st->unsent > 0)
		appendStringInfo(&buf, " Not sent: %lld.", (long long) st->unsent);
	return buf.data;
}

/*
 * While a write is in flight, an ERROR (its own, or one that api.c raises
 * for the HTTP status) says in its context what was written before it.
 */
static void
write_context(void *arg)
{
	MxModifyState *st = arg;

	if (st->detail_says_written)
		return;
	if (st->failure_note != NULL)
		errcontext("%s. %s", st->failure_note, written_sentence(st));
	else if (st->written.count > 0 || st->unsent > 0 || st->nflight > 0)
		errcontext("%s", written_sentence(st));
}

/* While a write is in flight, its ERRORs say what was written before it. */
static void
push_write_context(MxModifyState *st, ErrorContextCallback *errcb)
{
	errcb->callback = write_context;
	errcb->arg = st;
	errcb->previous = error_context_stack;
	error_context_stack = errcb;
}

/* ---------- sending ---------- */

/*
 * Send requests and wait for all of them, whatever happens to some: each
 * is then known to be answered, and its reply can be read.  The batch
 * lives in its own context, gone when this returns or errors.
 */
static void
send_all(MxModifyState *st, MxHttpRequest **reqs, int n)
{
	MemoryContext batch_cxt = AllocSetContextCreate(CurrentMemoryContext,
													"mixpeek_fdw write batch",
													ALLOCSET_SMALL_SIZES);
	MemoryContext old = MemoryContextSwitchTo(batch_cxt);
	MxBatch    *batch = mx_api_batch(st->target, mx_max_concurrency, &st->stats);
	int			i;

	for (i = 0; i < n; i++)
		mx_batch_add(batch, reqs[i]);
	for (i = 0; i < n; i++)
	{
		if (mx_batch_next(batch) == NULL)
			elog(ERROR, "mixpeek_fdw: a write vanished from its batch");
	}
	MemoryContextSwitchTo(old);
	MemoryContextDelete(batch_cxt);
}

/* A 404 for the document itself: it was deleted since it was read. */
mx_noreturn static void
report_missing(MxModifyState *st, const char *id)
{
	st->nflight = 0;			/* known not to be written */
	ereport(ERROR,
			(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
			 errmsg("document \"%s\" of foreign table \"%s\" no longer exists",
					id, RelationGetRelationName(st->relation)),
			 errdetail("It was deleted after this statement read it."),
			 errhint("Run the statement again.")));
}

/*
 * Send one write and read its answer; the document the API sends back, or
 * NULL for a DELETE.  The context of an ERROR says what was written before.
 */
static Jsonb *
write_one(MxModifyState *st, MxRequestKind kind, const char *id, char *body)
{
	MxHttpRequest *req = mx_api_write(st->target, kind, st->rel->collection,
									  id, body);
	ErrorContextCallback errcb;
	Jsonb	   *reply;

	push_write_context(st, &errcb);

	send_all(st, &req, 1);
	if (kind == MX_REQ_CREATE_DOCUMENT)
		reply = mx_api_object_result(req);
	else
	{
		/*
		 * A 404 for the document: gone since the statement read it, unless
		 * this DELETE was sent again after a reply that was lost (the
		 * first attempt deleted it).
		 */
		reply = mx_api_document_result(req);
		if (reply == NULL &&
			!(kind == MX_REQ_DELETE_DOCUMENT && req->retries > 0))
			report_missing(st, id);
	}

	error_context_stack = errcb.previous;
	return kind == MX_REQ_DELETE_DOCUMENT ? NULL : reply;
}

/* Fill a RETURNING slot from the document the API sent back. */
static void
store_reply(MxModifyState *st, TupleTableSlot *slot, Jsonb *doc)
{
	JsonbValue	v;
	TupleDesc	tupdesc = slot->tts_tupleDescriptor;
	MemoryContext old = MemoryContextSwitchTo(st->row_cxt);
	Datum	   *values = palloc(sizeof(Datum) * Max(tupdesc->natts, 1));
	bool	   *isnull = palloc(sizeof(bool) * Max(tupdesc->natts, 1));

	v.type = jbvBinary;
	v.val.binary.data = &doc->root;
	v.val.binary.len = VARSIZE(doc) - VARHDRSZ;
	mx_convert_document(st->conv, &v, st->all_columns, values, isnull);

	/*
	 * A tuple in row_cxt, kept until the next row: the slot may be a heap
	 * tuple slot (a foreign table's usually is), which keeps a pointer to
	 * what it is given, and the executor's current context may be reset
	 * before RETURNING reads it.
	 */
	ExecForceStoreHeapTuple(heap_form_tuple(tupdesc, values, isnull), slot, false);
	MemoryContextSwitchTo(old);
}

/* The new document's id, from the reply to a create. */
static char *
created_id(Jsonb *doc)
{
	char	   *id = mx_json_string(mx_json_get(&doc->root, MX_DOCUMENT_ID_FIELD));

	if (id == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_STRING_FORMAT),
				 errmsg("unexpected response from Mixpeek"),
				 errdetail("The created document has no document_id.")));
	return id;
}

/* ---------- batches of updates and deletes ---------- */

/*
 * {"updates":[{"document_id":..,"update_data":{..}},..]} or
 * {"document_ids":[..]} for the collected writes start .. start + n - 1
 */
static char *
batch_body(MxModifyState *st, int start, int n)
{
	StringInfoData buf;
	int			i;
	bool		update = (st->operation == CMD_UPDATE);

	initStringInfo(&buf);
	appendStringInfoString(&buf, update ? "{\"updates\":[" : "{\"document_ids\":[");
	for (i = start; i < start + n; i++)
	{
		if (i > start)
			appendStringInfoChar(&buf, ',');
		if (update)
			appendStringInfoString(&buf, "{\"document_id\":");
		escape_json(&buf, st->pending_ids[i]);
		if (update)
			appendStringInfo(&buf, ",\"update_data\":%s}", st->pending_bodies[i]);
	}
	appendStringInfoString(&buf, "]}");
	return buf.data;
}

/*
 * The ids a batch reply says succeeded.  Ids too long for the table's key
 * are kept in a list, compared whole: a truncated key could match another.
 */
typedef struct MxBatchOk
{
	HTAB	   *ids;
	List	   *long_ids;
} MxBatchOk;

static bool
batch_ok(MxBatchOk *ok, const char *id)
{
	ListCell   *lc;

	if (strlen(id) < MX_MAX_DOCUMENT_ID_KEY)
		return hash_search(ok->ids, id, HASH_FIND, NULL) != NULL;
	foreach(lc, ok->long_ids)
	{
		if (strcmp(lfirst(lc), id) == 0)
			return true;
	}
	return false;
}

/*
 * Whether a result counts as done.  "Document not found" does for a batch
 * delete that was sent again: the first attempt, whose reply was lost,
 * deleted it.
 */
static bool
result_done(MxModifyState *st, MxHttpRequest *req, JsonbContainer *r,
			char **error)
{
	JsonbValue *success = mx_json_get(r, "success");

	if (success != NULL && success->type == jbvBool && success->val.boolean)
		return true;
	*error = mx_json_string(mx_json_get(r, "error"));
	return st->operation == CMD_DELETE && req->retries > 0 && *error != NULL &&
		strstr(*error, "not found") != NULL;
}

static void
read_results(MxModifyState *st, MxHttpRequest *req, JsonbContainer *results,
			 MxBatchOk *ok, char **first_error)
{
	HASHCTL		ctl;
	int			nresults = JsonContainerSize(results);
	int			i;

	ctl.hcxt = CurrentMemoryContext;
	ctl.keysize = MX_MAX_DOCUMENT_ID_KEY;
	ctl.entrysize = MX_MAX_DOCUMENT_ID_KEY;
	ok->ids = hash_create("mixpeek_fdw batch results", Max(nresults, 1), &ctl,
						  HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	ok->long_ids = NIL;
	for (i = 0; i < nresults; i++)
	{
		JsonbValue *r = getIthJsonbValueFromContainer(results, i);
		char	   *id;
		char	   *error = NULL;

		if (r->type != jbvBinary || !JsonContainerIsObject(r->val.binary.data))
			continue;
		id = mx_json_string(mx_json_get(r->val.binary.data, MX_DOCUMENT_ID_FIELD));
		if (id == NULL)
			continue;
		if (!result_done(st, req, r->val.binary.data, &error))
		{
			if (*first_error == NULL)
				*first_error = error;
		}
		else if (strlen(id) < MX_MAX_DOCUMENT_ID_KEY)
			(void) hash_search(ok->ids, id, HASH_ENTER, NULL);
		else
			ok->long_ids = lappend(ok->long_ids, id);
	}
}

/*
 * Read a batch reply's per-document results: each id that succeeded is
 * noted as written; the failed ones (with the first error) are reported
 * together, with the ones that made it, in the ERROR's DETAIL.  An id the
 * reply does not mention is a failure too: nothing may be taken for
 * written that was not.
 */
static void
read_batch_results(MxModifyState *st, MxHttpRequest *req, Jsonb *reply,
				   int start, int n)
{
	JsonbValue *results = mx_json_get(&reply->root, "results");
	MxBatchOk	ok;
	int			i;
	int			nfailed = 0;
	char	   *failed[MX_WRITE_SHOWN_IDS];
	char	   *first_error = NULL;
	char	   *shown_error;
	StringInfoData detail;

	if (results == NULL || results->type != jbvBinary ||
		!JsonContainerIsArray(results->val.binary.data))
		mx_api_report_unexpected(req, "The batch reply has no \"results\" array.");
	read_results(st, req, results->val.binary.data, &ok, &first_error);

	for (i = start; i < start + n; i++)
	{
		if (batch_ok(&ok, st->pending_ids[i]))
			note_written(st, st->pending_ids[i]);
		else
		{
			if (nfailed < MX_WRITE_SHOWN_IDS)
				failed[nfailed] = st->pending_ids[i];
			nfailed++;
		}
	}
	if (nfailed == 0)
		return;

	shown_error = mx_api_shown_text(req, first_error);
	initStringInfo(&detail);
	appendStringInfo(&detail, "Documents not %s: ", past_tense(st->operation));
	append_ids(&detail, nfailed, failed, Min(nfailed, MX_WRITE_SHOWN_IDS));
	appendStringInfoString(&detail, ". ");
	appendStringInfoString(&detail, written_sentence(st));
	st->detail_says_written = true;

	/* a document that is gone: deleted since the statement read it */
	ereport(ERROR,
			(errcode(first_error != NULL && strstr(first_error, "not found") != NULL
					 ? ERRCODE_T_R_SERIALIZATION_FAILURE : ERRCODE_FDW_ERROR),
			 errmsg("Mixpeek %s %d of %d documents of foreign table \"%s\"%s%s",
					st->operation == CMD_UPDATE ? "did not update" : "did not delete",
					nfailed, n, RelationGetRelationName(st->relation),
					shown_error ? ": " : "", shown_error ? shown_error : ""),
			 errdetail_internal("%s", detail.data)));
}

/*
 * One POST per body, all of them in flight together (up to
 * mixpeek.max_concurrency).  A POST is never repeated once sent, so when
 * some fail the others still count: the ERROR names what was created and
 * counts the rows that were not.
 */
static void
send_creates(MxModifyState *st, char **bodies, int n)
{
	MemoryContext old = MemoryContextSwitchTo(st->row_cxt);
	MxHttpRequest **reqs = palloc(sizeof(MxHttpRequest *) * n);
	MxHttpRequest *failed = NULL;
	int			nfailed = 0;
	int			i;

	for (i = 0; i < n; i++)
		reqs[i] = mx_api_write(st->target, MX_REQ_CREATE_DOCUMENT,
							   st->rel->collection, NULL, bodies[i]);
	send_all(st, reqs, n);
	for (i = 0; i < n; i++)
	{
		MxHttpRequest *req = reqs[i];

		if (req->outcome == MX_HTTP_DONE && req->status >= 200 &&
			req->status <= 299)
			note_written(st, created_id(mx_api_object_result(req)));
		else
		{
			if (failed == NULL)
				failed = req;
			nfailed++;
		}
	}
	if (failed != NULL)
	{
		ErrorContextCallback errcb;

		st->failure_note = psprintf("%d of the %d rows sent together failed (a create that may have reached Mixpeek is not sent again)",
									nfailed, n);
		push_write_context(st, &errcb);
		(void) mx_api_object_result(failed);	/* raises its ERROR */
		error_context_stack = errcb.previous;
	}
	MemoryContextSwitchTo(old);
	MemoryContextReset(st->row_cxt);
}

/* Keep a write for the end of the statement. */
static void
collect(MxModifyState *st, const char *id, const char *body)
{
	MemoryContext old = MemoryContextSwitchTo(st->pending_cxt);

	if (st->npending == st->pending_cap)
	{
		st->pending_cap = Max(64, st->pending_cap * 2);
		st->pending_ids = st->pending_ids
			? repalloc(st->pending_ids, sizeof(char *) * st->pending_cap)
			: palloc(sizeof(char *) * st->pending_cap);
		st->pending_bodies = st->pending_bodies
			? repalloc(st->pending_bodies, sizeof(char *) * st->pending_cap)
			: palloc(sizeof(char *) * st->pending_cap);
	}
	st->pending_ids[st->npending] = id ? pstrdup(id) : NULL;
	st->pending_bodies[st->npending] = body ? pstrdup(body) : NULL;
	st->npending++;
	MemoryContextSwitchTo(old);
}

/* Send the collected writes start .. start + n - 1: one PATCH or DELETE, or a batch. */
static void
send_chunk(MxModifyState *st, int start, int n)
{
	bool		update = (st->operation == CMD_UPDATE);
	ErrorContextCallback errcb;
	MxHttpRequest *req;
	Jsonb	   *reply;

	st->flight_ids = st->pending_ids + start;
	st->nflight = n;
	if (n == 1)
	{
		(void) write_one(st, update ? MX_REQ_UPDATE_DOCUMENT : MX_REQ_DELETE_DOCUMENT,
						 st->pending_ids[start], st->pending_bodies[start]);
		st->nflight = 0;
		note_written(st, st->pending_ids[start]);
		return;
	}
	req = mx_api_write(st->target,
					   update ? MX_REQ_BATCH_UPDATE : MX_REQ_BATCH_DELETE,
					   st->rel->collection, NULL, batch_body(st, start, n));
	push_write_context(st, &errcb);
	send_all(st, &req, 1);
	reply = mx_api_object_result(req);
	st->nflight = 0;			/* the results say which were written */
	read_batch_results(st, req, reply, start, n);
	error_context_stack = errcb.previous;
}

/*
 * Send what was collected, batch_size documents a request, one request
 * after the other: a failure stops the statement before the next one.
 */
static void
flush_pending(MxModifyState *st)
{
	MemoryContext old = MemoryContextSwitchTo(st->pending_cxt);
	int			start;

	for (start = 0; start < st->npending; start += st->batch_size)
	{
		int			n = Min(st->batch_size, st->npending - start);

		st->unsent = st->npending - start - n;
		if (st->operation == CMD_INSERT)
			send_creates(st, st->pending_bodies + start, n);
		else
			send_chunk(st, start, n);
	}
	st->unsent = 0;
	MemoryContextSwitchTo(old);
	MemoryContextReset(st->pending_cxt);
	st->npending = 0;
	st->pending_ids = NULL;
	st->pending_bodies = NULL;
	st->pending_cap = 0;
}

/* ---------- execution ---------- */


/*
 * The state of a write to a table, for BeginForeignModify and
 * BeginForeignInsert: where requests go (the key and namespace of the
 * table's server and user mapping, as a scan finds them), how values are
 * sent and read back.
 */
static MxModifyState *
begin_modify(ResultRelInfo *rinfo, EState *estate, CmdType operation,
			 List *target_attrs, bool returning, bool explain_only)
{
	MxModifyState *st = palloc0(sizeof(MxModifyState));
	ListCell   *lc;

	rinfo->ri_FdwState = st;
	st->relation = rinfo->ri_RelationDesc;
	st->rel = mx_fdw_relation(RelationGetRelid(st->relation),
							  RelationGetDescr(st->relation));
	st->operation = operation;
	st->target_attrs = target_attrs;
	st->returning = returning;
	st->batch_size = table_batch_size(RelationGetRelid(st->relation));
	if (explain_only)
		return st;

	st->target = mx_fdw_target(st->rel->serverid,
							   mx_result_rel_user(rinfo, estate),
							   st->rel->namespace);
	st->conv = mx_converter_create(st->rel);
	st->all_columns = bms_make_singleton(0 - FirstLowInvalidHeapAttributeNumber);
	st->cxt = CurrentMemoryContext;
	st->row_cxt = AllocSetContextCreate(st->cxt, "mixpeek_fdw write",
										ALLOCSET_DEFAULT_SIZES);
	st->pending_cxt = AllocSetContextCreate(st->cxt, "mixpeek_fdw pending writes",
											ALLOCSET_DEFAULT_SIZES);
	st->to_jsonb = palloc0(sizeof(FmgrInfo) * Max(st->rel->natts, 1));
	foreach(lc, st->target_attrs)
		prepare_to_jsonb(&st->to_jsonb[lfirst_int(lc) - 1],
						 &st->rel->columns[lfirst_int(lc) - 1]);
	return st;
}

/* DELETE RETURNING: where each column's junk is, and a slot for the row. */
static void
find_column_junk(MxModifyState *st, Plan *subplan, EState *estate)
{
	TupleDesc	tupdesc = RelationGetDescr(st->relation);
	int			i;

	st->column_junk = palloc0(sizeof(AttrNumber) * Max(tupdesc->natts, 1));
	for (i = 0; i < tupdesc->natts; i++)
	{
		if (TupleDescAttr(tupdesc, i)->attisdropped)
			continue;
		st->column_junk[i] =
			ExecFindJunkAttributeInTlist(subplan->targetlist,
										 psprintf(MX_COLUMN_JUNK, i + 1));
		if (!AttributeNumberIsValid(st->column_junk[i]))
			elog(ERROR, "mixpeek_fdw: could not find junk column " MX_COLUMN_JUNK, i + 1);
	}
	st->read_row_slot = ExecInitExtraTupleSlot(estate, tupdesc, &TTSOpsVirtual);
}

/* Does a node of the plan scan the collection that st writes? */
static bool
scans_collection(PlanState *ps, void *arg)
{
	MxModifyState *st = arg;

	if (ps == NULL)
		return false;
	if (IsA(ps, ForeignScanState) &&
		((ScanState *) ps)->ss_currentRelation != NULL)
	{
		ForeignTable *table =
			GetForeignTable(RelationGetRelid(((ScanState *) ps)->ss_currentRelation));
		char	   *collection = mx_fdw_option(table->options, "collection");

		if (table->serverid == st->rel->serverid && collection != NULL &&
			strcmp(collection, st->rel->collection) == 0)
			return true;
	}
	return planstate_tree_walker(ps, scans_collection, arg);
}

/*
 * INSERT ... SELECT from the same collection: rows created while the scan
 * still pages through the collection could come back to it, and be
 * inserted again, without end.  Such inserts wait for the end of the
 * statement; with RETURNING (one request per row, at once) the statement
 * is refused.
 */
static void
check_reads_collection(MxModifyState *st, ModifyTableState *mtstate)
{
	ListCell   *lc;
	bool		reads = scans_collection(outerPlanState(mtstate), st);

	foreach(lc, mtstate->ps.state->es_subplanstates)
		reads = reads || scans_collection(lfirst(lc), st);
	if (!reads)
		return;
	if (st->returning)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("INSERT ... RETURNING into foreign table \"%s\" cannot read the collection it writes",
						RelationGetRelationName(st->relation)),
				 errdetail("Each row would be created while the statement still reads collection \"%s\", and could be read again.",
						   st->rel->collection),
				 errhint("Leave out RETURNING, or read the rows into a temporary table first.")));
	st->defer_inserts = true;
}

/*
 * mixpeekBeginForeignModify
 *		Set up a statement's writes; UPDATE and DELETE also find the junk
 *		columns of the document id (and of the row, for DELETE RETURNING).
 */
static void
mixpeekBeginForeignModify(ModifyTableState *mtstate, ResultRelInfo *rinfo,
						  List *fdw_private, int subplan_index, int eflags)
{
	Plan	   *subplan = outerPlanState(mtstate)->plan;
	MxModifyState *st;
	HASHCTL		ctl;

	st = begin_modify(rinfo, mtstate->ps.state, mtstate->operation,
					  linitial(fdw_private), boolVal(lsecond(fdw_private)),
					  (eflags & EXEC_FLAG_EXPLAIN_ONLY) != 0);
	if (st->target == NULL)
		return;
	if (st->operation == CMD_INSERT)
	{
		check_reads_collection(st, mtstate);
		return;
	}
	st->id_junk = ExecFindJunkAttributeInTlist(subplan->targetlist, MX_ID_JUNK);
	if (!AttributeNumberIsValid(st->id_junk))
		elog(ERROR, "mixpeek_fdw: could not find junk column %s", MX_ID_JUNK);

	ctl.keysize = MX_MAX_DOCUMENT_ID_KEY;
	ctl.entrysize = MX_MAX_DOCUMENT_ID_KEY;
	ctl.hcxt = st->cxt;
	st->seen = hash_create("mixpeek_fdw written ids", 64, &ctl,
						   HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	if (st->returning && st->operation == CMD_DELETE)
		find_column_junk(st, subplan, mtstate->ps.state);
}

/*
 * mixpeekBeginForeignInsert
 *		COPY into the table, or rows routed to it as a partition: inserts
 *		as INSERT makes them.
 */
static void
mixpeekBeginForeignInsert(ModifyTableState *mtstate, ResultRelInfo *rinfo)
{
	Relation	relation = rinfo->ri_RelationDesc;

	(void) begin_modify(rinfo, mtstate->ps.state, CMD_INSERT,
						insert_attrs(RelationGetDescr(relation)),
						rinfo->ri_projectReturning != NULL, false);
}

/*
 * mixpeekGetForeignModifyBatchSize
 *		Rows of an INSERT sent together (concurrently: the API has no batch
 *		create); one at a time when RETURNING or row triggers need each.
 */
static int
mixpeekGetForeignModifyBatchSize(ResultRelInfo *rinfo)
{
	MxModifyState *st = rinfo->ri_FdwState;

	if (rinfo->ri_projectReturning != NULL ||
		rinfo->ri_WithCheckOptions != NIL ||
		(rinfo->ri_TrigDesc &&
		 (rinfo->ri_TrigDesc->trig_insert_before_row ||
		  rinfo->ri_TrigDesc->trig_insert_after_row)))
		return 1;
	return st ? st->batch_size
		: table_batch_size(RelationGetRelid(rinfo->ri_RelationDesc));
}

/*
 * mixpeekExecForeignBatchInsert
 *		The rows of a batch, created together; kept for the end of the
 *		statement instead when the statement also reads the collection.
 */
static TupleTableSlot **
mixpeekExecForeignBatchInsert(EState *estate, ResultRelInfo *rinfo,
							  TupleTableSlot **slots, TupleTableSlot **planSlots,
							  int *numSlots)
{
	MxModifyState *st = rinfo->ri_FdwState;
	MemoryContext old = MemoryContextSwitchTo(st->pending_cxt);
	char	  **bodies = palloc(sizeof(char *) * *numSlots);
	int			i;

	for (i = 0; i < *numSlots; i++)
		bodies[i] = fields_body(st, slots[i]);
	MemoryContextSwitchTo(old);
	if (st->defer_inserts)
	{
		for (i = 0; i < *numSlots; i++)
			collect(st, NULL, bodies[i]);
	}
	else
		send_creates(st, bodies, *numSlots);
	if (st->npending == 0)
		MemoryContextReset(st->pending_cxt);
	return slots;
}

/*
 * mixpeekExecForeignInsert
 *		One POST; RETURNING reads the document the API sends back.
 */
static TupleTableSlot *
mixpeekExecForeignInsert(EState *estate, ResultRelInfo *rinfo,
						 TupleTableSlot *slot, TupleTableSlot *planSlot)
{
	MxModifyState *st = rinfo->ri_FdwState;
	int			one = 1;
	MemoryContext old;
	Jsonb	   *doc;

	if (!st->returning)
		return *mixpeekExecForeignBatchInsert(estate, rinfo, &slot, &planSlot, &one);

	MemoryContextReset(st->row_cxt);
	old = MemoryContextSwitchTo(st->row_cxt);
	doc = write_one(st, MX_REQ_CREATE_DOCUMENT, NULL, fields_body(st, slot));
	note_written(st, created_id(doc));
	MemoryContextSwitchTo(old);
	store_reply(st, slot, doc);
	return slot;
}

/*
 * A row whose document this statement already wrote (a join can bring it
 * twice) is skipped, as PostgreSQL skips a row the command already changed.
 */
static bool
already_written(MxModifyState *st, const char *id)
{
	bool		found = true;

	if (strlen(id) >= MX_MAX_DOCUMENT_ID_KEY)
		return false;			/* not tracked: sent again, which is harmless */
	(void) hash_search(st->seen, id, HASH_ENTER, &found);
	return found;
}

/*
 * The shared part of UPDATE and DELETE: skip a repeated document; an
 * UPDATE with RETURNING is sent at once (the row comes from the answer),
 * everything else is collected and sent when the scan is done.  Sending
 * while the scan still pages through the collection could move the rows
 * under its cursor, and the statement would see its own writes.  Returns
 * false for a skipped row.
 */
static bool
write_row(MxModifyState *st, TupleTableSlot *slot, TupleTableSlot *planSlot,
		  Jsonb **reply)
{
	bool		update = (st->operation == CMD_UPDATE);
	MemoryContext old;
	char	   *id;
	char	   *body;

	*reply = NULL;
	MemoryContextReset(st->row_cxt);
	old = MemoryContextSwitchTo(st->row_cxt);
	id = row_document_id(st, planSlot);
	if (already_written(st, id))
	{
		MemoryContextSwitchTo(old);
		return false;
	}
	body = update ? fields_body(st, slot) : NULL;
	if (update && st->returning)
	{
		st->flight_ids = &id;
		st->nflight = 1;
		*reply = write_one(st, MX_REQ_UPDATE_DOCUMENT, id, body);
		st->nflight = 0;
		note_written(st, id);
	}
	else
		collect(st, id, body);
	MemoryContextSwitchTo(old);
	return true;
}

/*
 * DELETE RETURNING: the row as the statement read it (the API sends none),
 * in a virtual slot of our own whose values are copied to row_cxt, kept
 * until the next row.
 */
static TupleTableSlot *
store_read_row(MxModifyState *st, TupleTableSlot *planSlot)
{
	TupleTableSlot *slot = st->read_row_slot;
	TupleDesc	tupdesc = slot->tts_tupleDescriptor;
	MemoryContext old = MemoryContextSwitchTo(st->row_cxt);
	int			i;

	ExecClearTuple(slot);
	for (i = 0; i < tupdesc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(tupdesc, i);

		slot->tts_isnull[i] = true;
		slot->tts_values[i] = (Datum) 0;
		if (st->column_junk[i] == InvalidAttrNumber)
			continue;
		slot->tts_values[i] = ExecGetJunkAttribute(planSlot, st->column_junk[i],
												   &slot->tts_isnull[i]);
		if (!slot->tts_isnull[i])
			slot->tts_values[i] = datumCopy(slot->tts_values[i], att->attbyval,
											att->attlen);
	}
	ExecStoreVirtualTuple(slot);
	MemoryContextSwitchTo(old);
	return slot;
}

/*
 * mixpeekExecForeignUpdate, mixpeekExecForeignDelete
 *		PATCH the SET columns of the row's document, or DELETE it.  UPDATE
 *		RETURNING reads the document the API sends back; DELETE RETURNING
 *		shows the row as the statement read it.
 */
static TupleTableSlot *
mixpeekExecForeignUpdateDelete(EState *estate, ResultRelInfo *rinfo,
							   TupleTableSlot *slot, TupleTableSlot *planSlot)
{
	MxModifyState *st = rinfo->ri_FdwState;
	Jsonb	   *reply;

	if (!write_row(st, slot, planSlot, &reply))
		return NULL;
	if (reply != NULL)
		store_reply(st, slot, reply);
	else if (st->returning && st->operation == CMD_DELETE)
		return store_read_row(st, planSlot);
	return slot;
}

/*
 * mixpeekEndForeignModify
 *		Send what is still collected: the statement fails here if that
 *		batch does.
 */
static void
mixpeekEndForeignModify(EState *estate, ResultRelInfo *rinfo)
{
	MxModifyState *st = rinfo->ri_FdwState;

	if (st == NULL || st->target == NULL)
		return;
	flush_pending(st);
}

/* ---------- EXPLAIN ---------- */

/*
 * mixpeekExplainForeignModify
 *		The requests a row makes, as postgres_fdw shows its Remote SQL.
 */
static void
mixpeekExplainForeignModify(ModifyTableState *mtstate, ResultRelInfo *rinfo,
							List *fdw_private, int subplan_index,
							ExplainState *es)
{
	MxModifyState *st = rinfo->ri_FdwState;
	const char *collection = st->rel->collection;
	MxRequestKind one;
	MxRequestKind many;
	ListCell   *lc;

	if (!es->verbose)
		return;
	switch (st->operation)
	{
		case CMD_INSERT:
			one = many = MX_REQ_CREATE_DOCUMENT;
			break;
		case CMD_UPDATE:
			one = MX_REQ_UPDATE_DOCUMENT;
			many = st->returning ? one : MX_REQ_BATCH_UPDATE;
			break;
		default:
			one = MX_REQ_DELETE_DOCUMENT;
			many = MX_REQ_BATCH_DELETE;
			break;
	}
	ExplainPropertyText("Remote Request",
						psprintf("%s %s", mx_api_write_method(one),
								 mx_api_write_path(one, collection, NULL)),
						es);
	if (many != one && st->batch_size > 1)
		ExplainPropertyText("Remote Batch Request",
							psprintf("%s %s", mx_api_write_method(many),
									 mx_api_write_path(many, collection, NULL)),
							es);
	ExplainPropertyInteger("Batch Size", NULL,
						   st->returning && st->operation != CMD_DELETE
						   ? 1 : st->batch_size, es);
	if (st->operation == CMD_UPDATE)
	{
		StringInfoData fields;

		initStringInfo(&fields);
		foreach(lc, st->target_attrs)
			appendStringInfo(&fields, "%s%s", fields.len > 0 ? ", " : "",
							 st->rel->columns[lfirst_int(lc) - 1].locations[0].keys[0]);
		ExplainPropertyText("Remote Fields", fields.data, es);
	}
	if (es->analyze && st->target != NULL)
	{
		/*
		 * EXPLAIN ANALYZE prints the plan before it ends it: send the
		 * collected writes now, so that what is shown is what was sent.
		 */
		flush_pending(st);
		ExplainPropertyInteger("Remote Requests", NULL, st->stats.requests, es);
		ExplainPropertyInteger("Remote Retries", NULL, st->stats.retries, es);
	}
}

/*
 * From _PG_init: the WARNING on rollback needs every subtransaction's
 * start, also of those begun before the first write.
 */
void
mx_modify_init(void)
{
	RegisterXactCallback(modify_xact_callback, NULL);
	RegisterSubXactCallback(modify_subxact_callback, NULL);
}

/* The modify callbacks of the handler (fdw.c). */
void
mx_modify_routine(FdwRoutine *routine)
{
	routine->IsForeignRelUpdatable = mixpeekIsForeignRelUpdatable;
	routine->AddForeignUpdateTargets = mixpeekAddForeignUpdateTargets;
	routine->PlanForeignModify = mixpeekPlanForeignModify;
	routine->BeginForeignModify = mixpeekBeginForeignModify;
	routine->ExecForeignInsert = mixpeekExecForeignInsert;
	routine->ExecForeignBatchInsert = mixpeekExecForeignBatchInsert;
	routine->GetForeignModifyBatchSize = mixpeekGetForeignModifyBatchSize;
	routine->ExecForeignUpdate = mixpeekExecForeignUpdateDelete;
	routine->ExecForeignDelete = mixpeekExecForeignUpdateDelete;
	routine->EndForeignModify = mixpeekEndForeignModify;
	routine->BeginForeignInsert = mixpeekBeginForeignInsert;
	routine->EndForeignInsert = mixpeekEndForeignModify;
	routine->ExplainForeignModify = mixpeekExplainForeignModify;
}
