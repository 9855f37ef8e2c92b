'use strict';
/*
 * contract.js: Mixpeek's published OpenAPI (openapi/openapi-v0.81-subset.json)
 * as the mock's contract, checked with a real JSON Schema 2020-12 validator
 * (ajv's Ajv2020).
 *
 * checkRequest() matches a request to an operation and checks its query
 * parameters, headers and body; it returns the FastAPI 422 items the real
 * API would answer with, and separately what FastAPI would let through but
 * what is still a bug of the client (unknown query parameters and unknown
 * body properties, which pydantic silently drops; a missing Authorization or
 * X-Namespace header, which the API documents as REQUIRED).
 * checkResponse() validates what the mock answers against the operation's
 * response schema for that status.
 *
 * COMPAT_EXTRAS lists the request fields that the API description lacks but
 * that the client sends on purpose, so that deployments reading either name
 * behave the same (the interface contract's release notes: return_url and
 * return_presigned_urls together, the list limit in the query and the body).
 * They are accepted, not reported; nothing else is.
 */

const fs = require('fs');
const path = require('path');
const Ajv2020 = require('ajv/dist/2020');
const addFormats = require('ajv-formats');

const SPEC_FILE = path.join(__dirname, 'openapi', 'openapi-v0.81-subset.json');
const SPEC = JSON.parse(fs.readFileSync(SPEC_FILE, 'utf8'));
const SPEC_ID = 'mixpeek-openapi.json';

const COMPAT_EXTRAS = {
  'GET /v1/collections/{collection_identifier}/documents/{document_id}': { query: ['return_url'] },
  'POST /v1/collections/{collection_identifier}/documents/list': { body: ['return_presigned_urls', 'limit'] },
};

/* Headers the API marks "REQUIRED" in their descriptions (the schema says optional). */
const REQUIRED_HEADERS = ['Authorization', 'X-Namespace'];

/*
 * strict: false because an OpenAPI document is not a pure JSON Schema (its
 * "example", "paths", "info" ... are no keywords); allErrors to report every
 * item as FastAPI does; verbose for the parent schema (model or plain dict).
 */
const ajv = new Ajv2020({ strict: false, allErrors: true, verbose: true, validateFormats: true });
addFormats(ajv);
ajv.addSchema(Object.assign({}, SPEC, { $id: SPEC_ID }));

const ptr = (parts) => '#/' + parts.map((p) => String(p).replace(/~/g, '~0').replace(/\//g, '~1')).join('/');

const validators = new Map();
function validatorFor(parts) {
  const ref = SPEC_ID + ptr(parts);
  let v = validators.get(ref);
  if (!v) { v = ajv.compile({ $ref: ref }); validators.set(ref, v); }
  return v;
}

/* Follows a local $ref of the spec. */
function deref(s) {
  let n = 0;
  while (s && typeof s.$ref === 'string' && s.$ref.startsWith('#/') && n++ < 32) {
    s = s.$ref.slice(2).split('/').reduce((o, k) => o && o[k.replace(/~1/g, '/').replace(/~0/g, '~')], SPEC);
  }
  return s || {};
}

/* anyOf [X, null] is pydantic's Optional[X]: X is what the value must be. */
function unwrapNullable(s) {
  s = deref(s);
  if (Array.isArray(s.anyOf)) {
    const rest = s.anyOf.filter((b) => deref(b).type !== 'null');
    if (rest.length === 1) return deref(rest[0]);
  }
  return s;
}

/* ------------------------------------------------------------ operations */

const OPERATIONS = [];
for (const [tmpl, item] of Object.entries(SPEC.paths)) {
  const segs = tmpl.split('/');
  for (const method of ['get', 'post', 'put', 'patch', 'delete']) {
    const op = item[method];
    if (!op) continue;
    const params = (item.parameters || []).concat(op.parameters || []);
    OPERATIONS.push({
      key: `${method.toUpperCase()} ${tmpl}`, method: method.toUpperCase(), tmpl, segs,
      literals: segs.filter((s) => !s.startsWith('{')).length,
      params, op, ptr: ['paths', tmpl, method],
    });
  }
}
OPERATIONS.sort((a, b) => b.literals - a.literals);

function segsMatch(tsegs, rsegs) {
  if (tsegs.length !== rsegs.length) return false;
  for (let k = 0; k < tsegs.length; k++) {
    if (tsegs[k].startsWith('{')) { if (rsegs[k] === '') return false; } else if (tsegs[k] !== rsegs[k]) return false;
  }
  return true;
}

/* The operation for METHOD rawPath; {op:null, pathKnown} when there is none. */
function findOperation(method, rawPath) {
  const rsegs = rawPath.split('/');
  let pathKnown = false;
  for (const o of OPERATIONS) {
    if (!segsMatch(o.segs, rsegs)) continue;
    pathKnown = true;
    if (o.method === method) return { op: o, pathKnown };
  }
  return { op: null, pathKnown };
}

/* ------------------------------------------------- FastAPI's 422 items */

function item(type, loc, msg, input, ctx) {
  const e = { type, loc, msg, input: input === undefined ? null : input };
  if (ctx) e.ctx = ctx;
  return e;
}

const quoteList = (vals) => {
  const q = vals.map((v) => `'${v}'`);
  return q.length <= 1 ? q.join('') : q.slice(0, -1).join(', ') + ' or ' + q[q.length - 1];
};

/* The value at an ajv instancePath, and the path as a FastAPI loc. */
function locate(root, instancePath) {
  const loc = [];
  let v = root;
  if (instancePath) {
    for (const raw of instancePath.split('/').slice(1)) {
      const k = raw.replace(/~1/g, '/').replace(/~0/g, '~');
      if (Array.isArray(v)) { loc.push(Number(k)); v = v[Number(k)]; } else { loc.push(k); v = v == null ? undefined : v[k]; }
    }
  }
  return { loc, value: v };
}

const TYPE_ITEMS = {
  string: ['string_type', 'Input should be a valid string'],
  integer: ['int_type', 'Input should be a valid integer'],
  number: ['float_type', 'Input should be a valid number'],
  boolean: ['bool_type', 'Input should be a valid boolean'],
  array: ['list_type', 'Input should be a valid list'],
  object: ['dict_type', 'Input should be a valid dictionary'],
};

const TRUE_WORDS = ['1', 'on', 't', 'true', 'y', 'yes'];
const FALSE_WORDS = ['0', 'off', 'f', 'false', 'n', 'no'];

/* What pydantic's lax mode converts to the JSON type named, so that it is no error. */
function laxConverts(type, value) {
  if (type === 'boolean') {
    return value === 0 || value === 1
      || (typeof value === 'string' && (TRUE_WORDS.includes(value.toLowerCase()) || FALSE_WORDS.includes(value.toLowerCase())));
  }
  if (type === 'integer') return typeof value === 'string' && /^\s*[-+]?\d+\s*$/.test(value);
  if (type === 'number') return typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value));
  return false;
}

/*
 * One ajv error as pydantic would word it; null for ajv's union bookkeeping,
 * LAX for a type error that pydantic's lax mode converts away.
 */
const LAX = Symbol('lax');
function fromAjv(e, root, prefix) {
  if (e.keyword === 'anyOf' || e.keyword === 'oneOf' || e.keyword === '$ref') return null;
  if (e.keyword === 'type' && e.params.type === 'null') return null;
  const { loc, value } = locate(root, e.instancePath);
  if (e.keyword === 'type' && laxConverts(e.params.type, value)) return LAX;
  const at = prefix.concat(loc);
  const p = e.params;
  switch (e.keyword) {
    case 'type': {
      if (p.type === 'boolean' && (typeof value === 'string' || typeof value === 'number'))
        return item('bool_parsing', at, 'Input should be a valid boolean, unable to interpret input', value);
      if (p.type === 'integer' && typeof value === 'string')
        return item('int_parsing', at, 'Input should be a valid integer, unable to parse string as an integer', value);
      if (p.type === 'number' && typeof value === 'string')
        return item('float_parsing', at, 'Input should be a valid number, unable to parse string as a number', value);
      if (p.type === 'integer' && typeof value === 'number')
        return item('int_from_float', at, 'Input should be a valid integer, got a number with a fractional part', value);
      if (p.type === 'object' && e.parentSchema && e.parentSchema.properties)
        return item('model_attributes_type', at, 'Input should be a valid dictionary or object to extract fields from', value);
      const t = TYPE_ITEMS[p.type] || ['value_error', `Input should be of type ${p.type}`];
      return item(t[0], at, t[1], value);
    }
    case 'required':
      return item('missing', at.concat(p.missingProperty), 'Field required', value);
    case 'additionalProperties':
      return item('extra_forbidden', at.concat(p.additionalProperty), 'Extra inputs are not permitted',
        value == null ? null : value[p.additionalProperty]);
    case 'enum':
      return item('enum', at, `Input should be ${quoteList(p.allowedValues)}`, value, { expected: quoteList(p.allowedValues) });
    case 'const':
      return item('literal_error', at, `Input should be ${quoteList([p.allowedValue])}`, value, { expected: quoteList([p.allowedValue]) });
    case 'minimum':
      return item('greater_than_equal', at, `Input should be greater than or equal to ${p.limit}`, value, { ge: p.limit });
    case 'maximum':
      return item('less_than_equal', at, `Input should be less than or equal to ${p.limit}`, value, { le: p.limit });
    case 'exclusiveMinimum':
      return item('greater_than', at, `Input should be greater than ${p.limit}`, value, { gt: p.limit });
    case 'exclusiveMaximum':
      return item('less_than', at, `Input should be less than ${p.limit}`, value, { lt: p.limit });
    case 'minLength':
      return item('string_too_short', at, `String should have at least ${p.limit} character${p.limit === 1 ? '' : 's'}`, value, { min_length: p.limit });
    case 'maxLength':
      return item('string_too_long', at, `String should have at most ${p.limit} character${p.limit === 1 ? '' : 's'}`, value, { max_length: p.limit });
    case 'minItems':
      return item('too_short', at, `List should have at least ${p.limit} item${p.limit === 1 ? '' : 's'} after validation, not ${value.length}`, value,
        { field_type: 'List', min_length: p.limit, actual_length: value.length });
    case 'maxItems':
      return item('too_long', at, `List should have at most ${p.limit} item${p.limit === 1 ? '' : 's'} after validation, not ${value.length}`, value,
        { field_type: 'List', max_length: p.limit, actual_length: value.length });
    default:
      return item('value_error', at, `Value error, ${e.message}`, value);
  }
}

function ajvItems(validate, value, prefix) {
  if (validate(value)) return [];
  const out = [];
  const seen = new Set();
  let lax = false;
  for (const e of validate.errors) {
    const it = fromAjv(e, value, prefix);
    if (it === LAX) lax = true;
    if (!it || it === LAX) continue;
    const k = JSON.stringify([it.type, it.loc]);
    if (seen.has(k)) continue;
    seen.add(k);
    out.push(it);
  }
  // a union whose every branch failed only on its null branch: report the union itself
  if (out.length === 0 && !lax) out.push(item('value_error', prefix, 'Value error, input does not match the schema', value));
  return out;
}

/* ---------------------------------------------------- query parameters */

/* The string from the URL converted as pydantic's lax mode does, or a 422 item. */
function coerceQuery(name, raw, schema) {
  const s = unwrapNullable(schema);
  const loc = ['query', name];
  if (s.type === 'integer') {
    if (!/^\s*[-+]?\d+\s*$/.test(raw))
      return { err: item('int_parsing', loc, 'Input should be a valid integer, unable to parse string as an integer', raw) };
    return { value: Number(raw) };
  }
  if (s.type === 'number') {
    if (raw.trim() === '' || !Number.isFinite(Number(raw)))
      return { err: item('float_parsing', loc, 'Input should be a valid number, unable to parse string as a number', raw) };
    return { value: Number(raw) };
  }
  if (s.type === 'boolean') {
    const w = raw.toLowerCase();
    if (TRUE_WORDS.includes(w)) return { value: true };
    if (FALSE_WORDS.includes(w)) return { value: false };
    return { err: item('bool_parsing', loc, 'Input should be a valid boolean, unable to interpret input', raw) };
  }
  return { value: raw };
}

/* Where a parameter's schema is in the spec: the operation's own list, or its path's. */
function paramPtr(o, p) {
  const k = (o.op.parameters || []).indexOf(p);
  if (k >= 0) return o.ptr.concat('parameters', k, 'schema');
  return ['paths', o.tmpl, 'parameters', SPEC.paths[o.tmpl].parameters.indexOf(p), 'schema'];
}

function checkQuery(o, query, extras, bad, notes) {
  const known = new Set();
  for (const p of o.params) {
    if (p.in !== 'query') continue;
    known.add(p.name);
    const given = query[p.name];
    if (given === undefined) {
      if (p.required) bad.push(item('missing', ['query', p.name], 'Field required', null));
      continue;
    }
    const list = Array.isArray(given) ? given : [given];
    const isList = unwrapNullable(p.schema).type === 'array';
    const raws = isList ? list : [list[list.length - 1]];
    const values = [];
    for (const raw of raws) {
      const c = coerceQuery(p.name, raw, isList ? unwrapNullable(p.schema).items || {} : p.schema);
      if (c.err) bad.push(c.err); else values.push(c.value);
    }
    if (values.length !== raws.length) continue;
    const v = isList ? values : values[0];
    for (const it of ajvItems(validatorFor(paramPtr(o, p)), v, ['query', p.name]))
      bad.push(Object.assign(it, { input: isList ? list : raws[0] }));
  }
  for (const name of Object.keys(query)) {
    if (known.has(name) || extras.includes(name)) continue;
    notes.push({ loc: ['query', name], msg: 'unknown query parameter (the API ignores it)', input: query[name] });
  }
}

/* -------------------------------------------------------------- the body */

/* The JSON Schema type of a parsed JSON value ("integer" counts as "number" here). */
function jsonType(v) {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v === 'object' ? 'object' : typeof v === 'number' ? 'number' : typeof v;
}

/*
 * Properties pydantic would silently drop: keys of an object whose schema
 * declares its properties and says nothing of additionalProperties (false is
 * ajv's to report; true allows them).  For a union, the branch that explains
 * the most counts, as pydantic's smart union picks the best fit.
 */
function unknownProps(value, schema, loc, out, depth) {
  if (depth > 64) return;
  schema = deref(schema);
  const branches = schema.anyOf || schema.oneOf;
  if (Array.isArray(branches)) {
    let best = null;
    for (const b of branches) {
      const bs = deref(b);
      if (bs.type !== undefined && bs.type !== jsonType(value)) continue;	/* cannot be this branch */
      const found = [];
      unknownProps(value, bs, loc, found, depth + 1);
      if (best === null || found.length < best.length) best = found;
      if (found.length === 0) break;
    }
    if (best) out.push(...best);
    return;
  }
  if (Array.isArray(value)) {
    if (schema.items) value.forEach((v, k) => unknownProps(v, schema.items, loc.concat(k), out, depth + 1));
    return;
  }
  if (value === null || typeof value !== 'object') return;
  const props = schema.properties;
  for (const [k, v] of Object.entries(value)) {
    if (props && Object.prototype.hasOwnProperty.call(props, k)) unknownProps(v, props[k], loc.concat(k), out, depth + 1);
    else if (props && schema.additionalProperties === undefined)
      out.push({ loc: loc.concat(k), msg: 'unknown property (the API ignores it)', input: v });
    else if (schema.additionalProperties && typeof schema.additionalProperties === 'object')
      unknownProps(v, schema.additionalProperties, loc.concat(k), out, depth + 1);
  }
}

/*
 * FastAPI parses a body as JSON when it has no Content-Type or a JSON one
 * (application/json, application/...+json); any other leaves the raw text,
 * which no model accepts.
 */
function jsonContentType(value) {
  if (value === undefined) return true;
  const m = /^\s*application\/([^;\s]+)/i.exec(value);
  return m !== null && (m[1].toLowerCase() === 'json' || m[1].toLowerCase().endsWith('+json'));
}

function checkBody(o, bodyText, contentType, extras, bad, notes) {
  const rb = deref(o.op.requestBody);
  const media = rb.content && rb.content['application/json'];
  const empty = bodyText === null || /^\s*$/.test(bodyText);
  if (!media) {
    if (!empty) notes.push({ loc: ['body'], msg: 'this operation takes no body', input: bodyText.slice(0, 200) });
    return;
  }
  if (empty) {
    if (rb.required) bad.push(item('missing', ['body'], 'Field required', null));
    return;
  }
  if (!jsonContentType(contentType)) {
    bad.push(item('model_attributes_type', ['body'], 'Input should be a valid dictionary or object to extract fields from', bodyText));
    return;
  }
  let body;
  try { body = JSON.parse(bodyText); } catch (e) {
    const m = /position (\d+)/.exec(e.message);
    bad.push(item('json_invalid', ['body', m ? Number(m[1]) : 0], 'JSON decode error', {}, { error: e.message }));
    return;
  }
  if (body === null && !rb.required) return;
  bad.push(...ajvItems(validatorFor(o.ptr.concat('requestBody', 'content', 'application/json', 'schema')), body, ['body']));
  const found = [];
  unknownProps(body, media.schema, ['body'], found, 0);
  for (const f of found) if (!(f.loc.length === 2 && extras.includes(f.loc[1]))) notes.push(f);
}

/*
 * req: {method, rawPath, query ({name: value or [values]}), headers (Node's,
 * lower-case names), bodyText (string or null)}.  Returns {op (the operation
 * key or null), pathKnown, unprocessable (FastAPI 422 items), notes (what
 * the API lets through but a correct client never sends)}.
 */
function checkRequest(req) {
  const { op: o, pathKnown } = findOperation(req.method, req.rawPath);
  const bad = [];
  const notes = [];
  if (!o) {
    notes.push({ loc: ['path'], msg: pathKnown ? `method ${req.method} is not an operation of this path in the API`
      : 'no operation of the API has this path', input: req.rawPath });
    return { op: null, pathKnown, unprocessable: bad, notes };
  }
  const extras = COMPAT_EXTRAS[o.key] || {};
  for (const h of REQUIRED_HEADERS) {
    if (req.headers[h.toLowerCase()] === undefined)
      notes.push({ loc: ['header', h], msg: 'header the API documents as REQUIRED is missing', input: null });
  }
  checkQuery(o, req.query, extras.query || [], bad, notes);
  checkBody(o, req.bodyText, req.headers['content-type'], extras.body || [], bad, notes);
  return { op: o.key, pathKnown, unprocessable: bad, notes };
}

/*
 * Validates an answer of operation opKey (from checkRequest): the status must
 * be one the operation documents (an undocumented 4xx/5xx must at least be the
 * API's error envelope) and the body must fit its schema.  Returns a list of
 * problems, empty when the answer is right.
 */
function checkResponse(opKey, status, contentType, bodyText) {
  const o = OPERATIONS.find((x) => x.key === opKey);
  if (!o) return [];
  const responses = o.op.responses || {};
  let parts = null;
  const r = responses[String(status)] || responses[`${String(status)[0]}XX`] || responses.default;
  if (r) {
    const code = responses[String(status)] ? String(status) : responses[`${String(status)[0]}XX`] ? `${String(status)[0]}XX` : 'default';
    if (!r.content || !r.content['application/json']) return [];
    parts = o.ptr.concat('responses', code, 'content', 'application/json', 'schema');
  } else if (status >= 400) {
    parts = ['components', 'schemas', 'ErrorResponse'];
  } else {
    return [{ loc: ['status'], msg: `status ${status} is not documented for this operation`, input: status }];
  }
  if (!/^application\/json\b/i.test(contentType || ''))
    return [{ loc: ['header', 'Content-Type'], msg: 'a JSON answer must be application/json', input: contentType || null }];
  let body;
  try { body = JSON.parse(bodyText); } catch (e) {
    return [{ loc: ['body'], msg: 'the answer is not JSON: ' + e.message, input: String(bodyText).slice(0, 200) }];
  }
  const v = validatorFor(parts);
  if (v(body)) return [];
  return ajvItems(v, body, ['response']).map((it) => ({ loc: it.loc, msg: it.msg, input: it.input, schema: ptr(parts) }));
}

module.exports = { checkRequest, checkResponse, findOperation, SPEC_FILE, COMPAT_EXTRAS };
