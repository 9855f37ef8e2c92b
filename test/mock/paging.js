/*
 * paging.js: the two pagination styles of the mock's document lists.
 *
 * cursor (default): {"next_cursor": s|null, "has_more": b}, and with
 *   ?include_total=true also "total" (documents matching the query),
 *   "page", "page_size" and "total_pages" (PaginationResponse).
 * offset: no cursor, as in the published list example:
 *   {"has_more": b, "limit": N, "offset": O, "total_count": T}; the next
 *   page is asked for with ?offset=O+N.  A cursor sent to such a
 *   collection is a 400 (this mock's choice, so a client that invents one
 *   is caught).
 * Both take ?offset= (0..10000, as the OpenAPI bounds it; 422 past it) as
 * the first position when no cursor is given.
 *
 * Which style a collection uses: config.pagination[<collection id or
 * name>] (POST /_mock/config {"pagination": {"col_articles": "offset"}}),
 * else the style of the namespace in data/collections.json
 * ("namespace_pagination": {"offset": "offset"}: the namespace "offset"
 * holds offset-style copies of the same collections), else "cursor".
 */
'use strict';

const STYLES = ['cursor', 'offset'];
const MAX_OFFSET = 10000;

function validPagination(v) {
  return v !== null && typeof v === 'object' && !Array.isArray(v) &&
    Object.values(v).every((s) => STYLES.includes(s));
}

function styleOf(config, namespaceStyles, namespace, col) {
  const c = config.pagination || {};
  if (Object.prototype.hasOwnProperty.call(c, col.id)) return c[col.id];
  if (Object.prototype.hasOwnProperty.call(c, col.name)) return c[col.name];
  if (namespaceStyles && Object.prototype.hasOwnProperty.call(namespaceStyles, namespace)) return namespaceStyles[namespace];
  return 'cursor';
}

/* ?offset=, checked as FastAPI checks an int query parameter; 0 when absent. */
function queryOffset(raw, validation, vErr) {
  if (raw === undefined) return 0;
  if (!/^\s*[-+]?\d+\s*$/.test(raw))
    throw validation([vErr(['query', 'offset'], 'int_parsing', 'Input should be a valid integer, unable to parse string as an integer', raw)]);
  const n = Number(raw);
  if (n < 0) throw validation([vErr(['query', 'offset'], 'greater_than_equal', 'Input should be greater than or equal to 0', raw, { ge: 0 })]);
  if (n > MAX_OFFSET) throw validation([vErr(['query', 'offset'], 'less_than_equal', `Input should be less than or equal to ${MAX_OFFSET}`, raw, { le: MAX_OFFSET })]);
  return n;
}

/*
 * The "pagination" object of a page.  p: {style, cursor (next, or null),
 * hasMore, limit, offset (of this page's first match), page, total,
 * includeTotal}.
 */
function pagination(p) {
  if (p.style === 'offset')
    return { has_more: p.hasMore, limit: p.limit, offset: p.offset, total_count: p.total };
  const out = { next_cursor: p.cursor, has_more: p.hasMore };
  if (p.includeTotal) {
    out.total = p.total;
    out.page = p.page;
    out.page_size = p.limit;
    out.total_pages = Math.ceil(p.total / p.limit);
  }
  return out;
}

module.exports = { STYLES, MAX_OFFSET, validPagination, styleOf, queryOffset, pagination };
