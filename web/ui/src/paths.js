// Where the UI lives. Under --web.route-prefix / --web.external-url with a
// path (say /strata), the server writes that path into index.html's
// strata-prefix marker; every API call and every link goes through here so
// the UI works the same under a prefix as at the root.
const meta = typeof document !== 'undefined' ? document.querySelector('meta[name="strata-prefix"]') : null;

/** The path prefix, without a trailing slash: "" at the root, else e.g. "/strata". */
export const PREFIX = ((meta && meta.getAttribute('content')) || '').replace(/\/+$/, '');

/** A UI or API path ("/query", "/api/v1/labels") as the browser must request it. */
export function href(path) {
  return PREFIX + path;
}

/** The UI page the browser shows, without the prefix: "/query". */
export function pagePath(pathname = window.location.pathname) {
  if (PREFIX && (pathname === PREFIX || pathname.startsWith(`${PREFIX}/`))) return pathname.slice(PREFIX.length) || '/';
  return pathname;
}
