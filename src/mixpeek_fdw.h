/*-------------------------------------------------------------------------
 *
 * mixpeek_fdw.h
 *		Declarations shared by the modules of the mixpeek_fdw foreign-data
 *		wrapper: fdw.c (callbacks), deparse.c (what is sent), options.c,
 *		connection.c (where it is sent), convert.c (JSON to Datums) and
 *		import.c (IMPORT FOREIGN SCHEMA).
 *
 *-------------------------------------------------------------------------
 */
#ifndef MIXPEEK_FDW_H
#define MIXPEEK_FDW_H

#include "fmgr.h"
#include "foreign/fdwapi.h"
#include "nodes/execnodes.h"
#include "nodes/pathnodes.h"
#include "nodes/plannodes.h"
#include "optimizer/paths.h"
#include "utils/jsonb.h"
#include "utils/relcache.h"

#include "api.h"
#include "columns.h"
#include "mixpeek_limits.h"

/*
 * Where a column's value comes from.  A column reads the first of its
 * locations that holds a non-null value; each location is a path of keys.
 */
#define MX_MAX_LOCATIONS	4

typedef struct MxLocation
{
	int			nkeys;
	char	  **keys;
	char	   *dotted;			/* keys joined with '.', for the API */
	bool		remote_ok;		/* no key contains '.', so the API can
								 * address it */
	MxBlobUrls	blob_urls;		/* an array of blobs, read for their URLs */
} MxLocation;

typedef struct MxColumn
{
	AttrNumber	attnum;
	char	   *name;
	Oid			typid;
	int32		typmod;
	Oid			collid;
	bool		whole_document; /* the "document" column */
	int			nlocations;
	MxLocation	locations[MX_MAX_LOCATIONS];
	bool		needs_vectors;	/* ask for return_vectors when used */
	bool		needs_url;		/* ask for return_url when used */
	char	   *input;			/* retriever tables: the input it gives */
	bool		input_required; /* ... that a search cannot do without */
	bool		is_rank;		/* retriever tables: the result's position */
	bool		indexed;		/* column option: the API can sort on it */
} MxColumn;

/* A foreign table's columns, by attribute number (index attnum - 1). */
typedef struct MxRelation
{
	Oid			relid;
	char	   *collection;
	char	   *retriever;		/* a retriever table's, instead of collection */
	char	   *namespace;		/* table option, or NULL */
	int			page_size;		/* table option, or 0 */
	Oid			serverid;
	int			natts;
	MxColumn   *columns;		/* NULL name for dropped columns */
} MxRelation;

/* options.c */
extern MxRelation *mx_fdw_relation(Oid relid, TupleDesc tupdesc);
extern char *mx_fdw_option(List *options, const char *name);
extern int	mx_parse_page_size(const char *value);
extern int	mx_parse_batch_size(const char *value);

/* connection.c */
extern MxTarget *mx_fdw_target(Oid serverid, Oid userid,
							   const char *table_namespace);
extern MxTarget *mx_fdw_target_for_check(Oid serverid, Oid userid);
extern char *mx_fdw_key_source(Oid serverid, Oid userid);

/* convert.c */
typedef struct MxConverter MxConverter;

extern MxConverter *mx_converter_create(MxRelation *rel);
extern void mx_convert_document(MxConverter *conv, JsonbValue *document,
								Bitmapset *attrs_used,
								Datum *values, bool *isnull);

/*
 * deparse.c: what a scan sends.  The planner fills an MxScanSpec, which
 * travels to the executor in the plan's fdw_private (as a List) with the
 * value expressions in fdw_exprs.
 */
typedef enum MxScanKind
{
	MX_SCAN_LIST,				/* POST documents/list, cursor paging */
	MX_SCAN_GET,				/* GET one document by id */
	MX_SCAN_GET_MANY			/* an array of ids: list requests filtered
								 * by the ids (id_fetch.c) */
} MxScanKind;

typedef enum MxCondOp
{
	MX_OP_EQ,
	MX_OP_NE,
	MX_OP_LT,
	MX_OP_LE,
	MX_OP_GT,
	MX_OP_GE,
	MX_OP_IN,
	MX_OP_NIN,
	MX_OP_IS_NULL,
	MX_OP_NOT_NULL,
	MX_OP_PREFIX,
	MX_OP_AND,					/* args: conditions */
	MX_OP_OR
} MxCondOp;

/* A condition sent in the list filters: a comparison, or an AND/OR. */
typedef struct MxCond
{
	AttrNumber	attnum;
	MxCondOp	op;
	int			expr_index;		/* into fdw_exprs, -1 for none */
	int			level;			/* MxPushdown: the least that sends it */
	List	   *args;			/* MxCond * of an AND/OR */
} MxCond;

/* document_id = value, or document_id = ANY(array): answered by id_fetch.c */
typedef struct MxIdLookup
{
	RestrictInfo *clause;		/* the condition */
	Expr	   *value;			/* the id or the array; NULL: no lookup */
	bool		many;			/* an array */
	bool		batched;		/* the array a batched join gives at each
								 * rescan (batch_join.c) */
	AttrNumber	attnum;			/* the document_id column */
} MxIdLookup;

/*
 * A top-N scan's ties with the n-th row: none (an exact LIMIT), rare (the
 * API compares as doubles what PostgreSQL compares exactly), or expected
 * (the query orders by more keys than the API's one, as a tie-breaker).
 */
typedef enum MxTies
{
	MX_TIES_NONE = 0,
	MX_TIES_RARE,
	MX_TIES_EXPECTED
} MxTies;

typedef struct MxScanSpec
{
	MxScanKind	kind;
	AttrNumber	id_attnum;		/* GETs: the column the ids are of */
	List	   *conds;			/* MxCond *, ANDed */
	AttrNumber	sort_attnum;	/* 0: no sort */
	bool		sort_desc;
	int			limit;			/* 0: none */
	int			limit_ties;		/* MxTies: the API's sort is coarser than
								 * the query's: limit is a lower bound, read
								 * on while rows tie with the limit-th as
								 * doubles (fdw.c) */
	int			first_page;		/* a top-N scan's first page when ties are
								 * expected (fdw.c) */
	List	   *select;			/* String paths; NIL: whole documents */
	bool		return_vectors;
	bool		return_url;
} MxScanSpec;

/* A clause sent as a list filter, classified once at planning */
typedef struct MxRemoteClause
{
	RestrictInfo *ri;
	MxCond	   *cond;			/* expr_index counts within values */
	List	   *values;			/* the expressions of its values */
} MxRemoteClause;

extern void mx_classify_conditions(PlannerInfo *root, RelOptInfo *baserel,
								   MxRelation *rel, List *clauses,
								   MxIdLookup *id,
								   List **remote, List **local,
								   List **classified);
extern bool mx_is_id_condition(MxRelation *rel, Index relid, Expr *clause,
							   MxIdLookup *id);
extern MxScanSpec *mx_build_scan_spec(PlannerInfo *root, RelOptInfo *baserel,
									  MxRelation *rel, List *remote_clauses,
									  MxIdLookup *id,
									  Bitmapset *attrs_used,
									  List **fdw_exprs);
extern bool mx_sort_pushable(MxRelation *rel, Index relid, Expr *expr,
							 Oid opfamily, Oid collation, bool nulls_first,
							 bool desc, AttrNumber *attnum, bool *coarse);
extern int	mx_sort_level(MxRelation *rel, AttrNumber attnum);
extern MxScanSpec *mx_spec_without(MxRelation *rel, MxScanSpec *spec,
								   const MxRejection *rej, char **dropped);
extern List *mx_spec_to_list(MxScanSpec *spec);
extern MxScanSpec *mx_spec_from_list(List *list);
extern char *mx_list_body(MxRelation *rel, MxScanSpec *spec, Datum *values,
						  bool *isnull, Oid *types, const char **shown);
extern char *mx_body_with_cursor(const char *body, const char *cursor);
extern char *mx_spec_select(MxScanSpec *spec);
extern char *mx_spec_filters(MxRelation *rel, MxScanSpec *spec,
							 Datum *values, bool *isnull, Oid *types,
							 const char **shown, bool *never);
extern void mx_explain_parts(MxRelation *rel, MxScanSpec *spec,
							 Datum *values, bool *isnull, Oid *types,
							 const char **shown, char **filters,
							 char **sort, char **select);
extern bool mx_is_id_expr(MxRelation *rel, Index relid, Expr *expr);
extern MxColumn *mx_column_of(MxRelation *rel, Index relid, Node *node);
extern char *mx_output_text(Datum value, Oid typid);

/* modify.c: INSERT, UPDATE and DELETE */
extern void mx_modify_routine(FdwRoutine *routine);
extern void mx_modify_init(void);

/* fdw.c: the join clauses a parameterized path could use */
extern int	mx_scan_values(ForeignScan *plan, Datum **values, bool **isnull,
						   Oid **types);
extern void mx_scan_evaluate(ForeignScanState *node, List *expr_states,
							 Datum *values, bool *isnull);
extern MxTarget *mx_scan_prepare(ForeignScanState *node, MxRelation *rel,
								 MxConverter **conv, List **expr_states);
extern List *mx_join_clauses(PlannerInfo *root, RelOptInfo *baserel,
							 ec_matches_callback_type matches, void *arg);
extern MxRelation *mx_batch_inner_relation(PlannerInfo *root,
											RelOptInfo *rel);
extern Path *mx_batch_inner_path(PlannerInfo *root, RelOptInfo *rel,
								 Expr *id_column, Oid collid, double nids);
extern void mx_scan_set_batch_ids(ForeignScanState *node, Datum ids);
extern const char **mx_explain_values(ForeignScanState *node, Datum *values,
									 bool *isnull, int nexprs,
									 struct ExplainState *es);

/* deparse.c: a retriever input's value as JSON text */
extern char *mx_input_json(Datum value, Oid typid);

/* retriever.c: foreign tables of retrievers, dispatched to from fdw.c */
struct ExplainState;

extern bool mx_is_retriever_table(Oid relid);
extern bool mx_is_retriever_plan(ForeignScan *plan);
extern void mx_retriever_rel_size(PlannerInfo *root, RelOptInfo *baserel,
								  Oid foreigntableid);
extern void mx_retriever_paths(PlannerInfo *root, RelOptInfo *baserel,
							   Oid foreigntableid);
extern ForeignScan *mx_retriever_plan(PlannerInfo *root, RelOptInfo *baserel,
									  Oid foreigntableid,
									  ForeignPath *best_path, List *tlist,
									  List *scan_clauses, Plan *outer_plan);
extern void mx_retriever_begin(ForeignScanState *node, int eflags);
extern TupleTableSlot *mx_retriever_iterate(ForeignScanState *node);
extern void mx_retriever_rescan(ForeignScanState *node);
extern void mx_retriever_end(ForeignScanState *node);
extern void mx_retriever_explain(ForeignScanState *node,
								 struct ExplainState *es);
extern List *mx_import_retrievers(ImportForeignSchemaStmt *stmt,
								  Oid serverOid);

/* upper.c: aggregates sent to the API, dispatched to from fdw.c */
extern void mx_upper_paths(PlannerInfo *root, UpperRelationKind stage,
						   RelOptInfo *input_rel, RelOptInfo *output_rel,
						   void *extra);
extern ForeignScan *mx_upper_plan(PlannerInfo *root, RelOptInfo *rel,
								  ForeignPath *best_path, List *tlist,
								  Plan *outer_plan);
extern bool mx_is_upper_plan(ForeignScan *plan);
extern void mx_upper_begin(ForeignScanState *node, int eflags);
extern TupleTableSlot *mx_upper_iterate(ForeignScanState *node);
extern void mx_upper_rescan(ForeignScanState *node);
extern void mx_upper_end(ForeignScanState *node);
extern void mx_upper_explain(ForeignScanState *node,
							 struct ExplainState *es);

/* import.c */
extern List *mx_import_foreign_schema(ImportForeignSchemaStmt *stmt,
									  Oid serverOid);

#endif							/* MIXPEEK_FDW_H */
