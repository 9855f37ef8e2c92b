/*
 * Retrievers of the mock Mixpeek API (required by mixpeek-mock.js).
 *
 *   POST /v1/retrievers/{retriever_id}/execute
 *        body ExecuteRetrieverRequest {inputs, pagination, stream}
 *        -> {"documents":[document + "score"], "pagination":{"next_cursor",
 *            "has_more","total"}, "execution_metadata":{...}}
 *        Retrievers are addressed by id or name.  inputs must be an object
 *        whose keys are in the retriever's input_schema and that holds every
 *        required one (else 422, FastAPI shape).  pagination: absent (first
 *        page of 10) or {"method":"cursor","limit":1..500,"cursor":s|null}
 *        (else 422); "stream": true -> 400 (the mock does not stream).
 *        The cursor is bound to the retriever and the inputs (else 400).
 *   POST /v1/retrievers/list?limit=N&offset=K  (limit 1..1000, default 10)
 *        -> ListRetrieversResponse {"results":[RetrieverModel], "total"}:
 *        no cursor in the reply (the schema has none), so clients page by
 *        offset.
 *
 * Retrievers (in every namespace that holds col_articles):
 *   ret_articles (name article_search): col_articles; inputs query (text,
 *     required), category (string), filters (object: {field: value}, all
 *     equal, strings case-insensitively).  Score: the share of the query's
 *     distinct tokens (lower-cased letters and digits) found in the
 *     document's metadata.title and summary; documents scoring 0 are left
 *     out; ties by document_id (byte order).
 *   ret_big (name big_search): col_big, every document matches any query;
 *     score of doc i is (100000 - i) / 100000.
 *   ret_weird (name `Weird "Retriever"; drop`): as ret_articles, input
 *     "Odd Input" (text) instead of query.
 *   ret_noname (name "x".repeat(70)): a name too long for PostgreSQL.
 *   ret_clash (name clash_search): its one input is named document_id.
 * Faults: retriever faultpage-<k>-<spec> behaves as ret_big except
 * that page k (1-based) answers with <spec> (the vocabulary of col_faults).
 * fault-more-no-cursor: the first page of ret_articles with has_more true
 * and no next_cursor; fault-endless-empty: empty pages, each with a new
 * cursor, forever.
 */
'use strict';

const TOKEN_RE = /[\p{L}\p{N}]+/gu;
const tokens = (s) => (typeof s === 'string' ? s.toLowerCase().match(TOKEN_RE) || [] : []);

const ARTICLE_INPUTS = {
  query: { type: 'text', description: 'What to search for', required: true },
  category: { type: 'string', description: 'Only documents of this category', required: false },
  filters: { type: 'object', description: 'Field equalities every document must meet', required: false },
};

const RETRIEVERS = [
  { retriever_id: 'ret_articles', retriever_name: 'article_search', collection: 'col_articles', scorer: 'tokens', queryInput: 'query', input_schema: ARTICLE_INPUTS },
  { retriever_id: 'ret_big', retriever_name: 'big_search', collection: 'col_big', scorer: 'rank', queryInput: 'query',
    input_schema: { query: { type: 'text', required: true } } },
  { retriever_id: 'ret_weird', retriever_name: 'Weird "Retriever"; drop', collection: 'col_articles', scorer: 'tokens', queryInput: 'Odd Input',
    input_schema: { 'Odd Input': { type: 'text', required: true } } },
  { retriever_id: 'ret_noname', retriever_name: 'x'.repeat(70), collection: 'col_articles', scorer: 'tokens', queryInput: 'query',
    input_schema: { query: { type: 'text', required: true } } },
  { retriever_id: 'ret_clash', retriever_name: 'clash_search', collection: 'col_articles', scorer: 'tokens', queryInput: 'document_id',
    input_schema: { document_id: { type: 'text', required: true } } },
];

function model(r) {
  return {
    retriever_id: r.retriever_id,
    retriever_name: r.retriever_name,
    description: null,
    collection_ids: [r.collection],
    input_schema: r.input_schema,
    stages: [{ stage_name: 'search', stage_type: null, config: { query: `{{INPUT.${r.queryInput}}}` } }],
    budget_limits: { max_credits: null, max_time_ms: null },
    tags: [],
    is_published: false,
    version: 1,
    created_at: '2024-09-01T00:00:00Z',
    updated_at: '2024-09-01T00:00:00Z',
    created_by: null,
    updated_by: null,
  };
}

module.exports = function retrievers(api) {
  const { send, stringify, badRequest, notFound, validation, vErr, isPlainObject, hasOwn, eqVal,
    parseBodyObject, queryLimit, lastOf, encodeCursor, decodeCursor, queryHash, serveFault } = api;

  function resolve(ctx, seg) {
    if (!ctx.collections.some((c) => c.id === 'col_articles')) throw notFound('retriever', seg);
    if (seg === 'fault-more-no-cursor' || seg === 'fault-endless-empty') return { r: RETRIEVERS[0], special: seg };
    const m = /^faultpage-(\d+)-(.+)$/.exec(seg);
    if (m) return { r: RETRIEVERS[1], k: +m[1], spec: m[2], seg };
    for (const r of RETRIEVERS) if (r.retriever_id === seg || r.retriever_name === seg) return { r };
    throw notFound('retriever', seg);
  }

  function checkInputs(r, inputs) {
    if (inputs === undefined || !isPlainObject(inputs))
      throw validation([vErr(['body', 'inputs'], 'dict_type', 'Input should be a valid dictionary', inputs === undefined ? null : inputs)]);
    const errs = [];
    for (const k of Object.keys(inputs))
      if (!hasOwn(r.input_schema, k)) errs.push(vErr(['body', 'inputs', k], 'extra_forbidden', 'Input not in the retriever\'s input_schema', inputs[k]));
    for (const [k, f] of Object.entries(r.input_schema))
      if (f.required && (!hasOwn(inputs, k) || inputs[k] === null)) errs.push(vErr(['body', 'inputs', k], 'missing', 'Field required', inputs));
    if (hasOwn(inputs, 'filters') && inputs.filters !== null && !isPlainObject(inputs.filters))
      errs.push(vErr(['body', 'inputs', 'filters'], 'dict_type', 'Input should be a valid dictionary', inputs.filters));
    if (errs.length) throw validation(errs);
  }

  function pageParams(p) {
    if (p === undefined || p === null) return { limit: 10, cursor: null };
    const loc = ['body', 'pagination'];
    if (!isPlainObject(p) || (p.method !== undefined && p.method !== 'cursor'))
      throw validation([vErr(loc.concat('method'), 'literal_error', "Input should be 'cursor' (the only method of this mock)", p)]);
    const limit = p.limit === undefined ? 10 : p.limit;
    if (!Number.isInteger(limit) || limit < 1 || limit > 500)
      throw validation([vErr(loc.concat('limit'), 'less_than_equal', 'Input should be an integer from 1 to 500', limit)]);
    if (p.cursor !== undefined && p.cursor !== null && typeof p.cursor !== 'string')
      throw validation([vErr(loc.concat('cursor'), 'string_type', 'Input should be a valid string', p.cursor)]);
    return { limit, cursor: p.cursor === undefined ? null : p.cursor };
  }

  /* [index, score] of the matching documents, best first */
  function ranked(ctx, r, inputs) {
    const col = ctx.collections.find((c) => c.id === r.collection);
    if (r.scorer === 'rank') {
      return { col, n: col.size, at: (i) => [i, (col.size - i) / col.size] };
    }
    const q = [...new Set(tokens(inputs[r.queryInput]))];
    const filters = Object.entries(inputs.filters || {});
    if (typeof inputs.category === 'string') filters.push(['category', inputs.category]);
    const hits = [];
    for (let i = 0; i < col.size; i++) {
      const d = col.docAt(i);
      if (!filters.every(([k, v]) => hasOwn(d, k) && eqVal(d[k], v, true))) continue;
      const have = new Set(tokens(d.metadata && d.metadata.title).concat(tokens(d.summary)));
      const n = q.filter((t) => have.has(t)).length;
      if (n > 0) hits.push([i, n / q.length, d.document_id]);
    }
    hits.sort((a, b) => (b[1] - a[1]) || (a[2] < b[2] ? -1 : a[2] > b[2] ? 1 : 0));
    return { col, n: hits.length, at: (i) => hits[i] };
  }

  function execute(ctx, seg) {
    const t = resolve(ctx, seg);
    const body = parseBodyObject(ctx);
    if (body.stream === true) throw badRequest('Streaming is not supported by this mock');
    checkInputs(t.r, body.inputs);
    const { limit, cursor } = pageParams(body.pagination);
    const hash = queryHash([t.r.retriever_id, body.inputs]);
    let pos = 0;
    let page = 1;
    if (cursor !== null) {
      const c = decodeCursor(cursor, 'r');
      if (c.h !== hash || !Number.isInteger(c.n) || c.n < 2) throw badRequest('Cursor does not belong to this retriever and these inputs');
      pos = c.p;
      page = c.n;
    }
    if (t.special === 'fault-endless-empty') {
      return send(ctx, 200, stringify({
        documents: [],
        pagination: { next_cursor: encodeCursor({ v: 1, k: 'r', p: 0, n: page + 1, h: hash }), has_more: true },
      }));
    }
    const res = ranked(ctx, t.r, body.inputs);
    const docs = [];
    for (let i = pos; i < res.n && docs.length < limit; i++) {
      const [idx, score] = res.at(i);
      docs.push(Object.assign({}, res.col.docAt(idx), { score }));
    }
    const end = pos + docs.length;
    const next = end < res.n && t.special === undefined ? encodeCursor({ v: 1, k: 'r', p: end, n: page + 1, h: hash }) : null;
    const out = stringify({
      documents: docs,
      pagination: { next_cursor: next, has_more: next !== null || t.special !== undefined, total: res.n },
      execution_metadata: { retriever_id: t.r.retriever_id, retriever_persisted: true, page },
    });
    if (t.spec !== undefined && page === t.k)
      return serveFault(ctx, t.spec, 'list', out, 'retriever:' + t.seg, t.seg);
    return send(ctx, 200, out);
  }

  function list(ctx) {
    const limit = queryLimit(ctx.query);
    parseBodyObject(ctx);
    const off = lastOf(ctx.query.offset);
    const offset = off === undefined ? 0 : Number(off);
    if (!Number.isInteger(offset) || offset < 0 || offset > 10000)
      throw validation([vErr(['query', 'offset'], 'less_than_equal', 'Input should be an integer from 0 to 10000', off)]);
    const all = ctx.collections.some((c) => c.id === 'col_articles') ? RETRIEVERS : [];
    return send(ctx, 200, stringify({ results: all.slice(offset, offset + limit).map(model), total: all.length }));
  }

  /*
   * segs: the decoded path, segs[2] === 'retrievers'.  Returns null for a
   * path that is not a retriever route, else the (awaitable) answer.
   */
  return function handle(ctx, segs, method, methodNotAllowed) {
    if (segs.length === 4 && segs[3] === 'list') {
      if (method === 'POST') return list(ctx) || true;
      throw methodNotAllowed('POST');
    }
    if (segs.length === 5 && segs[4] === 'execute') {
      if (method === 'POST') return execute(ctx, segs[3]) || true;
      throw methodNotAllowed('POST');
    }
    return null;
  };
};
