/*
 * The mock's rate limiter: Mixpeek's tier limits, enforced per key.
 *
 * POST /_mock/config {"rate_limit": "free" | "pro" | {...} | null}
 *   free: 10 requests/s, 60/min, 5 in flight; pro: 100/s, 600/min, 50.
 *   An object gives its own {"per_second", "per_minute", "concurrent"
 *   (each optional, a positive integer), "time_scale"} where time_scale
 *   (0 < x <= 1, default 1) shortens the clock: with 0.05 a "second" lasts
 *   50 ms and a "minute" 3 s, so tests see whole windows in seconds.
 *   null (the default) refuses nothing.
 *
 * Windows are fixed (aligned to multiples of their length), per key.  An
 * accepted request carries the minute window's X-RateLimit-Limit,
 * -Remaining, -Reset (whole seconds, rounded up) and -Window (seconds,
 * scaled).  A refused one is a 429 TooManyRequestsError whose
 * X-RateLimit-* headers describe the limit it hit (for too many in flight:
 * Limit is that number, Window 0) and whose Retry-After (whole seconds,
 * at least 1) is when that window ends.  A request counts in flight from
 * its arrival to the end of its answer (or the client leaving).  Refused
 * requests count against the windows too, as they do at real gateways.
 *
 * Exports: valid(v), create() -> {admit(ctx, identity, cfg), reset(), snapshot()}.
 * admit() returns null (accepted; headers set on ctx.res) or
 * {limit, headers} for a 429.
 */
'use strict';

const TIERS = {
  free: { per_second: 10, per_minute: 60, concurrent: 5, time_scale: 1 },
  pro: { per_second: 100, per_minute: 600, concurrent: 50, time_scale: 1 },
};
const KEYS = ['per_second', 'per_minute', 'concurrent', 'time_scale'];

function resolve(v) {
  if (typeof v === 'string') return TIERS[v];
  return Object.assign({ time_scale: 1 }, v);
}

function valid(v) {
  if (v === null || (typeof v === 'string' && TIERS[v])) return true;
  if (typeof v !== 'object' || Array.isArray(v)) return false;
  const pos = (x) => x === undefined || (Number.isInteger(x) && x >= 1 && x <= 1e9);
  return Object.keys(v).every((k) => KEYS.includes(k)) && pos(v.per_second) && pos(v.per_minute) &&
    pos(v.concurrent) && (v.time_scale === undefined ||
      (typeof v.time_scale === 'number' && v.time_scale > 0 && v.time_scale <= 1));
}

function create() {
  let keys = new Map();	/* identity -> {inflight, windows: {second: {start, count}, minute: ...}} */
  let refused = { per_second: 0, per_minute: 0, concurrent: 0 };

  function windowOf(state, name, lengthMs, now) {
    const start = Math.floor(now / lengthMs) * lengthMs;
    let w = state[name];
    if (!w || w.start !== start) { w = { start, count: 0 }; state[name] = w; }
    w.count++;
    return { count: w.count, endMs: start + lengthMs - now };
  }

  const secs = (ms) => String(Math.max(1, Math.ceil(ms / 1000)));
  const headers = (limit, remaining, endMs, windowS) => ({
    'X-RateLimit-Limit': String(limit),
    'X-RateLimit-Remaining': String(Math.max(0, remaining)),
    'X-RateLimit-Reset': String(Math.max(0, Math.ceil(endMs / 1000))),
    'X-RateLimit-Window': String(windowS),
  });

  function admit(ctx, identity, cfg) {
    if (cfg === null || identity === null) return null;
    const t = resolve(cfg);
    const now = Date.now();
    let k = keys.get(identity);
    if (!k) { k = { inflight: 0 }; keys.set(identity, k); }
    const sec = windowOf(k, 'second', 1000 * t.time_scale, now);
    const min = windowOf(k, 'minute', 60000 * t.time_scale, now);
    const minuteHeaders = t.per_minute
      ? headers(t.per_minute, t.per_minute - min.count, min.endMs, +(60 * t.time_scale).toFixed(3)) : {};
    let hit = null;
    if (t.concurrent && k.inflight >= t.concurrent)
      hit = { limit: 'concurrent', headers: Object.assign({}, minuteHeaders, headers(t.concurrent, 0, 0, 0), { 'Retry-After': '1' }) };
    else if (t.per_second && sec.count > t.per_second)
      hit = { limit: 'per_second', headers: Object.assign(headers(t.per_second, 0, sec.endMs, +t.time_scale.toFixed(3)), { 'Retry-After': secs(sec.endMs) }) };
    else if (t.per_minute && min.count > t.per_minute)
      hit = { limit: 'per_minute', headers: Object.assign({}, minuteHeaders, { 'Retry-After': secs(min.endMs) }) };
    if (hit) {
      refused[hit.limit]++;
      return hit;
    }
    k.inflight++;
    let done = false;
    const leave = () => { if (!done) { done = true; k.inflight--; } };
    ctx.res.on('finish', leave);
    ctx.onClose.push(leave);
    for (const [h, v] of Object.entries(minuteHeaders)) ctx.res.setHeader(h, v);
    return null;
  }

  function reset() {
    keys = new Map();
    refused = { per_second: 0, per_minute: 0, concurrent: 0 };
  }

  function snapshot() {
    const inflight = {};
    for (const [id, k] of keys) inflight[id] = k.inflight;
    return { refused: Object.assign({}, refused), inflight };
  }

  return { admit, reset, snapshot };
}

module.exports = { valid, create, TIERS };
