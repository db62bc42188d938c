import { useEffect, useState, useCallback } from 'preact/hooks';
import { href } from './paths.js';
import { reportUnauthorized, tenantHeaders } from './tenant.js';

// The UI talks to Strata only through the public HTTP API, exactly as
// Grafana would; nothing here knows about server internals.

export class ApiError extends Error {
  constructor(message, errorType, status) {
    super(message);
    this.errorType = errorType;
    this.status = status;
  }
}

/**
 * GET (or POST form-encoded, for long queries) an /api/v1 endpoint and
 * return { data, warnings, infos }. Throws ApiError with the server's
 * message on an error envelope, or a network/JSON failure. `parse` reads
 * the Response instead of res.json() (the graph's column reader).
 */
export async function api(path, params = {}, { method = 'GET', signal, parse } = {}) {
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null) continue;
    if (Array.isArray(v)) v.forEach((x) => qs.append(k, x));
    else qs.append(k, String(v));
  }
  let url = href(`/api/v1/${path}`);
  const init = { method, signal, headers: tenantHeaders({ Accept: 'application/json' }) };
  if (method === 'POST') {
    init.body = qs;
  } else if ([...qs].length > 0) {
    url += `?${qs}`;
  }
  let res;
  try {
    res = await fetch(url, init);
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(`cannot reach the server: ${e.message}`, 'network', 0);
  }
  let body;
  try {
    body = parse ? await parse(res) : await res.json();
  } catch {
    throw new ApiError(`unexpected answer from ${path} (HTTP ${res.status}): not JSON`, 'bad_response', res.status);
  }
  if (body.status !== 'success') {
    if (res.status === 401 && /X-Scope-OrgID/i.test(body.error || '')) reportUnauthorized(body.error);
    throw new ApiError(body.error || `HTTP ${res.status}`, body.errorType || 'unknown', res.status);
  }
  return { data: body.data, warnings: body.warnings || [], infos: body.infos || [] };
}

/** Loads an endpoint into a component's state: [{loading, data, error}, reload]. */

export function useApi(path, params) {
  const key = JSON.stringify([path, params]);
  const [state, setState] = useState({ loading: true });
  const [n, setN] = useState(0);
  useEffect(() => {
    const ctl = new AbortController();
    setState((s) => ({ ...s, loading: true }));
    api(path, params, { signal: ctl.signal })
      .then((r) => setState({ loading: false, data: r.data, warnings: r.warnings }))
      .catch((e) => {
        if (e.name !== 'AbortError') setState({ loading: false, error: e });
      });
    return () => ctl.abort();
  }, [key, n]);
  const reload = useCallback(() => setN((x) => x + 1), []);
  return [state, reload];
}
