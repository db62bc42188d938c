//! The web UI as the real binary serves it: `/` sends a browser to the
//! query page, every UI page answers index.html uncached, the hashed assets
//! are immutable with their content type and the precompressed copy the
//! client accepts, and the API keeps its own JSON 404 beside the UI.

mod support;

use std::io::Read;
use std::path::PathBuf;
use support::{Server, TestResult};

const UI_PAGES: [&str; 12] = [
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

fn dist(path: &str) -> PathBuf {
    PathBuf::from(format!(
        "{}/../../web/ui/dist/{path}",
        std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").into())
    ))
}

/// A client that shows redirects instead of following them and asks for
/// no encoding unless a test sets Accept-Encoding itself (reqwest is built
/// without its decompression features, so bodies arrive as sent).
fn raw_client() -> reqwest::blocking::Client {
    support::http_builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap_or_else(|e| panic!("client: {e}"))
}

fn header(r: &reqwest::blocking::Response, name: &str) -> String {
    r.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

/// The asset paths index.html names, e.g. `/assets/main-AB12CD34.js`.
fn assets_in(html: &str) -> Vec<String> {
    html.split("\"/assets/")
        .skip(1)
        .filter_map(|part| part.split('"').next())
        .map(|name| format!("/assets/{name}"))
        .collect()
}

#[test]
fn root_redirects_to_the_query_page_and_prometheus_2_links_keep_their_panels() -> TestResult {
    let dir = tempfile::tempdir()?;
    let s = Server::start(dir.path(), &[]);
    let c = raw_client();

    let r = c.get(s.url("/")).send()?;
    assert_eq!(r.status().as_u16(), 302);
    assert_eq!(header(&r, "location"), "/query");

    let r = c
        .get(s.url("/graph?g0.expr=up&g0.tab=1&g0.range_input=1h"))
        .send()?;
    assert_eq!(r.status().as_u16(), 302);
    assert_eq!(
        header(&r, "location"),
        "/query?g0.expr=up&g0.tab=1&g0.range_input=1h"
    );
    s.stop();
    Ok(())
}

#[test]
fn ui_pages_serve_index_uncached_and_name_assets_that_exist() -> TestResult {
    let dir = tempfile::tempdir()?;
    let s = Server::start(dir.path(), &[]);
    let c = raw_client();
    let committed = std::fs::read_to_string(dist("index.html"))?;

    for page in UI_PAGES {
        let r = c.get(s.url(page)).send()?;
        assert_eq!(r.status().as_u16(), 200, "{page}");
        assert_eq!(header(&r, "content-type"), "text/html; charset=utf-8");
        assert_eq!(header(&r, "cache-control"), "no-cache", "{page}");
        assert_eq!(header(&r, "content-encoding"), "", "{page}");
        assert_eq!(r.text()?, committed, "{page} is the committed index.html");
    }

    // A query string (the panels' state) does not change what is served.
    let r = c
        .get(s.url("/query?g0.expr=up&g0.tab=graph&g0.range_input=1h"))
        .send()?;
    assert_eq!(r.status().as_u16(), 200);

    let assets = assets_in(&committed);
    assert!(
        assets.iter().any(|a| a.ends_with(".js")) && assets.iter().any(|a| a.ends_with(".css")),
        "index.html names a script and a stylesheet: {assets:?}"
    );
    for a in &assets {
        let r = c.get(s.url(a)).send()?;
        assert_eq!(r.status().as_u16(), 200, "{a}");
    }
    s.stop();
    Ok(())
}

#[test]
fn assets_are_immutable_typed_and_precompressed_by_accept_encoding() -> TestResult {
    let dir = tempfile::tempdir()?;
    let s = Server::start(dir.path(), &[]);
    let c = raw_client();
    let index = c.get(s.url("/query")).send()?.text()?;

    for asset in assets_in(&index) {
        let want_type = if asset.ends_with(".js") {
            "text/javascript; charset=utf-8"
        } else if asset.ends_with(".css") {
            "text/css; charset=utf-8"
        } else {
            continue;
        };
        let on_disk = std::fs::read(dist(asset.trim_start_matches('/')))?;

        let plain = c
            .get(s.url(&asset))
            .header("Accept-Encoding", "identity")
            .send()?;
        assert_eq!(plain.status().as_u16(), 200, "{asset}");
        assert_eq!(header(&plain, "content-type"), want_type, "{asset}");
        assert_eq!(
            header(&plain, "cache-control"),
            "public, max-age=31536000, immutable",
            "{asset}"
        );
        assert_eq!(header(&plain, "content-encoding"), "", "{asset}");
        assert_eq!(header(&plain, "vary"), "Accept-Encoding", "{asset}");
        assert_eq!(plain.bytes()?.as_ref(), on_disk.as_slice(), "{asset}");

        // A browser sends both: brotli wins, and it is the committed copy.
        let br = c
            .get(s.url(&asset))
            .header("Accept-Encoding", "gzip, deflate, br, zstd")
            .send()?;
        assert_eq!(header(&br, "content-encoding"), "br", "{asset}");
        assert_eq!(header(&br, "content-type"), want_type, "{asset}");
        let br_body = br.bytes()?;
        assert_eq!(
            br_body.as_ref(),
            std::fs::read(dist(&format!("{}.br", asset.trim_start_matches('/'))))?.as_slice(),
            "{asset}.br"
        );
        assert!(br_body.len() < on_disk.len(), "{asset}: brotli is smaller");

        // gzip only: decompresses to the same bytes.
        let gz = c
            .get(s.url(&asset))
            .header("Accept-Encoding", "gzip")
            .send()?;
        assert_eq!(header(&gz, "content-encoding"), "gzip", "{asset}");
        let mut unzipped = Vec::new();
        flate2::read::GzDecoder::new(gz.bytes()?.as_ref()).read_to_end(&mut unzipped)?;
        assert_eq!(unzipped, on_disk, "{asset}: gzip body");

        // Refusing brotli with q=0 falls back to gzip.
        let r = c
            .get(s.url(&asset))
            .header("Accept-Encoding", "br;q=0, gzip;q=0.8")
            .send()?;
        assert_eq!(header(&r, "content-encoding"), "gzip", "{asset}");
    }

    let r = c.get(s.url("/assets/main-NOSUCHAS.js")).send()?;
    assert_eq!(r.status().as_u16(), 404);
    s.stop();
    Ok(())
}

#[test]
fn the_api_keeps_its_json_answers_beside_the_ui() -> TestResult {
    let dir = tempfile::tempdir()?;
    let s = Server::start(dir.path(), &[]);

    let (code, body) = s.get_json("/api/v1/nope", None);
    assert_eq!(code, 404);
    assert_eq!(body["status"], "error");
    assert_eq!(body["errorType"], "not_found");
    assert_eq!(body["error"], "no such endpoint: /api/v1/nope");

    // A path that is neither the API nor a UI page is the API's 404 too,
    // not index.html: a typo in a scraper's URL must not get HTML.
    let (code, body) = s.get_json("/nope", None);
    assert_eq!(code, 404);
    assert_eq!(body["errorType"], "not_found");

    let (code, body) = s.get_json("/api/v1/query?query=1%2B1", None);
    assert_eq!(code, 200);
    assert_eq!(body["data"]["result"][1], "2");

    let r = s.client.get(s.url("/metrics")).send()?;
    assert_eq!(r.status().as_u16(), 200);
    assert!(header(&r, "content-type").starts_with("text/plain"));
    s.stop();
    Ok(())
}

/// `--web.external-url` with a path: every endpoint moves under it, the UI
/// is told its prefix and names its assets there, and nothing answers at
/// the old paths.
#[test]
fn under_an_external_url_path_everything_is_served_under_the_prefix() -> TestResult {
    let dir = tempfile::tempdir()?;
    let port = support::free_port();
    let ext = format!("http://127.0.0.1:{port}/strata/");
    let s = Server::start_on(dir.path(), port, &["--web.external-url", &ext], "/strata");
    let c = raw_client();

    // UI page: the committed index with the prefix written in.
    let r = c.get(s.url("/strata/query")).send()?;
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(header(&r, "cache-control"), "no-cache");
    let html = r.text()?;
    assert!(
        html.contains(r#"<meta name="strata-prefix" content="/strata">"#),
        "{html}"
    );
    let assets: Vec<String> = html
        .split("\"/strata/assets/")
        .skip(1)
        .filter_map(|p| p.split('"').next())
        .map(|n| format!("/strata/assets/{n}"))
        .collect();
    assert!(assets.iter().any(|a| a.ends_with(".js")), "{html}");
    assert!(assets.iter().any(|a| a.ends_with(".css")), "{html}");
    for a in &assets {
        let r = c.get(s.url(a)).header("Accept-Encoding", "br").send()?;
        assert_eq!(r.status().as_u16(), 200, "{a}");
        assert_eq!(header(&r, "content-encoding"), "br", "{a}");
        assert_eq!(
            header(&r, "cache-control"),
            "public, max-age=31536000, immutable"
        );
        let on_disk = std::fs::read(dist(&format!("{}.br", a.trim_start_matches("/strata/"))))?;
        assert_eq!(r.bytes()?.as_ref(), on_disk.as_slice(), "{a}");
    }

    // Redirects stay under the prefix.
    for (from, to) in [
        ("/strata/", "/strata/query"),
        ("/strata", "/strata/query"),
        ("/", "/strata"),
        (
            "/strata/graph?g0.expr=up&g0.tab=1",
            "/strata/query?g0.expr=up&g0.tab=1",
        ),
    ] {
        let r = c.get(s.url(from)).send()?;
        assert_eq!(r.status().as_u16(), 302, "{from}");
        assert_eq!(header(&r, "location"), to, "{from}");
    }

    // The API, /metrics, /federate and the lifecycle endpoints too.
    let (code, body) = s.get_json("/strata/api/v1/query?query=1%2B1", None);
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["data"]["result"][1], "2");
    let (code, body) = s.get_json("/strata/api/v1/status/flags", None);
    assert_eq!(code, 200);
    assert_eq!(body["data"]["web.external-url"], ext.trim_end_matches('/'));
    assert_eq!(body["data"]["web.route-prefix"], "/strata");
    let (code, body) = s.get_json("/strata/api/v1/nope", None);
    assert_eq!((code, body["errorType"].as_str()), (404, Some("not_found")));
    for path in ["/strata/metrics", "/strata/-/ready", "/strata/-/healthy"] {
        assert_eq!(c.get(s.url(path)).send()?.status().as_u16(), 200, "{path}");
    }
    let r = c
        .get(s.url("/strata/federate?match[]=%7Bjob%3D%22strata%22%7D"))
        .send()?;
    assert_eq!(r.status().as_u16(), 200);

    // The built-in self-scrape follows the prefix to /strata/metrics.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(40);
    loop {
        let (_, body) = s.get_json(
            "/strata/api/v1/query?query=up%7Bjob%3D%22strata%22%7D",
            None,
        );
        if body["data"]["result"][0]["value"][1] == "1" {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no successful self-scrape under the prefix: {body}"
        );
        std::thread::sleep(std::time::Duration::from_millis(250));
    }

    // Nothing answers without the prefix.
    for path in [
        "/query",
        "/api/v1/query?query=1",
        "/metrics",
        "/-/ready",
        "/federate?match[]=up",
        &assets[0].replace("/strata", ""),
        "/strataquery",
    ] {
        let r = c.get(s.url(path)).send()?;
        assert_eq!(r.status().as_u16(), 404, "{path}");
    }
    s.stop();
    Ok(())
}

/// A proxy that strips the path (`--web.external-url` with a path,
/// `--web.route-prefix=/`): routes stay at the root, links go through the
/// external path.
#[test]
fn a_stripping_proxy_keeps_routes_at_the_root_and_links_under_the_external_path() -> TestResult {
    let dir = tempfile::tempdir()?;
    let s = Server::start(
        dir.path(),
        &[
            "--web.external-url",
            "https://proxy.example/strata",
            "--web.route-prefix",
            "/",
        ],
    );
    let c = raw_client();
    let r = c.get(s.url("/")).send()?;
    assert_eq!(header(&r, "location"), "/strata/query");
    let html = c.get(s.url("/query")).send()?.text()?;
    assert!(html.contains(r#"content="/strata""#), "{html}");
    assert!(html.contains("\"/strata/assets/"), "{html}");
    let (code, _) = s.get_json("/api/v1/query?query=1", None);
    assert_eq!(code, 200);
    s.stop();
    Ok(())
}
