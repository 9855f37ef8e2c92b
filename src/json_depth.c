/*-------------------------------------------------------------------------
 *
 * json_depth.c
 *		How deeply a JSON text nests, in plain C.
 *
 * jsonb_in recurses once per level and ends a too-deep body with a stack
 * depth error, which is not a data error; a linear scan beforehand lets
 * json.c refuse such a body with the documented SQLSTATE instead.
 *
 *-------------------------------------------------------------------------
 */
#include <stdbool.h>

#include "json_depth.h"

int
mx_json_nesting_depth(const char *data, size_t len, int limit)
{
	int			depth = 0;
	int			deepest = 0;
	bool		in_string = false;
	size_t		i;

	for (i = 0; i < len; i++)
	{
		char		c = data[i];

		if (in_string)
		{
			if (c == '\\')
				i++;
			else if (c == '"')
				in_string = false;
		}
		else if (c == '"')
			in_string = true;
		else if (c == '{' || c == '[')
		{
			if (++depth > deepest)
			{
				deepest = depth;
				if (deepest > limit)
					break;
			}
		}
		else if (c == '}' || c == ']')
			depth--;
	}
	return deepest;
}
