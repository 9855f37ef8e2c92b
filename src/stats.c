/*-------------------------------------------------------------------------
 *
 * stats.c
 *		Request statistics in shared memory: the mixpeek_stats view.
 *
 * A fixed-size hash table in shared memory, as pg_stat_statements keeps:
 * a lock protects its shape (shared to find an entry, exclusive to add
 * one), a spinlock in each entry its counters.  When the table is full,
 * further keys are counted in one overflow entry rather than lost, so the
 * totals stay right.  Keys are oids only: nothing here can hold a key or
 * any other text a role could not see.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/timestamp.h"

#include "budget.h"
#include "mixpeek_limits.h"
#include "stats.h"

#define MX_STATS_COLUMNS 13

typedef struct MxStatsKey
{
	Oid			dbid;
	Oid			userid;
	Oid			serverid;		/* InvalidOid: the settings' target */
	int32		kind;
} MxStatsKey;

typedef struct MxStatsEntry
{
	MxStatsKey	key;
	slock_t		mutex;
	MxStatsCounters counters;
} MxStatsEntry;

typedef struct MxStatsShared
{
	LWLock	   *lock;
} MxStatsShared;

static const char *const kind_names[MX_REQ_NKINDS] = {
	"get_document", "list_documents", "list_collections",
	"get_lineage", "object_documents",
	"create_document", "update_document", "delete_document",
	"batch_update_documents", "batch_delete_documents", "execute_retriever",
	"list_retrievers", "get_collection", "aggregate_documents", "overflow"
};

static MxStatsShared *shared = NULL;
static HTAB *entries = NULL;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

PG_FUNCTION_INFO_V1(mixpeek_stats);
PG_FUNCTION_INFO_V1(mixpeek_stats_reset);

static Size
stats_size(void)
{
	return add_size(MAXALIGN(sizeof(MxStatsShared)),
					hash_estimate_size(MX_STATS_MAX_ENTRIES + 1,
									   sizeof(MxStatsEntry)));
}

static void
stats_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(add_size(stats_size(), mx_budget_shmem_size()));
	RequestNamedLWLockTranche("mixpeek_stats", 1);
	mx_budget_shmem_request();
}

static void
stats_shmem_startup(void)
{
	bool		found;
	HASHCTL		ctl;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	shared = ShmemInitStruct("mixpeek_stats", sizeof(MxStatsShared), &found);
	if (!found)
		shared->lock = &(GetNamedLWLockTranche("mixpeek_stats"))->lock;
	ctl.keysize = sizeof(MxStatsKey);
	ctl.entrysize = sizeof(MxStatsEntry);
	/* one more than the limit: the overflow entry always fits */
	entries = ShmemInitHash("mixpeek_stats hash",
							MX_STATS_MAX_ENTRIES + 1, MX_STATS_MAX_ENTRIES + 1,
							&ctl, HASH_ELEM | HASH_BLOBS);
	mx_budget_shmem_init();
	LWLockRelease(AddinShmemInitLock);
}

void
mx_stats_init(void)
{
	if (!process_shared_preload_libraries_in_progress)
		return;
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = stats_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = stats_shmem_startup;
}

/* The entry of key, added when missing; the overflow entry when full. */
static MxStatsEntry *
find_entry(MxStatsKey *key)
{
	MxStatsEntry *entry;
	bool		found;

	LWLockAcquire(shared->lock, LW_SHARED);
	entry = hash_search(entries, key, HASH_FIND, NULL);
	LWLockRelease(shared->lock);
	if (entry != NULL)
		return entry;

	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	if (hash_get_num_entries(entries) >= MX_STATS_MAX_ENTRIES)
	{
		memset(key, 0, sizeof(MxStatsKey));
		key->kind = MX_REQ_OVERFLOW;
	}
	entry = hash_search(entries, key, HASH_ENTER, &found);
	if (!found)
	{
		SpinLockInit(&entry->mutex);
		memset(&entry->counters, 0, sizeof(MxStatsCounters));
	}
	LWLockRelease(shared->lock);
	return entry;
}

void
mx_stats_record(Oid userid, Oid serverid, MxRequestKind kind,
				const MxStatsCounters *delta)
{
	MxStatsKey	key;
	MxStatsEntry *entry;
	MxStatsCounters *c;

	if (shared == NULL || entries == NULL)
		return;
	memset(&key, 0, sizeof(key));
	key.dbid = MyDatabaseId;
	key.userid = userid;
	key.serverid = serverid;
	key.kind = kind;
	entry = find_entry(&key);

	/* entries are never removed while the lock is not held exclusively */
	LWLockAcquire(shared->lock, LW_SHARED);
	SpinLockAcquire(&entry->mutex);
	c = &entry->counters;
	c->requests += delta->requests;
	c->retries += delta->retries;
	c->errors_4xx += delta->errors_4xx;
	c->errors_5xx += delta->errors_5xx;
	c->errors_network += delta->errors_network;
	c->rate_limited += delta->rate_limited;
	c->bytes += delta->bytes;
	c->time_ms += delta->time_ms;
	c->wait_ms += delta->wait_ms;
	SpinLockRelease(&entry->mutex);
	LWLockRelease(shared->lock);
}

static void
check_loaded(void)
{
	if (shared == NULL || entries == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("mixpeek_stats must be loaded via \"shared_preload_libraries\"")));
}

static void
entry_values(MxStatsEntry *entry, Datum *values, bool *nulls)
{
	MxStatsCounters c;
	int			i = 0;

	SpinLockAcquire(&entry->mutex);
	c = entry->counters;
	SpinLockRelease(&entry->mutex);

	memset(nulls, 0, sizeof(bool) * MX_STATS_COLUMNS);
	values[i] = ObjectIdGetDatum(entry->key.dbid);
	nulls[i++] = !OidIsValid(entry->key.dbid);
	values[i] = ObjectIdGetDatum(entry->key.userid);
	nulls[i++] = !OidIsValid(entry->key.userid);
	values[i] = ObjectIdGetDatum(entry->key.serverid);
	nulls[i++] = !OidIsValid(entry->key.serverid);
	values[i++] = CStringGetTextDatum(kind_names[entry->key.kind]);
	values[i++] = Int64GetDatum(c.requests);
	values[i++] = Int64GetDatum(c.retries);
	values[i++] = Int64GetDatum(c.errors_4xx);
	values[i++] = Int64GetDatum(c.errors_5xx);
	values[i++] = Int64GetDatum(c.errors_network);
	values[i++] = Int64GetDatum(c.rate_limited);
	values[i++] = Int64GetDatum(c.bytes);
	values[i++] = Float8GetDatum(c.time_ms);
	values[i++] = Float8GetDatum(c.wait_ms);
}

/*
 * mixpeek_stats(): one row per entry.  EXECUTE is granted to
 * pg_read_all_stats by the extension script.
 */
Datum
mixpeek_stats(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	HASH_SEQ_STATUS status;
	MxStatsEntry *entry;

	check_loaded();
	InitMaterializedSRF(fcinfo, 0);
	LWLockAcquire(shared->lock, LW_SHARED);
	hash_seq_init(&status, entries);
	while ((entry = hash_seq_search(&status)) != NULL)
	{
		Datum		values[MX_STATS_COLUMNS];
		bool		nulls[MX_STATS_COLUMNS];

		entry_values(entry, values, nulls);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	LWLockRelease(shared->lock);
	return (Datum) 0;
}

/* mixpeek_stats_reset(): forget every entry (superusers, or as granted). */
Datum
mixpeek_stats_reset(PG_FUNCTION_ARGS)
{
	HASH_SEQ_STATUS status;
	MxStatsEntry *entry;

	check_loaded();
	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	hash_seq_init(&status, entries);
	while ((entry = hash_seq_search(&status)) != NULL)
		hash_search(entries, &entry->key, HASH_REMOVE, NULL);
	LWLockRelease(shared->lock);
	PG_RETURN_VOID();
}
