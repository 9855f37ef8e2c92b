/*-------------------------------------------------------------------------
 *
 * cursor_set.c
 *		The cursors a paged request has followed, to detect a cycle.
 *
 * Cursors are opaque strings of any length chosen by the server, so the
 * set keeps a SHA-256 digest of each, not the cursor: memory grows by a
 * few dozen bytes a page however long the cursors are, and two cursors
 * are taken for one only when their digests are equal, which for distinct
 * cursors does not happen.  (dynahash's own string keys are cut to a fixed
 * size: two long cursors that differ past it would look like a cycle.)
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/cryptohash.h"
#include "common/sha2.h"
#include "utils/hsearch.h"

#include "cursor_set.h"

typedef struct CursorDigest
{
	uint8		bytes[PG_SHA256_DIGEST_LENGTH];
} CursorDigest;

struct MxCursorSet
{
	HTAB	   *table;
};

MxCursorSet *
mx_cursor_set_create(void)
{
	MxCursorSet *set = palloc(sizeof(MxCursorSet));
	HASHCTL		ctl;

	ctl.keysize = sizeof(CursorDigest);
	ctl.entrysize = sizeof(CursorDigest);
	ctl.hcxt = CurrentMemoryContext;
	set->table = hash_create("mixpeek cursors", 64, &ctl,
							 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	return set;
}

static void
digest(const char *cursor, CursorDigest *out)
{
	pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);

	if (ctx == NULL ||
		pg_cryptohash_init(ctx) < 0 ||
		pg_cryptohash_update(ctx, (const uint8 *) cursor, strlen(cursor)) < 0 ||
		pg_cryptohash_final(ctx, out->bytes, sizeof(out->bytes)) < 0)
	{
		pg_cryptohash_free(ctx);
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("could not compute a digest of a Mixpeek cursor")));
	}
	pg_cryptohash_free(ctx);
}

bool
mx_cursor_set_add(MxCursorSet *set, const char *cursor)
{
	CursorDigest key;
	bool		found;

	digest(cursor, &key);
	(void) hash_search(set->table, &key, HASH_ENTER, &found);
	return !found;
}
