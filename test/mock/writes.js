/*
 * Write endpoints of the mock Mixpeek API (OpenAPI v0.81: create, PATCH and
 * DELETE of one document, POST and DELETE .../documents/batch), on writable
 * in-memory collections that the read endpoints serve too.
 *
 * WRITABLE COLLECTIONS
 *   scratch-<anything>          empty until written, in every valid namespace;
 *                               kept until POST /_mock/reset.  The read
 *                               endpoints (GET, list) see every write.
 *   writefault-<k>-<n>-<what>-<token>
 *                               the same, except that write requests k .. k+n-1
 *                               to this exact segment (1-based, counted per
 *                               segment, reset clears) answer <what>:
 *                               status-<code>   that status, nothing applied
 *                                               (429 adds Retry-After: 0; 404 names
 *                                               the document, or the collection for
 *                                               a create)
 *                               applied-<code>  applied, then answered <code> (a
 *                                               reply lost after the write)
 *                               stall-<ms>      answered normally after <ms>
 *                                               (<= 3600000); a client that leaves
 *                                               first leaves nothing applied
 *   Writes to the read-only data collections (col_articles, ...) -> 403.
 *
 * ENDPOINTS
 *   POST   /v1/collections/{c}/documents          DocumentCreateRequest -> the document
 *          (collection_id required, the id or name of {c}; document_id is
 *          chosen by the mock: doc_w000001, doc_w000002, ... per collection;
 *          lineage fields go under _internal.lineage, any other field at the root)
 *   PATCH  /v1/collections/{c}/documents/{id}     fields merged at the root -> the document
 *   DELETE /v1/collections/{c}/documents/{id}     -> {"success":true,"message":...}
 *   POST   /v1/collections/{c}/documents/batch    {"updates":[{document_id,update_data}]} (1..1000)
 *          -> {"updated_count","failed_count","message","results":[{document_id,success,error}]}
 *   DELETE /v1/collections/{c}/documents/batch    {"document_ids":[...]} (1..1000)
 *          -> {"deleted_count","failed_count","message","results":[...]}
 *   A missing document in a batch is a failed result ("Document not found"),
 *   the others are applied.  Bad bodies -> 422 (FastAPI shape); filter mode
 *   -> 501.  Fields Mixpeek manages (document_id, collection_id, _internal)
 *   in an update -> 400.
 */
'use strict';

const LINEAGE = ['root_object_id', 'root_bucket_id', 'source_type', 'source_collection_id',
  'source_document_id', 'source_object_id'];
const MANAGED = ['document_id', 'collection_id', '_internal'];
const BATCH_MAX = 1000;
const CREATED_BASE = Date.UTC(2026, 0, 1);

function install(m) {
  const { apiError, notFound, validation, vErr, badRequest, stringify, isPlainObject, send, parseBodyObject } = m;
  let collections = new Map();	/* segment -> WritableCollection */
  let faultCounts = new Map();	/* segment -> write requests seen */

  class WritableCollection {
    constructor(seg) {
      this.id = seg;
      this.name = seg;
      this.meta = { collection_id: seg, collection_name: seg, output_schema: { properties: {} } };
      this.docs = [];
      this.index = new Map();
      this.texts = [];
      this.created = 0;
    }
    get size() { return this.docs.length; }
    idAt(i) { return this.docs[i].document_id; }
    docAt(i) { return this.docs[i]; }
    textAt(i) {
      if (!this.texts[i]) this.texts[i] = Buffer.from(stringify(this.docs[i]));
      return this.texts[i];
    }
    vectorAt() { return undefined; }
    indexOf(id) { const i = this.index.get(id); return i === undefined ? -1 : i; }

    /* Cached orders, counts and gzipped bodies of this collection are stale after a write. */
    changed() {
      for (const cache of [m.orderCache, m.countCache, m.gzipCache])
        for (const k of cache.keys()) if (k.startsWith(this.id + '\n')) cache.delete(k);
    }
    add(doc) {
      this.index.set(doc.document_id, this.docs.length);
      this.docs.push(doc);
      this.texts.push(null);
      this.changed();
    }
    update(i, data) {
      const d = Object.assign({}, this.docs[i], data);
      d._internal = Object.assign({}, d._internal, { updated_at: new Date(CREATED_BASE + 86400000).toISOString().replace('.000Z', 'Z') });
      this.docs[i] = d;
      this.texts[i] = null;
      this.changed();
      return d;
    }
    remove(ids) {
      const gone = new Set(ids);
      this.docs = this.docs.filter((d) => !gone.has(d.document_id));
      this.index = new Map(this.docs.map((d, i) => [d.document_id, i]));
      this.texts = this.docs.map(() => null);
      this.changed();
    }
  }

  const writable = (seg) => seg.startsWith('scratch-') || /^writefault-\d+-\d+-/.test(seg);

  /* The collection behind a writable segment (created on first use), or null. */
  function resolve(seg) {
    if (!writable(seg)) return null;
    let col = collections.get(seg);
    if (!col) { col = new WritableCollection(seg); collections.set(seg, col); }
    return col;
  }

  /* The fault this write request of a writefault- segment gets, or null. */
  function faultFor(seg) {
    const f = /^writefault-(\d+)-(\d+)-(status|applied|stall)-(\d+)(?:-.*)?$/.exec(seg);
    if (!f) return null;
    const nth = (faultCounts.get(seg) || 0) + 1;
    faultCounts.set(seg, nth);
    const k = +f[1];
    if (nth < k || nth >= k + +f[2]) return null;
    if (f[3] === 'stall') return { stallMs: Math.min(+f[4], 3600000) };
    return { applied: f[3] === 'applied', code: +f[4] };
  }

  function faultError(fault, resource, id) {
    if (fault.code === 404) return notFound(resource, id);
    if (fault.code === 429) return apiError(429, 'Rate limit exceeded', null, { 'Retry-After': '0' });
    if (fault.code === 422) return validation([vErr(['body'], 'value_error', 'Injected validation error', null)]);
    return apiError(fault.code);
  }

  /* Run a write, with the segment's fault before or after applying it. */
  async function withFault(ctx, seg, resource, id, apply) {
    const fault = faultFor(seg);
    if (fault && fault.stallMs !== undefined) {
      await m.sleep(ctx, fault.stallMs);
      if (ctx.closed) return true;
      send(ctx, 200, stringify(apply()));
      return true;
    }
    if (fault && !fault.applied) throw faultError(fault, resource, id);
    const reply = apply();
    if (fault) throw faultError(fault, resource, id);
    send(ctx, 200, stringify(reply));
    return true;
  }

  function checkFields(data, where) {
    for (const k of MANAGED)
      if (Object.prototype.hasOwnProperty.call(data, k))
        throw badRequest(`Field ${k} is managed by Mixpeek and cannot be updated`, { field: k, loc: where });
    if (Object.prototype.hasOwnProperty.call(data, 'vector'))
      throw badRequest('Vectors cannot be updated', { field: 'vector', loc: where });
  }

  function create(ctx, col) {
    const body = parseBodyObject(ctx);
    if (typeof body.collection_id !== 'string')
      throw validation([vErr(['body', 'collection_id'], body.collection_id === undefined ? 'missing' : 'string_type',
        body.collection_id === undefined ? 'Field required' : 'Input should be a valid string', body.collection_id)]);
    if (body.collection_id !== col.id && body.collection_id !== col.name)
      throw badRequest('collection_id does not match the collection of the path', { collection_id: body.collection_id });
    if (Object.prototype.hasOwnProperty.call(body, 'document_id') || Object.prototype.hasOwnProperty.call(body, '_internal'))
      throw badRequest('Fields managed by Mixpeek cannot be set', { fields: ['document_id', '_internal'] });
    return withFault(ctx, col.id, 'collection', col.id, () => {
      col.created++;
      const stamp = new Date(CREATED_BASE + col.created * 1000).toISOString().replace('.000Z', 'Z');
      const doc = { document_id: 'doc_w' + String(col.created).padStart(6, '0'), collection_id: col.id };
      const lineage = {};
      for (const [k, v] of Object.entries(body)) {
        if (k === 'collection_id' || k === 'document_schema_version' || k === 'features') continue;
        if (LINEAGE.includes(k)) lineage[k] = v;
        else if (k === 'lineage_path') lineage.path = v;
        else if (k === 'lineage_chain') lineage.chain = v;
        else doc[k] = v;
      }
      doc._internal = { lineage, created_at: stamp, updated_at: stamp, modality: 'text' };
      col.add(doc);
      return doc;
    });
  }

  function patch(ctx, col, id) {
    const body = parseBodyObject(ctx);
    checkFields(body, ['body']);
    return withFault(ctx, col.id, 'document', id, () => {
      const i = col.indexOf(id);
      if (i < 0) throw notFound('document', id);
      return col.update(i, body);
    });
  }

  function removeOne(ctx, col, id) {
    return withFault(ctx, col.id, 'document', id, () => {
      if (col.indexOf(id) < 0) throw notFound('document', id);
      col.remove([id]);
      return { success: true, message: 'Successfully deleted' };
    });
  }

  /* The explicit-ids list of a batch body, checked as FastAPI would (1..1000 items). */
  function batchList(body, field, check) {
    if (body.filters !== undefined && body.filters !== null)
      throw apiError(501, 'Filter mode is not implemented by the mock');
    const list = body[field];
    if (!Array.isArray(list))
      throw validation([vErr(['body', field], list === undefined || list === null ? 'missing' : 'list_type',
        list === undefined || list === null ? 'Field required' : 'Input should be a valid list', list)]);
    if (list.length < 1)
      throw validation([vErr(['body', field], 'too_short', 'List should have at least 1 item after validation, not 0', list, { min_length: 1 })]);
    if (list.length > BATCH_MAX)
      throw validation([vErr(['body', field], 'too_long', `List should have at most ${BATCH_MAX} items after validation, not ${list.length}`,
        null, { max_length: BATCH_MAX })]);
    list.forEach((item, k) => check(item, ['body', field, k]));
    return list;
  }

  function batchUpdate(ctx, col) {
    const body = parseBodyObject(ctx);
    const list = batchList(body, 'updates', (u, loc) => {
      if (!isPlainObject(u)) throw validation([vErr(loc, 'model_attributes_type', 'Input should be a valid dictionary', u)]);
      if (typeof u.document_id !== 'string') throw validation([vErr(loc.concat('document_id'), 'string_type', 'Input should be a valid string', u.document_id)]);
      if (!isPlainObject(u.update_data)) throw validation([vErr(loc.concat('update_data'), 'dict_type', 'Input should be a valid dictionary', u.update_data)]);
      checkFields(u.update_data, loc.concat('update_data'));
    });
    return withFault(ctx, col.id, 'document', null, () => {
      const results = list.map((u) => {
        const i = col.indexOf(u.document_id);
        if (i < 0) return { document_id: u.document_id, success: false, error: 'Document not found' };
        col.update(i, u.update_data);
        return { document_id: u.document_id, success: true, error: null };
      });
      const ok = results.filter((r) => r.success).length;
      return { updated_count: ok, failed_count: results.length - ok, message: `Successfully updated ${ok} document(s)`, results };
    });
  }

  function batchDelete(ctx, col) {
    const body = parseBodyObject(ctx);
    const list = batchList(body, 'document_ids', (id, loc) => {
      if (typeof id !== 'string') throw validation([vErr(loc, 'string_type', 'Input should be a valid string', id)]);
    });
    return withFault(ctx, col.id, 'document', null, () => {
      const results = [];
      const gone = [];
      for (const id of list) {
        if (col.indexOf(id) < 0 || gone.includes(id)) results.push({ document_id: id, success: false, error: 'Document not found' });
        else { gone.push(id); results.push({ document_id: id, success: true, error: null }); }
      }
      col.remove(gone);
      return { deleted_count: gone.length, failed_count: results.length - gone.length, message: `Successfully deleted ${gone.length} document(s)`, results };
    });
  }

  /*
   * The write routes: (a promise of) true once answered, undefined for
   * anything else (the read routes go on).
   * segs are the decoded path segments: ['', 'v1', 'collections', c, 'documents', ...].
   */
  function route(ctx, segs, method, resolveCollection) {
    if (segs.length < 5 || segs[1] !== 'v1' || segs[2] !== 'collections' || segs[4] !== 'documents') return undefined;
    const isCreate = segs.length === 5 && method === 'POST';
    const isBatch = segs.length === 6 && segs[5] === 'batch' && (method === 'POST' || method === 'DELETE');
    const isOne = segs.length === 6 && (method === 'PATCH' || method === 'DELETE');
    if (!isCreate && !isBatch && !isOne) return undefined;
    const col = resolve(segs[3]);
    if (!col) {
      resolveCollection(ctx, segs[3]);	/* 404 for an unknown collection */
      throw apiError(403, 'This collection is read-only in the mock', { resource: 'collection', id: segs[3] });
    }
    if (isCreate) return create(ctx, col);
    if (isBatch) return method === 'POST' ? batchUpdate(ctx, col) : batchDelete(ctx, col);
    return method === 'PATCH' ? patch(ctx, col, segs[5]) : removeOne(ctx, col, segs[5]);
  }

  function reset() {
    collections = new Map();
    faultCounts = new Map();
  }

  return { resolve, route, reset };
}

module.exports = { install };
