/*-------------------------------------------------------------------------
 *
 * control.h
 *		Reading the API's control replies (error envelopes, the fields of
 *		collection lists) with jansson, in plain C.
 *
 * No PostgreSQL here, so that test/fuzz/ can exercise it on its own;
 * api.c copies what it needs into palloc'd memory and frees the rest at
 * once.  Documents and list pages (their results and cursors) are not read
 * here: they go through PostgreSQL's jsonb, which keeps every digit of a
 * number.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MIXPEEK_CONTROL_H
#define MIXPEEK_CONTROL_H

#include <stdbool.h>
#include <stddef.h>

#include "mixpeek_limits.h"

/*
 * An error body: Mixpeek's {"success": false, "status": N, "error":
 * {"type", "message", "details"}} or FastAPI's {"detail": [...]} or
 * {"detail": "..."}.  Every string is malloc'd (NULL when absent) and
 * valid UTF-8; type and message are the API's own, the other strings
 * bounded and without control characters.
 */
typedef struct MxControlError
{
	bool		is_envelope;	/* one of the two shapes */
	bool		is_mixpeek;		/* Mixpeek's own {"error": {...}} */
	bool		has_document_id;	/* error.details.document_id is set */
	char	   *type;
	char	   *message;
	char	   *resource;		/* error.details.resource */
	char	   *field;			/* error.details.field: the part rejected */
	char	   *operator;		/* error.details.operator */

	/*
	 * The details, one "location: message" line each: FastAPI's detail[]
	 * entries, error.details.validation_errors[], or error.details' other
	 * members.  more_details counts those left out.
	 */
	int			ndetails;
	int			more_details;
	char	   *details[MX_ERROR_DETAILS_MAX];
} MxControlError;

/*
 * Read an error body of len bytes (not NUL-terminated).  Fills *err (all
 * zero for a body that is neither shape) and returns err->is_envelope.
 * Release with mx_control_error_free() whatever it returned.
 */
extern bool mx_control_read_error(const char *body, size_t len,
								  MxControlError *err);
extern void mx_control_error_free(MxControlError *err);

/*
 * The field names of each collection of a collection list page, in the
 * order the body gives them (jsonb sorts an object's keys, jansson keeps
 * them): the keys of results[i].output_schema.properties.  A key the body
 * repeats is there once, where it first appears.  Everything malloc'd.
 */
typedef struct MxControlSchemas
{
	int			nresults;		/* elements of "results" */
	int		   *nfields;		/* per element: its fields (0: none) */
	char	 ***fields;			/* per element: their names */
} MxControlSchemas;

/*
 * Read a collection list body of len bytes.  False (and *out empty) when
 * jansson cannot read it, it has no "results" array, or memory runs out.
 * Release with mx_control_schemas_free() whatever it returned.
 */
extern bool mx_control_read_schemas(const char *body, size_t len,
									MxControlSchemas *out);
extern void mx_control_schemas_free(MxControlSchemas *out);

#endif							/* MIXPEEK_CONTROL_H */
