//! Kubernetes discovery against a fake API server on loopback: a paginated
//! list, then a watch stream with ADDED/MODIFIED/DELETED/BOOKMARK events,
//! a resumed watch answered `410 Gone`, an `ERROR` event, and the
//! published groups following each step.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use strata_config::sd::KubernetesSelector;
use strata_config::{KubernetesRole, KubernetesSdConfig, ServiceDiscovery};
use strata_scrape::discovery::Discovered;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::Notify;

enum Step {
    Line(String),
    Wait(Arc<Notify>),
}

enum Reply {
    Status(u16),
    Body(String),
    Stream(Vec<Step>),
}

#[derive(Default)]
struct Script {
    lists: VecDeque<Reply>,
    watches: VecDeque<Reply>,
    requests: Vec<String>,
}

async fn read_request<S: AsyncRead + Unpin>(sock: &mut S) -> Option<String> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = sock.read(&mut byte).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&byte[..n]);
    }
    let text = String::from_utf8_lossy(&buf).to_string();
    let line = text.lines().next()?.to_string();
    Some(line.split(' ').nth(1)?.to_string())
}

async fn serve<S: AsyncWrite + Unpin>(sock: &mut S, reply: Reply) -> std::io::Result<()> {
    let head = |status: u16| {
        format!(
            "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n"
        )
    };
    match reply {
        Reply::Status(s) => {
            sock.write_all(head(s).as_bytes()).await?;
            sock.write_all(br#"{"kind":"Status","code":0}"#).await?;
        }
        Reply::Body(b) => {
            sock.write_all(head(200).as_bytes()).await?;
            sock.write_all(b.as_bytes()).await?;
        }
        Reply::Stream(steps) => {
            sock.write_all(head(200).as_bytes()).await?;
            sock.flush().await?;
            for step in steps {
                match step {
                    Step::Line(l) => {
                        sock.write_all(l.as_bytes()).await?;
                        sock.write_all(b"\n").await?;
                        sock.flush().await?;
                    }
                    Step::Wait(n) => n.notified().await,
                }
            }
        }
    }
    sock.shutdown().await
}

/// Serves scripted replies: list requests and watch requests each take
/// the next reply of their queue; a watch with none left hangs open.
async fn fake_api(script: Arc<Mutex<Script>>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let script = script.clone();
            tokio::spawn(async move {
                let Some(path) = read_request(&mut sock).await else {
                    return;
                };
                let reply = {
                    let mut s = script.lock().unwrap_or_else(|e| e.into_inner());
                    s.requests.push(path.clone());
                    if path.contains("watch=1") {
                        s.watches.pop_front()
                    } else {
                        s.lists.pop_front()
                    }
                };
                match reply {
                    Some(r) => {
                        let _ = serve(&mut sock, r).await;
                    }
                    None => std::future::pending::<()>().await,
                }
            });
        }
    });
    format!("http://{addr}")
}

fn pod(name: &str, ip: &str, rv: &str) -> String {
    format!(
        r#"{{"metadata":{{"name":"{name}","namespace":"prod","resourceVersion":"{rv}","labels":{{"app":"demo"}}}},
            "spec":{{"containers":[{{"name":"app","image":"demo:1","ports":[{{"name":"metrics","containerPort":8080,"protocol":"TCP"}}]}}]}},
            "status":{{"podIP":"{ip}","phase":"Running"}}}}"#
    )
    .replace('\n', "")
}

fn list(items: &[String], rv: &str, cont: &str) -> Reply {
    Reply::Body(format!(
        r#"{{"kind":"PodList","metadata":{{"resourceVersion":"{rv}","continue":"{cont}"}},"items":[{}]}}"#,
        items.join(",")
    ))
}

fn event(kind: &str, object: &str) -> Step {
    Step::Line(format!(r#"{{"type":"{kind}","object":{object}}}"#))
}

/// The published pods as `name=address` pairs, sorted.
fn pods(found: &Discovered) -> Vec<String> {
    let mut out: Vec<String> = found
        .groups()
        .iter()
        .filter(|g| !g.targets.is_empty())
        .map(|g| {
            format!(
                "{}={}",
                g.labels
                    .get("__meta_kubernetes_pod_name")
                    .unwrap_or_default(),
                g.targets[0].get("__address__").unwrap_or_default()
            )
        })
        .collect();
    out.sort();
    out
}

async fn eventually(found: &Discovered, want: &[&str]) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let got = pods(found);
        if got == want {
            return;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("published {got:?}, want {want:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_follow_list_watch_and_relists() {
    let g1 = Arc::new(Notify::new());
    let g2 = Arc::new(Notify::new());
    let g3 = Arc::new(Notify::new());
    let g4 = Arc::new(Notify::new());
    let mut script = Script::default();
    // A failing first list is retried after a backoff.
    script.lists.push_back(Reply::Status(500));
    script
        .lists
        .push_back(list(&[pod("a", "10.0.0.1", "90")], "", "page2"));
    script.lists.push_back(list(
        &[
            pod("b", "10.0.0.2", "95"),
            // Malformed objects are skipped, the rest kept.
            r#"{"metadata":{"name":5}}"#.to_string(),
        ],
        "100",
        "",
    ));
    script.watches.push_back(Reply::Stream(vec![
        Step::Wait(g1.clone()),
        event("ADDED", &pod("c", "10.0.0.3", "101")),
        Step::Line("this is not json".into()),
        event("MODIFIED", r#"{"metadata":{"name":["wrong"]}}"#),
        event("MODIFIED", &pod("a", "10.0.0.11", "102")),
        Step::Wait(g2.clone()),
        event("DELETED", &pod("b", "10.0.0.2", "103")),
        event(
            "BOOKMARK",
            r#"{"kind":"Pod","metadata":{"resourceVersion":"150"}}"#,
        ),
        Step::Wait(g3.clone()),
    ]));
    // The resumed watch is too old: relist.
    script.watches.push_back(Reply::Status(410));
    script.lists.push_back(list(
        &[pod("a", "10.0.0.11", "190"), pod("d", "10.0.0.4", "195")],
        "200",
        "",
    ));
    script.watches.push_back(Reply::Stream(vec![
        Step::Wait(g4.clone()),
        event(
            "ERROR",
            r#"{"kind":"Status","code":410,"message":"too old resource version"}"#,
        ),
    ]));
    script
        .lists
        .push_back(list(&[pod("e", "10.0.0.5", "290")], "300", ""));
    let script = Arc::new(Mutex::new(script));
    let server = fake_api(script.clone()).await;

    let cfg = KubernetesSdConfig {
        role: KubernetesRole::Pod,
        api_server: Some(server),
        kubeconfig_file: None,
        namespaces: strata_config::sd::KubernetesNamespaces {
            own_namespace: false,
            names: vec!["prod".into()],
        },
        selectors: vec![KubernetesSelector {
            role: KubernetesRole::Pod,
            label: "app=demo".into(),
            field: String::new(),
        }],
        attach_metadata: Default::default(),
        http_client: Default::default(),
    };
    let sd = ServiceDiscovery {
        kubernetes_sd_configs: vec![cfg],
        ..ServiceDiscovery::default()
    };
    let (found, tasks) = strata_scrape::discovery::start(&sd, strata_scrape::client::build);

    eventually(&found, &["a=10.0.0.1:8080", "b=10.0.0.2:8080"]).await;
    let g = found
        .groups()
        .into_iter()
        .find(|g| g.source == "pod/prod/a")
        .unwrap_or_else(|| panic!("no group for pod a"));
    assert_eq!(g.labels.get("__meta_kubernetes_namespace"), Some("prod"));
    assert_eq!(
        g.targets[0].get("__meta_kubernetes_pod_container_port_name"),
        Some("metrics")
    );

    g1.notify_one();
    eventually(
        &found,
        &["a=10.0.0.11:8080", "b=10.0.0.2:8080", "c=10.0.0.3:8080"],
    )
    .await;
    g2.notify_one();
    eventually(&found, &["a=10.0.0.11:8080", "c=10.0.0.3:8080"]).await;
    // The stream ends; the watch resumes from the bookmark, gets 410 and
    // relists, which forgets `c` (not in the new list).
    g3.notify_one();
    eventually(&found, &["a=10.0.0.11:8080", "d=10.0.0.4:8080"]).await;
    g4.notify_one();
    eventually(&found, &["e=10.0.0.5:8080"]).await;

    let requests = script
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .requests
        .clone();
    let lists: Vec<&String> = requests.iter().filter(|r| !r.contains("watch=1")).collect();
    let watches: Vec<&String> = requests.iter().filter(|r| r.contains("watch=1")).collect();
    assert!(
        lists[0].starts_with("/api/v1/namespaces/prod/pods?labelSelector=app%3Ddemo&limit=500"),
        "{requests:?}"
    );
    assert!(lists[2].contains("continue=page2"), "{requests:?}");
    assert!(
        watches[0].contains("resourceVersion=100")
            && watches[0].contains("allowWatchBookmarks=true")
            && watches[0].contains("labelSelector=app%3Ddemo"),
        "{requests:?}"
    );
    assert!(
        watches[1].contains("resourceVersion=150"),
        "resumed from the bookmark: {requests:?}"
    );
    assert!(watches[2].contains("resourceVersion=200"), "{requests:?}");
    assert_eq!(lists.len(), 5, "{requests:?}");
    for t in tasks {
        t.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoints_wait_for_every_list_and_join_services_and_pods() {
    // Each kind's list holds its one object; watches hang open.
    let eps = r#"{"metadata":{"name":"web","namespace":"prod","resourceVersion":"5"},
        "subsets":[{"addresses":[{"ip":"10.1.0.7","targetRef":{"kind":"Pod","name":"web-1","namespace":"prod"}}],
        "ports":[{"name":"http","port":8080,"protocol":"TCP"}]}]}"#
        .replace('\n', "");
    let svc = r#"{"metadata":{"name":"web","namespace":"prod","resourceVersion":"6","labels":{"tier":"front"}}}"#;
    let web_pod = pod("web-1", "10.1.0.7", "7");
    let lists = Arc::new(Mutex::new(vec![
        ("/endpoints", eps),
        ("/services", svc.to_string()),
        ("/pods", web_pod),
    ]));
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    let served = lists.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let served = served.clone();
            tokio::spawn(async move {
                let Some(path) = read_request(&mut sock).await else {
                    return;
                };
                if path.contains("watch=1") {
                    std::future::pending::<()>().await;
                }
                let item = served
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .iter()
                    .find(|(p, _)| path.split('?').next().unwrap_or("").ends_with(p))
                    .map(|(_, item)| item.clone());
                // The pods list is slow: nothing may be published before it.
                if path.contains("/pods") {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
                let reply = match item {
                    Some(i) => list(&[i], "10", ""),
                    None => Reply::Status(404),
                };
                let _ = serve(&mut sock, reply).await;
            });
        }
    });
    let cfg = KubernetesSdConfig {
        role: KubernetesRole::Endpoints,
        api_server: Some(format!("http://{addr}")),
        kubeconfig_file: None,
        namespaces: Default::default(),
        selectors: Vec::new(),
        attach_metadata: Default::default(),
        http_client: Default::default(),
    };
    let sd = ServiceDiscovery {
        kubernetes_sd_configs: vec![cfg],
        ..ServiceDiscovery::default()
    };
    let (found, tasks) = strata_scrape::discovery::start(&sd, strata_scrape::client::build);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let group = loop {
        let groups = found.groups();
        if let Some(g) = groups.first() {
            break g.clone();
        }
        assert!(tokio::time::Instant::now() < deadline, "nothing published");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    // The first publication already has the pod's and the service's labels.
    assert_eq!(group.source, "endpoints/prod/web");
    assert_eq!(
        group.labels.get("__meta_kubernetes_service_label_tier"),
        Some("front")
    );
    assert_eq!(group.targets.len(), 1, "{group:#?}");
    let t = &group.targets[0];
    assert_eq!(t.get("__address__"), Some("10.1.0.7:8080"));
    assert_eq!(t.get("__meta_kubernetes_pod_name"), Some("web-1"));
    assert_eq!(t.get("__meta_kubernetes_pod_container_name"), Some("app"));
    assert_eq!(t.get("__meta_kubernetes_endpoint_port_name"), Some("http"));
    for t in tasks {
        t.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_through_a_kubeconfig_with_a_token() {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    let heads: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen = heads.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 1024];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&buf).to_string();
                seen.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(head.clone());
                if head.contains("watch=1") {
                    std::future::pending::<()>().await;
                }
                let authorized = head
                    .lines()
                    .any(|l| l.eq_ignore_ascii_case("authorization: Bearer s3cret"));
                let reply = if !authorized {
                    Reply::Status(401)
                } else {
                    Reply::Body(
                        r#"{"kind":"NodeList","metadata":{"resourceVersion":"3"},"items":[
                          {"metadata":{"name":"worker-1","labels":{"topology.kubernetes.io/zone":"a"}},
                           "status":{"addresses":[{"type":"Hostname","address":"worker-1"},{"type":"InternalIP","address":"192.168.1.10"}],
                                     "daemonEndpoints":{"kubeletEndpoint":{"Port":10250}}}}]}"#
                            .to_string(),
                    )
                };
                let _ = serve(&mut sock, reply).await;
            });
        }
    });
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(dir.path().join("token"), "s3cret\n").unwrap_or_else(|e| panic!("{e}"));
    let kubeconfig = dir.path().join("config");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: test\n\
             contexts:\n- name: test\n  context: {{cluster: local, user: me}}\n\
             clusters:\n- name: local\n  cluster: {{server: 'http://{addr}'}}\n\
             users:\n- name: me\n  user: {{tokenFile: token}}\n"
        ),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let cfg = KubernetesSdConfig {
        role: KubernetesRole::Node,
        api_server: None,
        kubeconfig_file: Some(kubeconfig.display().to_string()),
        namespaces: Default::default(),
        selectors: Vec::new(),
        attach_metadata: Default::default(),
        http_client: Default::default(),
    };
    let sd = ServiceDiscovery {
        kubernetes_sd_configs: vec![cfg],
        ..ServiceDiscovery::default()
    };
    let (found, tasks) = strata_scrape::discovery::start(&sd, strata_scrape::client::build);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let group = loop {
        if let Some(g) = found.groups().first() {
            break g.clone();
        }
        let h = heads.lock().unwrap_or_else(|e| e.into_inner()).clone();
        assert!(
            tokio::time::Instant::now() < deadline,
            "nothing published: {h:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(group.source, "node/worker-1");
    assert_eq!(
        group
            .labels
            .get("__meta_kubernetes_node_label_topology_kubernetes_io_zone"),
        Some("a")
    );
    let t = &group.targets[0];
    assert_eq!(t.get("__address__"), Some("192.168.1.10:10250"));
    assert_eq!(t.get("instance"), Some("worker-1"));
    assert_eq!(
        t.get("__meta_kubernetes_node_address_Hostname"),
        Some("worker-1")
    );
    let first = heads.lock().unwrap_or_else(|e| e.into_inner())[0].clone();
    assert!(first.starts_with("GET /api/v1/nodes?limit=500 "), "{first}");
    for t in tasks {
        t.abort();
    }
}

fn base64(data: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ABC[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The API server over TLS that requires a client certificate, reached
/// through a kubeconfig with inline CA and client certificate data.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubeconfig_with_inline_ca_and_client_certificate_over_tls() {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let dir = std::path::Path::new(
        &std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").into()),
    )
    .join("tests/testdata/k8s-tls");
    let read = |n: &str| std::fs::read(dir.join(n)).unwrap_or_else(|e| panic!("{n}: {e}"));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(&read("ca.pem")) {
        roots
            .add(c.unwrap_or_else(|e| panic!("{e}")))
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .unwrap_or_else(|e| panic!("{e}"));
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&read("server.pem"))
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("{e}"));
    let key =
        PrivateKeyDer::from_pem_slice(&read("server-key.pem")).unwrap_or_else(|e| panic!("{e}"));
    let server_cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap_or_else(|e| panic!("{e}"))
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .unwrap_or_else(|e| panic!("{e}"));
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server_cfg));
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    tokio::spawn(async move {
        loop {
            let Ok((sock, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(sock).await else {
                    return;
                };
                let Some(path) = read_request(&mut tls).await else {
                    return;
                };
                if path.contains("watch=1") {
                    std::future::pending::<()>().await;
                }
                let _ = serve(
                    &mut tls,
                    list(
                        &[r#"{"metadata":{"name":"n1"},"status":{"addresses":[{"type":"InternalIP","address":"10.9.0.1"}],"daemonEndpoints":{"kubeletEndpoint":{"Port":10250}}}}"#.to_string()],
                        "1",
                        "",
                    ),
                )
                .await;
            });
        }
    });

    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(tmp.path().join("client.key"), read("client-key.pem"))
        .unwrap_or_else(|e| panic!("{e}"));
    let kubeconfig = tmp.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "current-context: tls\n\
             contexts: [{{name: tls, context: {{cluster: c, user: u}}}}]\n\
             clusters: [{{name: c, cluster: {{server: 'https://{addr}', certificate-authority-data: {}}}}}]\n\
             users: [{{name: u, user: {{client-certificate-data: {}, client-key: client.key}}}}]\n",
            base64(&read("ca.pem")),
            base64(&read("client.pem")),
        ),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let cfg = KubernetesSdConfig {
        role: KubernetesRole::Node,
        api_server: None,
        kubeconfig_file: Some(kubeconfig.display().to_string()),
        namespaces: Default::default(),
        selectors: Vec::new(),
        attach_metadata: Default::default(),
        http_client: Default::default(),
    };
    let sd = ServiceDiscovery {
        kubernetes_sd_configs: vec![cfg],
        ..ServiceDiscovery::default()
    };
    let (found, tasks) = strata_scrape::discovery::start(&sd, strata_scrape::client::build);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let group = loop {
        if let Some(g) = found.groups().first() {
            break g.clone();
        }
        assert!(tokio::time::Instant::now() < deadline, "nothing published");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(group.source, "node/n1");
    assert_eq!(group.targets[0].get("__address__"), Some("10.9.0.1:10250"));
    for t in tasks {
        t.abort();
    }
}
