//! Tenant isolation: with --multi-tenant, tenant A's writes are invisible to
//! tenant B on every read endpoint, and requests without a tenant get 401.

mod support;

use support::*;

#[test]
fn tenants_never_see_each_other() -> TestResult {
    let dir = tempfile::tempdir()?;
    let server = Server::start(dir.path(), &["--multi-tenant", "--web.enable-admin-api"]);
    let t = now_ms() - 10_000;
    let a = strata_ingest::encode_write_request(&[series(
        "secret_a",
        &[("team", "alpha")],
        &[(t, 1.0)],
    )]);
    let b = strata_ingest::encode_write_request(&[series(
        "visible_b",
        &[("team", "beta")],
        &[(t, 2.0)],
    )]);
    assert_eq!(
        server.write_raw(a.clone(), None).0,
        401,
        "no tenant header must be refused"
    );
    assert_eq!(
        server.write_raw(a.clone(), Some("../etc")).0,
        401,
        "path-like tenant must be refused"
    );
    assert_eq!(server.write_raw(a, Some("tenant-a")).0, 204);
    assert_eq!(server.write_raw(b, Some("tenant-b")).0, 204);

    for (path, needle_a) in [
        ("/api/v1/series?match[]={__name__=~\".%2B\"}", "secret_a"),
        ("/api/v1/labels", "team"),
        ("/api/v1/label/__name__/values", "secret_a"),
        ("/api/v1/label/team/values", "alpha"),
    ] {
        let (code, body) = server.get_json(path, Some("tenant-b"));
        assert_eq!(code, 200, "{path}: {body}");
        let text = body.to_string();
        assert!(
            !text.contains("secret_a") && !text.contains("alpha"),
            "{path} leaked tenant A's data to B: {text}"
        );
        if needle_a != "team" {
            let (_, body_a) = server.get_json(path, Some("tenant-a"));
            assert!(
                body_a.to_string().contains(needle_a),
                "{path}: A must see its own data: {body_a}"
            );
        }
        let (code, _) = server.get_json(path, None);
        assert_eq!(code, 401, "{path} without a tenant");
    }
    // Deleting in B never touches A.
    let r = server
        .client
        .post(server.url("/api/v1/admin/tsdb/delete_series?match[]={__name__=~\".%2B\"}"))
        .header("X-Scope-OrgID", "tenant-b")
        .send()?;
    assert_eq!(r.status().as_u16(), 204);
    let (_, body) = server.get_json("/api/v1/series?match[]=secret_a", Some("tenant-a"));
    assert_eq!(body["data"].as_array().map(|a| a.len()), Some(1), "{body}");
    assert_eq!(server.stop(), Some(0));
    // On disk too: one directory per tenant.
    assert!(dir.path().join("tenant-a").is_dir());
    assert!(dir.path().join("tenant-b").is_dir());
    let only_b = dump(dir.path(), &["--tenant", "tenant-b"]);
    assert!(only_b.iter().all(|(l, _, _)| !l.contains("secret_a")));
    Ok(())
}
