/*-------------------------------------------------------------------------
 *
 * cursor_set.c
 *		The cursors a paged request has followed, to detect a cycle.
 *
 * Cursors are opaque strings of any length, so they are kept whole and
 * found by a hash of every byte: dynahash's own string keys are cut to
 * a fixed size, and two long cursors differing only past it would look
 * like a cycle.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/hashfn.h"
#include "nodes/pg_list.h"
#include "utils/hsearch.h"

#include "cursor_set.h"

typedef struct CursorEntry
{
	uint64		hash;			/* the key */
	List	   *cursors;		/* every cursor of this hash */
} CursorEntry;

struct MxCursorSet
{
	HTAB	   *table;
	MemoryContext cxt;
};

MxCursorSet *
mx_cursor_set_create(void)
{
	MxCursorSet *set = palloc(sizeof(MxCursorSet));
	HASHCTL		ctl;

	ctl.keysize = sizeof(uint64);
	ctl.entrysize = sizeof(CursorEntry);
	ctl.hcxt = CurrentMemoryContext;
	set->cxt = CurrentMemoryContext;
	set->table = hash_create("mixpeek cursors", 64, &ctl,
							 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	return set;
}

bool
mx_cursor_set_add(MxCursorSet *set, const char *cursor)
{
	uint64		hash = hash_bytes_extended((const unsigned char *) cursor,
										   (int) strlen(cursor), 0);
	CursorEntry *entry;
	bool		found;
	ListCell   *lc;
	MemoryContext old;

	entry = hash_search(set->table, &hash, HASH_ENTER, &found);
	if (!found)
		entry->cursors = NIL;
	foreach(lc, entry->cursors)
	{
		if (strcmp((const char *) lfirst(lc), cursor) == 0)
			return false;
	}
	old = MemoryContextSwitchTo(set->cxt);
	entry->cursors = lappend(entry->cursors, pstrdup(cursor));
	MemoryContextSwitchTo(old);
	return true;
}
