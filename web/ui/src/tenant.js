// The tenant the UI acts for under `strata run --multi-tenant`, sent as
// X-Scope-OrgID on every API call. Set in the header's field, or by a link
// with ?tenant=NAME; remembered in localStorage. Empty means no header
// (what a single-tenant server expects).
const KEY = 'strata.tenant';
const listeners = new Set();

function initial() {
  // Outside a browser (node's unit tests import the API module): no tenant.
  if (typeof window === 'undefined') return '';
  const fromUrl = new URLSearchParams(window.location.search).get('tenant');
  if (fromUrl !== null) {
    store(fromUrl.trim());
    return fromUrl.trim();
  }
  try {
    return localStorage.getItem(KEY) || '';
  } catch {
    return '';
  }
}

function store(t) {
  try {
    if (t) localStorage.setItem(KEY, t);
    else localStorage.removeItem(KEY);
  } catch {
    // Private mode: the tenant lasts for this page only.
  }
}

let current = initial();

export function tenant() {
  return current;
}

export function setTenant(t) {
  const next = t.trim();
  if (next === current) return;
  current = next;
  store(next);
  listeners.forEach((f) => f(next));
}

export function onTenantChange(f) {
  listeners.add(f);
  return () => listeners.delete(f);
}

/** Headers for an API request: X-Scope-OrgID when a tenant is set. */
export function tenantHeaders(headers = {}) {
  return current ? { ...headers, 'X-Scope-OrgID': current } : headers;
}

// A 401 naming the header means the server is multi-tenant and this
// request had no (or a bad) tenant: the header's field asks for one.
export const TENANT_REQUIRED = 'strata:tenant-required';

export function reportUnauthorized(message) {
  window.dispatchEvent(new CustomEvent(TENANT_REQUIRED, { detail: message }));
}
