/*-------------------------------------------------------------------------
 *
 * float_bounds.h
 *		The bounds that carry a double precision comparison to the API, in
 *		plain C.
 *
 * No PostgreSQL here, so that test/fuzz/ can exercise it on its own;
 * deparse.c uses it when it sends a condition on a double precision column.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MIXPEEK_FLOAT_BOUNDS_H
#define MIXPEEK_FLOAT_BOUNDS_H

/* Room for one bound: "%.17g" of a double, sign and exponent included. */
#define MX_DOUBLE_TEXT_SIZE 32

/*
 * The neighbours of d, the doubles just below and just above it, as JSON
 * numbers that read back as exactly those doubles.  Every decimal that
 * rounds to d lies strictly between them.  A neighbour past the largest
 * finite double is written as "": there is no bound on that side (JSON has
 * no infinity, and no finite decimal is beyond it).
 */
extern void mx_double_neighbours(double d, char *below, char *above);

#endif							/* MIXPEEK_FLOAT_BOUNDS_H */
