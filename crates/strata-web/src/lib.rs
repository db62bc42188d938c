//! Strata's web UI, served from the binary.
//!
//! The front-end lives in `web/ui/` and is built with npm into
//! `web/ui/dist/`, which is committed; this crate embeds that folder at
//! compile time, so neither `cargo build` nor the tests need npm. The build
//! writes a gzip and a brotli copy beside every file, so nothing is
//! compressed at request time: the handler only picks the copy the client
//! accepts.
//!
//! Architecture invariant: the UI reads data only through the public HTTP
//! API; this crate serves static files and knows nothing of the server's
//! state. Its only error answers are 404 for an unknown asset and 500 when
//! the binary was built without a UI bundle.

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::header::{
    ACCEPT_ENCODING, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_TYPE, ETAG, IF_NONE_MATCH, LOCATION,
    VARY,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use rust_embed::RustEmbed;
use std::sync::Arc;

#[derive(RustEmbed)]
#[folder = "../../web/ui/dist"]
#[exclude = "*.gz"]
#[exclude = "*.br"]
struct Plain;

/// The precompressed copies, looked up by the plain file's path plus
/// `.gz` or `.br`.
#[derive(RustEmbed)]
#[folder = "../../web/ui/dist"]
#[include = "*.gz"]
#[include = "*.br"]
struct Compressed;

/// The pages the single-page app renders (Prometheus 3's paths, so
/// bookmarks keep working). Each answers with index.html.
pub const UI_PATHS: &[&str] = &[
    "/query",
    "/alerts",
    "/rules",
    "/targets",
    "/service-discovery",
    "/status",
    "/tsdb-status",
    "/cardinality",
    "/flags",
    "/config",
    "/diagnose",
    "/kafka-lag",
];

const INDEX: &str = "index.html";
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const NO_CACHE: &str = "no-cache";

#[derive(Debug, thiserror::Error)]
enum WebError {
    #[error("no such file: {0}")]
    NotFound(String),
    #[error("this binary was built without the web UI (web/ui/dist/{0} missing)")]
    NotBuilt(&'static str),
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let status = match self {
            WebError::NotFound(_) => StatusCode::NOT_FOUND,
            WebError::NotBuilt(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        (
            status,
            [(
                CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            )],
            format!("{self}\n"),
        )
            .into_response()
    }
}

/// The UI's routes for a server reached at the root. Merge into the API
/// router: it holds no fallback, so unknown paths still reach the API's
/// JSON 404.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    router_at("")
}

/// The UI's routes when browsers reach Strata under `external_path` (the
/// path of `--web.external-url`, no trailing slash, "" at the root): the
/// redirects point there, and index.html names its assets there and tells
/// the app its prefix. The routes themselves stay relative; [`mount`] puts
/// them under `--web.route-prefix`.
pub fn router_at<S: Clone + Send + Sync + 'static>(external_path: &str) -> Router<S> {
    let prefix = external_path.trim_end_matches('/').to_string();
    let query_page = format!("{prefix}/query");
    let graph_target = query_page.clone();
    let page = Arc::new(IndexPage::new(&prefix));
    let mut r = Router::new()
        .route("/", get(move || async move { redirect(query_page) }))
        .route(
            "/graph",
            get(move |uri: Uri| async move { legacy_graph(&graph_target, uri) }),
        )
        .route("/assets/{*file}", get(asset));
    for path in UI_PATHS {
        let page = page.clone();
        r = r.route(
            path,
            get(move |headers: HeaderMap| async move { page.serve(&headers) }),
        );
    }
    r
}

/// Serves `app` under `route_prefix` ("" or "/" for the root, else e.g.
/// "/strata"), as Prometheus' `--web.route-prefix`: `PREFIX` and `PREFIX/`
/// redirect to the query page at `external_path`, `/` to `PREFIX`, and
/// every other path outside the prefix is 404.
pub fn mount(app: Router, route_prefix: &str, external_path: &str) -> Router {
    let prefix = route_prefix.trim_end_matches('/');
    if prefix.is_empty() {
        return app;
    }
    let query_page = format!("{}/query", external_path.trim_end_matches('/'));
    let to_prefix = prefix.to_string();
    let hint = format!("404 page not found: Strata serves under {prefix}/ (--web.route-prefix)\n");
    Router::new()
        .route("/", get(move || async move { redirect(to_prefix) }))
        .route(
            &format!("{prefix}/"),
            get(move || async move { redirect(query_page) }),
        )
        .nest(prefix, app)
        .fallback(move || async move {
            (
                StatusCode::NOT_FOUND,
                [(
                    CONTENT_TYPE,
                    HeaderValue::from_static("text/plain; charset=utf-8"),
                )],
                hint,
            )
        })
}

/// Prometheus 2's query page, still the target of Alertmanager's "source"
/// links and many dashboards: same parameters, new path.
fn legacy_graph(query_page: &str, uri: Uri) -> Response {
    let target = match uri.query() {
        Some(q) if !q.is_empty() => format!("{query_page}?{q}"),
        _ => query_page.to_string(),
    };
    redirect(target)
}

fn redirect(location: String) -> Response {
    match HeaderValue::try_from(location) {
        Ok(v) => (StatusCode::FOUND, [(LOCATION, v)]).into_response(),
        // The location is built from a URI that was already valid.
        Err(_) => (
            StatusCode::FOUND,
            [(LOCATION, HeaderValue::from_static("/query"))],
        )
            .into_response(),
    }
}

/// The marker in web/ui/index.html the app reads its path prefix from;
/// empty in the committed build, which is right for a server at the root.
const PREFIX_META: &str = r#"<meta name="strata-prefix" content="">"#;

/// index.html as served. At the root it is the embedded file with its
/// precompressed copies; under a prefix it is rewritten once, here, with
/// the prefix in the marker and in the asset URLs, and served plain (it is
/// about a kilobyte) with its own ETag.
enum IndexPage {
    Embedded,
    Prefixed { body: Bytes, etag: String },
    Missing,
}

impl IndexPage {
    fn new(prefix: &str) -> IndexPage {
        if prefix.is_empty() {
            return IndexPage::Embedded;
        }
        let Some(file) = Plain::get(INDEX) else {
            return IndexPage::Missing;
        };
        let html = String::from_utf8_lossy(&file.data);
        let body = Bytes::from(prefixed_index(&html, prefix));
        let mut etag = etag(&file.metadata.sha256_hash(), None);
        etag.pop();
        etag.push_str(&format!("-p{:016x}\"", fnv1a(prefix.as_bytes())));
        IndexPage::Prefixed { body, etag }
    }

    fn serve(&self, headers: &HeaderMap) -> Response {
        match self {
            IndexPage::Embedded => match serve(INDEX, headers, NO_CACHE) {
                Ok(r) => r,
                Err(_) => WebError::NotBuilt(INDEX).into_response(),
            },
            IndexPage::Missing => WebError::NotBuilt(INDEX).into_response(),
            IndexPage::Prefixed { body, etag } => {
                let mut out = HeaderMap::new();
                out.insert(CONTENT_TYPE, HeaderValue::from_static(content_type(INDEX)));
                out.insert(CACHE_CONTROL, HeaderValue::from_static(NO_CACHE));
                out.insert(VARY, HeaderValue::from_static("Accept-Encoding"));
                if let Ok(v) = HeaderValue::try_from(etag.as_str()) {
                    out.insert(ETAG, v);
                }
                if if_none_match(headers, etag) {
                    return (StatusCode::NOT_MODIFIED, out).into_response();
                }
                (StatusCode::OK, out, Body::from(body.clone())).into_response()
            }
        }
    }
}

/// index.html for a UI under `prefix`: the marker carries it, and the
/// root-relative asset URLs the build wrote move under it.
fn prefixed_index(html: &str, prefix: &str) -> String {
    let escaped = html_escape(prefix);
    html.replace(
        PREFIX_META,
        &format!(r#"<meta name="strata-prefix" content="{escaped}">"#),
    )
    .replace(r#"href="/assets/"#, &format!(r#"href="{escaped}/assets/"#))
    .replace(r#"src="/assets/"#, &format!(r#"src="{escaped}/assets/"#))
}

fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// A stable hash for the ETag of a rewritten index (not for security).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn if_none_match(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"))
}

async fn asset(uri: Uri, headers: HeaderMap) -> Response {
    // Keyed by the request path so a percent-encoded name can never reach
    // outside assets/ (rust-embed's keys are the files it holds, nothing more).
    let path = uri.path().trim_start_matches('/');
    match serve(path, &headers, IMMUTABLE) {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

/// Answers with `path`, choosing brotli, gzip or the plain bytes from the
/// client's Accept-Encoding; 304 when its ETag matches.
fn serve(path: &str, headers: &HeaderMap, cache: &'static str) -> Result<Response, WebError> {
    let file = Plain::get(path).ok_or_else(|| WebError::NotFound(path.to_string()))?;
    let accepted = accepted_encodings(headers);
    let encoded = [Encoding::Br, Encoding::Gzip]
        .into_iter()
        .filter(|e| accepted.contains(e))
        .find_map(|e| Compressed::get(&format!("{path}.{}", e.extension())).map(|c| (e, c)));
    let etag = etag(
        &file.metadata.sha256_hash(),
        encoded.as_ref().map(|(e, _)| *e),
    );
    let mut out = HeaderMap::new();
    out.insert(CONTENT_TYPE, HeaderValue::from_static(content_type(path)));
    out.insert(CACHE_CONTROL, HeaderValue::from_static(cache));
    out.insert(VARY, HeaderValue::from_static("Accept-Encoding"));
    if let Ok(v) = HeaderValue::try_from(etag.as_str()) {
        out.insert(ETAG, v);
    }
    if if_none_match(headers, &etag) {
        return Ok((StatusCode::NOT_MODIFIED, out).into_response());
    }
    let body = match encoded {
        Some((enc, c)) => {
            out.insert(CONTENT_ENCODING, HeaderValue::from_static(enc.token()));
            c.data
        }
        None => file.data,
    };
    Ok((StatusCode::OK, out, Body::from(body.into_owned())).into_response())
}

/// A strong validator per representation: the content hash, plus the
/// encoding, since a strong tag may not be shared by a gzip and a brotli
/// body of the same file.
fn etag(hash: &[u8; 32], encoding: Option<Encoding>) -> String {
    let mut s = String::with_capacity(2 + 32 + 5);
    s.push('"');
    for b in &hash[..16] {
        s.push_str(&format!("{b:02x}"));
    }
    if let Some(e) = encoding {
        s.push('-');
        s.push_str(e.extension());
    }
    s.push('"');
    s
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Br,
    Gzip,
}

impl Encoding {
    fn token(self) -> &'static str {
        match self {
            Encoding::Br => "br",
            Encoding::Gzip => "gzip",
        }
    }

    /// The suffix of the precompressed copy in dist/.
    fn extension(self) -> &'static str {
        match self {
            Encoding::Br => "br",
            Encoding::Gzip => "gz",
        }
    }
}

/// The encodings the client takes, from every Accept-Encoding header:
/// `q=0` refuses one, and `*` stands for any not named.
fn accepted_encodings(headers: &HeaderMap) -> Vec<Encoding> {
    let mut named: Vec<(String, bool)> = Vec::new();
    for v in headers
        .get_all(ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
    {
        for item in v.split(',') {
            let mut parts = item.split(';');
            let name = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            if name.is_empty() {
                continue;
            }
            let refused = parts.any(|p| {
                let p = p.trim();
                p.strip_prefix("q=")
                    .or_else(|| p.strip_prefix("Q="))
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            named.push((name, !refused));
        }
    }
    let star = named.iter().find(|(n, _)| n == "*").map(|(_, ok)| *ok);
    [Encoding::Br, Encoding::Gzip]
        .into_iter()
        .filter(|e| {
            let alias = if *e == Encoding::Gzip { "x-gzip" } else { "" };
            match named.iter().find(|(n, _)| n == e.token() || n == alias) {
                Some((_, ok)) => *ok,
                None => star.unwrap_or(false),
            }
        })
        .collect()
}

fn content_type(path: &str) -> &'static str {
    let ext = path.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
    match ext {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// Names of the embedded assets (for tests and the startup log).
pub fn asset_paths() -> impl Iterator<Item = String> {
    Plain::iter().map(|p| p.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Request;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    async fn get(path: &str, headers: &[(&str, &str)]) -> Response {
        get_from(router::<()>(), path, headers).await
    }

    fn header<'a>(r: &'a Response, name: &str) -> &'a str {
        r.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    async fn body(r: Response) -> Vec<u8> {
        match r.into_body().collect().await {
            Ok(b) => b.to_bytes().to_vec(),
            Err(e) => panic!("body: {e}"),
        }
    }

    fn js_asset() -> String {
        asset_paths()
            .find(|p| p.starts_with("assets/") && p.ends_with(".js"))
            .unwrap_or_else(|| panic!("no js asset embedded: run `npm run build` in web/ui"))
    }

    #[tokio::test]
    async fn root_redirects_to_query() {
        let r = get("/", &[]).await;
        assert_eq!(r.status(), StatusCode::FOUND);
        assert_eq!(header(&r, "location"), "/query");
    }

    #[tokio::test]
    async fn graph_redirect_keeps_the_panel_parameters() {
        let r = get("/graph?g0.expr=up&g0.tab=1", &[]).await;
        assert_eq!(r.status(), StatusCode::FOUND);
        assert_eq!(header(&r, "location"), "/query?g0.expr=up&g0.tab=1");
    }

    #[tokio::test]
    async fn every_ui_path_serves_index_uncached() {
        for path in UI_PATHS {
            let r = get(path, &[]).await;
            assert_eq!(r.status(), StatusCode::OK, "{path}");
            assert_eq!(header(&r, "cache-control"), "no-cache", "{path}");
            assert_eq!(header(&r, "content-type"), "text/html; charset=utf-8");
            let b = body(r).await;
            let html = String::from_utf8_lossy(&b);
            assert!(html.contains("<div id=\"app\">"), "{path}: {html}");
        }
    }

    #[tokio::test]
    async fn index_names_assets_that_exist() {
        let b = body(get("/query", &[]).await).await;
        let html = String::from_utf8_lossy(&b).into_owned();
        let mut found = 0;
        for part in html.split("\"/assets/").skip(1) {
            let name = part.split('"').next().unwrap_or("");
            let r = get(&format!("/assets/{name}"), &[]).await;
            assert_eq!(r.status(), StatusCode::OK, "{name}");
            found += 1;
        }
        assert!(
            found >= 2,
            "index.html should name a script and a stylesheet"
        );
    }

    #[tokio::test]
    async fn assets_are_immutable_with_their_type() {
        let js = js_asset();
        let r = get(&format!("/{js}"), &[]).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(header(&r, "content-type"), "text/javascript; charset=utf-8");
        assert_eq!(header(&r, "cache-control"), IMMUTABLE);
        assert_eq!(header(&r, "content-encoding"), "");
        let plain = body(r).await;
        assert!(!plain.is_empty());
    }

    #[tokio::test]
    async fn picks_the_encoding_the_client_accepts() {
        let js = format!("/{}", js_asset());
        let plain = body(get(&js, &[]).await).await;

        let br = get(&js, &[("accept-encoding", "gzip, deflate, br")]).await;
        assert_eq!(header(&br, "content-encoding"), "br");
        assert_eq!(header(&br, "vary"), "Accept-Encoding");
        let br_len = body(br).await.len();
        assert!(br_len < plain.len());

        let gz = get(&js, &[("accept-encoding", "gzip")]).await;
        assert_eq!(header(&gz, "content-encoding"), "gzip");
        let gz_body = body(gz).await;
        assert_eq!(&gz_body[..2], &[0x1f, 0x8b], "gzip magic");

        let refused = get(&js, &[("accept-encoding", "br;q=0, gzip;q=0.5")]).await;
        assert_eq!(header(&refused, "content-encoding"), "gzip");

        let none = get(&js, &[("accept-encoding", "identity")]).await;
        assert_eq!(header(&none, "content-encoding"), "");
        assert_eq!(body(none).await, plain);

        let star = get(&js, &[("accept-encoding", "*;q=1, br;q=0")]).await;
        assert_eq!(header(&star, "content-encoding"), "gzip");
    }

    #[tokio::test]
    async fn etag_gives_not_modified() {
        let r = get("/query", &[]).await;
        let tag = header(&r, "etag").to_string();
        assert!(tag.starts_with('"') && tag.len() > 10, "{tag}");
        let again = get("/query", &[("if-none-match", &tag)]).await;
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
        let other = get("/query", &[("if-none-match", "\"nope\"")]).await;
        assert_eq!(other.status(), StatusCode::OK);

        // Each encoding is its own representation with its own tag.
        let br = get("/query", &[("accept-encoding", "br")]).await;
        let br_tag = header(&br, "etag").to_string();
        assert_ne!(br_tag, tag);
        let again = get(
            "/query",
            &[("accept-encoding", "br"), ("if-none-match", &br_tag)],
        )
        .await;
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
        let switched = get(
            "/query",
            &[("accept-encoding", "gzip"), ("if-none-match", &br_tag)],
        )
        .await;
        assert_eq!(switched.status(), StatusCode::OK);
    }

    #[tokio::test]
    async fn unknown_assets_are_404() {
        for path in [
            "/assets/nope.js",
            "/assets/../index.html",
            "/assets/%2e%2e/index.html",
        ] {
            let r = get(path, &[]).await;
            assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
        }
    }

    async fn get_from(app: Router, path: &str, headers: &[(&str, &str)]) -> Response {
        let mut req = Request::get(path);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = match req.body(Body::empty()) {
            Ok(r) => r,
            Err(e) => panic!("bad request in test: {e}"),
        };
        match app.oneshot(req).await {
            Ok(r) => r,
            Err(e) => match e {},
        }
    }

    fn mounted() -> Router {
        mount(router_at("/strata"), "/strata", "/strata")
    }

    #[tokio::test]
    async fn the_committed_index_carries_the_prefix_marker() {
        let b = body(get("/query", &[]).await).await;
        let html = String::from_utf8_lossy(&b);
        assert!(html.contains(PREFIX_META), "{html}");
        assert!(html.contains(r#"src="/assets/"#), "{html}");
        assert!(html.contains(r#"href="/assets/"#), "{html}");
    }

    #[tokio::test]
    async fn under_a_prefix_every_path_moves_and_the_rest_is_404() {
        let r = get_from(mounted(), "/strata/", &[]).await;
        assert_eq!(r.status(), StatusCode::FOUND);
        assert_eq!(header(&r, "location"), "/strata/query");
        let r = get_from(mounted(), "/strata", &[]).await;
        assert_eq!(header(&r, "location"), "/strata/query");
        let r = get_from(mounted(), "/", &[]).await;
        assert_eq!(header(&r, "location"), "/strata");
        let r = get_from(mounted(), "/strata/graph?g0.expr=up", &[]).await;
        assert_eq!(header(&r, "location"), "/strata/query?g0.expr=up");
        for path in ["/query", "/assets/x.js", "/strataquery", "/other/query"] {
            let r = get_from(mounted(), path, &[]).await;
            assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
        }

        let r = get_from(
            mounted(),
            "/strata/tsdb-status",
            &[("accept-encoding", "br")],
        )
        .await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(header(&r, "cache-control"), "no-cache");
        assert_eq!(header(&r, "content-encoding"), "");
        let tag = header(&r, "etag").to_string();
        let html = String::from_utf8_lossy(&body(r).await).into_owned();
        assert!(
            html.contains(r#"<meta name="strata-prefix" content="/strata">"#),
            "{html}"
        );
        let assets: Vec<&str> = html
            .split("\"/strata/assets/")
            .skip(1)
            .filter_map(|p| p.split('"').next())
            .collect();
        assert_eq!(assets.len(), 2, "{html}");
        assert!(!html.contains("\"/assets/"), "{html}");
        for a in assets {
            let r = get_from(mounted(), &format!("/strata/assets/{a}"), &[]).await;
            assert_eq!(r.status(), StatusCode::OK, "{a}");
            assert_eq!(header(&r, "cache-control"), IMMUTABLE);
        }

        // Its own validator: not the root index's, and it revalidates.
        let root_tag = header(&get("/query", &[]).await, "etag").to_string();
        assert_ne!(tag, root_tag);
        let again = get_from(mounted(), "/strata/query", &[("if-none-match", &tag)]).await;
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    }

    #[tokio::test]
    async fn links_follow_the_external_path_when_a_proxy_strips_it() {
        // --web.external-url=http://proxy/strata/ --web.route-prefix=/
        let app = mount(router_at("/strata"), "/", "/strata");
        let r = get_from(app.clone(), "/", &[]).await;
        assert_eq!(header(&r, "location"), "/strata/query");
        let html =
            String::from_utf8_lossy(&body(get_from(app, "/query", &[]).await).await).into_owned();
        assert!(html.contains(r#"content="/strata""#), "{html}");
    }

    #[test]
    fn the_prefix_is_escaped_in_html() {
        let html = format!("{PREFIX_META}<script src=\"/assets/a.js\">");
        let out = prefixed_index(&html, "/a\"b&c");
        assert!(out.contains(r#"content="/a&quot;b&amp;c""#), "{out}");
        assert!(
            out.contains(r#"src="/a&quot;b&amp;c/assets/a.js""#),
            "{out}"
        );
    }

    #[test]
    fn accept_encoding_parsing() {
        let h = |v: &str| {
            let mut m = HeaderMap::new();
            if let Ok(v) = HeaderValue::from_str(v) {
                m.insert(ACCEPT_ENCODING, v);
            }
            accepted_encodings(&m)
        };
        assert_eq!(h(""), vec![]);
        assert_eq!(h("gzip, br"), vec![Encoding::Br, Encoding::Gzip]);
        assert_eq!(h("BR;q=0.1"), vec![Encoding::Br]);
        assert_eq!(h("x-gzip"), vec![Encoding::Gzip]);
        assert_eq!(h("*"), vec![Encoding::Br, Encoding::Gzip]);
        assert_eq!(h("gzip;q=0, *"), vec![Encoding::Br]);
        assert_eq!(h("gzip; q=0.000"), vec![]);
    }
}
