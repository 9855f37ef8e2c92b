/*
 * POST /v1/collections/{c}/documents/aggregate of the mock Mixpeek API
 * (OpenAPI v0.81 DocumentAggregationRequest -> DocumentAggregationResponse).
 *
 * The API documents the shape of the request, not what it does with missing
 * fields or which arithmetic it uses.  The mock takes the strictest reading
 * that a client could still rely on, so that a client which only sends what
 * is exact is found out when it sends more:
 *   filters      as documents/list (the same compiler, the same semantics).
 *   group_by     [{field, alias?, date_trunc?}]; a document whose group field
 *                is missing or null belongs to NO group (it is left out);
 *                values group by JSON type and exact value (5 and "5" differ).
 *                date_trunc (year, month, week, day, hour, minute, second) of
 *                an ISO datetime string, in UTC, as "YYYY-MM-DDTHH:MM:SSZ"; a
 *                value that is not one forms no group.  date_part -> 400.
 *                The group's key is the alias (else the field).
 *   aggregations count (documents of the group; a field is ignored);
 *                count_distinct (distinct_field required: missing and null
 *                count as one more distinct value, as a $addToSet would);
 *                sum / avg (field required; numbers only, as doubles; sum of
 *                none is 0, avg of none null); min / max (field required;
 *                missing and null ignored; numbers by value, strings by UTF-8
 *                bytes, case-sensitive; a group mixing types -> 400).
 *                first/last/push/add_to_set -> 400 (not offered here).
 *   having       [{field: an aggregation alias, operator gt|gte|lt|lte|eq|ne,
 *                value}]: numeric comparison; a null metric passes none.
 *   sort_by      a group or aggregation alias, sort_direction asc|desc
 *                (default desc); nulls first for desc.  Without sort_by, groups
 *                come in the order of their first document.
 *   limit        after sorting.
 *   total_groups the number of results returned.
 *   Faults: on faultpage-<k>-<spec> collections the answer (over col_articles)
 *   comes through the fault vocabulary of the list pages (status-*, flaky-*):
 *   with k = 1 every aggregate request's; with k = 2 only that of a request
 *   grouping or aggregating a field under "_internal." (the nested part of a
 *   grouping split between a standard column's two locations), the others
 *   answer normally.
 *   A split grouping partitions the documents with the filter operators
 *   exists and is_null, read as documents/list reads them (strict: exists
 *   true holds for a present null, is_null true only for an explicit null).
 */
'use strict';

const TRUNC = {
  year: (d) => Date.UTC(d.getUTCFullYear(), 0, 1),
  month: (d) => Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1),
  week: (d) => Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() - ((d.getUTCDay() + 6) % 7)),
  day: (d) => Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()),
  hour: (d) => Math.floor(d.getTime() / 3600000) * 3600000,
  minute: (d) => Math.floor(d.getTime() / 60000) * 60000,
  second: (d) => Math.floor(d.getTime() / 1000) * 1000,
};
const OPS = new Set(['gt', 'gte', 'lt', 'lte', 'eq', 'ne']);
const NEEDS_FIELD = new Set(['sum', 'avg', 'min', 'max']);

module.exports = function install(h) {
  const { MISSING, getPath, splitPath, compileFilter, isNum, numCmp, utf8Cmp, stringify, badRequest, send } = h;

  function groupValue(doc, g) {
    const v = getPath(doc, g.parts);
    if (v === MISSING || v === null) return MISSING;
    if (!g.trunc) return v;
    const t = typeof v === 'string' ? new Date(v) : null;
    if (t === null || Number.isNaN(t.getTime())) return MISSING;
    return new Date(TRUNC[g.trunc](t)).toISOString().replace('.000Z', 'Z');
  }

  function keyOf(v) {
    if (typeof v === 'string') return 's' + v;
    if (isNum(v)) return 'n' + (typeof v === 'number' ? String(v) : v.text);
    return 'j' + stringify(v);
  }

  function parseRequest(body) {
    const groups = body.group_by.map((g, i) => {
      if (g.date_part !== undefined && g.date_part !== null) throw badRequest(`group_by[${i}]: date_part is not supported`);
      const trunc = g.date_trunc === undefined ? null : g.date_trunc;
      if (trunc !== null && !TRUNC[trunc]) throw badRequest(`group_by[${i}]: unknown date_trunc "${trunc}"`);
      return { alias: g.alias || g.field, parts: splitPath(g.field), trunc };
    });
    const aggs = body.aggregations.map((a, i) => {
      const fn = a.function;
      if (fn === 'count_distinct' && typeof a.distinct_field !== 'string') throw badRequest(`aggregations[${i}]: count_distinct needs distinct_field`);
      if (NEEDS_FIELD.has(fn) && typeof a.field !== 'string') throw badRequest(`aggregations[${i}]: ${fn} needs field`);
      if (fn !== 'count' && fn !== 'count_distinct' && !NEEDS_FIELD.has(fn)) throw badRequest(`aggregations[${i}]: function "${fn}" is not supported`);
      const path = fn === 'count_distinct' ? a.distinct_field : a.field;
      return { alias: a.alias, fn, parts: path ? splitPath(path) : null };
    });
    const aliases = new Set(aggs.map((a) => a.alias));
    for (const [i, c] of (body.having || []).entries()) {
      if (!aliases.has(c.field)) throw badRequest(`having[${i}]: "${c.field}" is not an aggregation alias`);
      if (!OPS.has(c.operator)) throw badRequest(`having[${i}]: unknown operator "${c.operator}"`);
      if (!isNum(c.value)) throw badRequest(`having[${i}]: value must be a number`);
    }
    return { groups, aggs };
  }

  function minMax(state, v, fn) {
    if (v === MISSING || v === null) return state;
    if (state === undefined) return v;
    let c;
    if (isNum(v) && isNum(state)) c = numCmp(v, state);
    else if (typeof v === 'string' && typeof state === 'string') c = utf8Cmp(v, state);
    else throw badRequest(`${fn}: a group mixes value types`);
    return (fn === 'min' ? c < 0 : c > 0) ? v : state;
  }

  function metric(a, docs) {
    if (a.fn === 'count') return docs.length;
    const vals = docs.map((d) => getPath(d, a.parts));
    if (a.fn === 'count_distinct') return new Set(vals.map((v) => (v === MISSING || v === null ? 'null' : keyOf(v)))).size;
    if (a.fn === 'min' || a.fn === 'max') {
      const r = vals.reduce((s, v) => minMax(s, v, a.fn), undefined);
      return r === undefined ? null : r;
    }
    const nums = vals.filter(isNum).map((v) => (typeof v === 'number' ? v : v.value));
    const sum = nums.reduce((s, v) => s + v, 0);
    if (a.fn === 'sum') return sum;
    return nums.length ? sum / nums.length : null;
  }

  function passes(metrics, c) {
    const m = metrics[c.field];
    if (m === null || !isNum(m)) return false;
    const d = numCmp(m, c.value);
    return { gt: d > 0, gte: d >= 0, lt: d < 0, lte: d <= 0, eq: d === 0, ne: d !== 0 }[c.operator];
  }

  function sortResults(results, body) {
    if (typeof body.sort_by !== 'string') return results;
    const desc = body.sort_direction !== 'asc';
    const val = (r) => (hasKey(r.group, body.sort_by) ? r.group[body.sort_by] : r.metrics[body.sort_by]);
    return results.slice().sort((x, y) => {
      const a = val(x);
      const b = val(y);
      if (a === null || a === undefined) return b === null || b === undefined ? 0 : (desc ? -1 : 1);
      if (b === null || b === undefined) return desc ? 1 : -1;
      const c = isNum(a) && isNum(b) ? numCmp(a, b) : utf8Cmp(String(a), String(b));
      return desc ? -c : c;
    });
  }

  const hasKey = (o, k) => Object.prototype.hasOwnProperty.call(o, k);

  /* The DocumentAggregationResponse for a collection's documents. */
  function answer(col, body) {
    const { groups, aggs } = parseRequest(body);
    const pred = compileFilter(body.filters, true, 'filters');
    const byKey = new Map();
    for (let i = 0; i < col.size; i++) {
      const d = col.docAt(i);
      if (!pred(d)) continue;
      const vals = groups.map((g) => groupValue(d, g));
      if (vals.some((v) => v === MISSING)) continue;
      const key = vals.map(keyOf).join('\u0000');
      let g = byKey.get(key);
      if (!g) { g = { vals, docs: [] }; byKey.set(key, g); }
      g.docs.push(d);
    }
    let results = [];
    for (const g of byKey.values()) {
      const group = {};
      groups.forEach((gb, k) => { group[gb.alias] = g.vals[k]; });
      const metrics = {};
      for (const a of aggs) metrics[a.alias] = metric(a, g.docs);
      if ((body.having || []).every((c) => passes(metrics, c))) results.push({ group, metrics });
    }
    results = sortResults(results, body);
    if (Number.isInteger(body.limit)) results = results.slice(0, body.limit);
    return stringify({
      results, total_groups: results.length,
      query_info: { collection_id: col.id, pipeline_stages: 2 + groups.length },
    });
  }

  /* Answers an aggregate request (true, or a promise); undefined for any other. */
  function route(ctx, segs, method, resolveCollection) {
    if (!(segs.length === 6 && segs[1] === 'v1' && segs[2] === 'collections' &&
          segs[4] === 'documents' && segs[5] === 'aggregate'))
      return undefined;
    if (method !== 'POST') throw h.methodNotAllowed('POST');
    const target = resolveCollection(ctx, segs[3]);
    const body = h.parseBodyObject(ctx);
    if (target.kind === 'faults') {
      send(ctx, 200, stringify({ results: [], total_groups: 0 }));
      return true;
    }
    const started = process.hrtime.bigint();
    const text = answer(target.col, body);
    h.noteWork(ctx, started);
    const nested = (x) => typeof x === 'string' && x.startsWith('_internal.');
    if (target.kind === 'faultpage' && target.k === 2 && !body.group_by.some((g) => nested(g.field)) &&
        !body.aggregations.some((a) => nested(a.field) || nested(a.distinct_field))) {
      send(ctx, 200, text);
      return true;
    }
    if (target.kind === 'faultpage')
      return h.serveFault(ctx, target.spec, 'list', text, 'aggregate:' + target.seg, target.seg);
    send(ctx, 200, text);
    return true;
  }

  return { route };
};
