/*-------------------------------------------------------------------------
 *
 * cursor_set.h
 *		The cursors a paged request has followed, to detect a cycle.
 *
 * A server that hands back a cursor seen before would make a list that
 * never ends (A -> B -> A ...).  Comparing with the previous cursor only
 * catches a cycle of one page; this set catches any.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MIXPEEK_CURSOR_SET_H
#define MIXPEEK_CURSOR_SET_H

typedef struct MxCursorSet MxCursorSet;

/* An empty set in CurrentMemoryContext. */
extern MxCursorSet *mx_cursor_set_create(void);

/* Add a cursor; false when it was already there (a cycle). */
extern bool mx_cursor_set_add(MxCursorSet *set, const char *cursor);

#endif							/* MIXPEEK_CURSOR_SET_H */
