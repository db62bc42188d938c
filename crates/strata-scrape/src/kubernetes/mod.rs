//! Kubernetes service discovery (`kubernetes_sd_configs`), as Prometheus 3
//! does it: list and watch the role's objects (and the related ones its
//! labels need) through the API server, keep them in memory, and publish
//! one target group per object with the `__meta_kubernetes_*` labels.
//!
//! - `connect`: `api_server`, kubeconfig or in-cluster service account.
//! - `objects`: the typed subset of the API objects read.
//! - `targets`: objects → target groups, per role.
//! - this file: the list/watch loops and the provider task.
//!
//! One watch per object kind and namespace (all namespaces when none is
//! configured): a paginated list, then a watch from its resourceVersion
//! with bookmarks. A watch that ends is resumed from the last version seen;
//! `410 Gone`, an `ERROR` event or any failure relists (after a backoff on
//! failures), and every [`Timing::resync`] the list is redone regardless.
//! Objects that do not decode are skipped and logged, never fatal.

pub mod connect;
pub mod objects;
pub mod targets;

use crate::discovery::Discovered;
use connect::Api;
use objects::{
    EndpointSlice, Endpoints, Ingress, Job, ListMeta, Namespace, Node, Object, ObjectMeta, Pod,
    ReplicaSet, Service,
};
use parking_lot::Mutex;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use strata_config::{KubernetesRole, KubernetesSdConfig};
use targets::{Attach, Stores, build_groups, object_key};
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio::time::Instant;

/// How often the loops relist, back off and settle.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// Every watch is replaced by a fresh list this often.
    pub resync: Duration,
    pub min_backoff: Duration,
    pub max_backoff: Duration,
    /// Changes arriving within this long are published together.
    pub debounce: Duration,
    /// A connection that cannot be configured is retried this often.
    pub reconnect: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            resync: Duration::from_secs(600),
            min_backoff: Duration::from_millis(800),
            max_backoff: Duration::from_secs(30),
            debounce: Duration::from_millis(100),
            reconnect: Duration::from_secs(30),
        }
    }
}

/// Bounds on what one response may make us hold, so a broken or hostile
/// server cannot exhaust memory.
const MAX_LIST_BODY: usize = 1 << 30;
const MAX_WATCH_LINE: usize = 64 << 20;
/// Objects per list page, as client-go's reflector asks.
const LIST_PAGE: usize = 500;

/// The API kinds discovery reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Pod,
    Service,
    Endpoints,
    EndpointSlice,
    Node,
    Ingress,
    Namespace,
    ReplicaSet,
    Job,
}

impl Kind {
    /// The API group path and resource name.
    fn resource(self) -> (&'static str, &'static str) {
        match self {
            Kind::Pod => ("/api/v1", "pods"),
            Kind::Service => ("/api/v1", "services"),
            Kind::Endpoints => ("/api/v1", "endpoints"),
            Kind::EndpointSlice => ("/apis/discovery.k8s.io/v1", "endpointslices"),
            Kind::Node => ("/api/v1", "nodes"),
            Kind::Ingress => ("/apis/networking.k8s.io/v1", "ingresses"),
            Kind::Namespace => ("/api/v1", "namespaces"),
            Kind::ReplicaSet => ("/apis/apps/v1", "replicasets"),
            Kind::Job => ("/apis/batch/v1", "jobs"),
        }
    }

    fn cluster_scoped(self) -> bool {
        matches!(self, Kind::Node | Kind::Namespace)
    }

    fn path(self, namespace: &str) -> String {
        let (group, plural) = self.resource();
        if namespace.is_empty() || self.cluster_scoped() {
            format!("{group}/{plural}")
        } else {
            format!("{group}/namespaces/{}/{plural}", encode(namespace))
        }
    }

    fn selector_role(self) -> Option<KubernetesRole> {
        Some(match self {
            Kind::Pod => KubernetesRole::Pod,
            Kind::Service => KubernetesRole::Service,
            Kind::Endpoints => KubernetesRole::Endpoints,
            Kind::EndpointSlice => KubernetesRole::EndpointSlice,
            Kind::Node => KubernetesRole::Node,
            Kind::Ingress => KubernetesRole::Ingress,
            Kind::Namespace | Kind::ReplicaSet | Kind::Job => return None,
        })
    }
}

/// An object kind with its place in [`Stores`].
trait Stored: Object {
    fn map(stores: &mut Stores) -> &mut BTreeMap<String, Self>;
}

macro_rules! stored {
    ($($t:ty => $field:ident),*) => {$(
        impl Stored for $t {
            fn map(stores: &mut Stores) -> &mut BTreeMap<String, Self> {
                &mut stores.$field
            }
        }
    )*};
}
stored!(Pod => pods, Service => services, Endpoints => endpoints,
    EndpointSlice => endpoint_slices, Node => nodes, Ingress => ingresses,
    Namespace => namespaces, ReplicaSet => replica_sets, Job => jobs);

/// What the watch loops share with the publisher.
struct Shared {
    stores: Mutex<Stores>,
    changed: Notify,
    /// Watches that have not completed their first list; nothing is
    /// published before all have (Prometheus waits for its caches too, so
    /// endpoints are not first published without their pods).
    unsynced: AtomicUsize,
}

/// One list+watch: a kind in a namespace (`""` = all) with selectors.
#[derive(Debug, Clone)]
struct WatchSpec {
    kind: Kind,
    namespace: String,
    label_selector: String,
    field_selector: String,
}

impl WatchSpec {
    fn query(&self, extra: &[(&str, &str)]) -> String {
        let mut q = String::new();
        let mut push = |k: &str, v: &str| {
            if !v.is_empty() {
                q.push(if q.is_empty() { '?' } else { '&' });
                q.push_str(k);
                q.push('=');
                q.push_str(&encode(v));
            }
        };
        push("labelSelector", &self.label_selector);
        push("fieldSelector", &self.field_selector);
        for (k, v) in extra {
            push(k, v);
        }
        format!("{}{q}", self.kind.path(&self.namespace))
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The watches a config needs: the role's own kind and the kinds its
/// labels are joined with.
fn watch_specs(cfg: &KubernetesSdConfig, own_namespace: Option<&str>) -> Vec<WatchSpec> {
    let mut namespaces: Vec<String> = cfg.namespaces.names.clone();
    if cfg.namespaces.own_namespace {
        if let Some(own) = own_namespace {
            namespaces.push(own.to_string());
        }
    } else if namespaces.is_empty() {
        namespaces.push(String::new());
    }
    let am = &cfg.attach_metadata;
    let mut kinds = match cfg.role {
        KubernetesRole::Pod => vec![Kind::Pod],
        KubernetesRole::Service => vec![Kind::Service],
        KubernetesRole::Endpoints => vec![Kind::Endpoints, Kind::Service, Kind::Pod],
        KubernetesRole::EndpointSlice => vec![Kind::EndpointSlice, Kind::Service, Kind::Pod],
        KubernetesRole::Node => vec![Kind::Node],
        KubernetesRole::Ingress => vec![Kind::Ingress],
    };
    let node_capable = matches!(
        cfg.role,
        KubernetesRole::Pod | KubernetesRole::Endpoints | KubernetesRole::EndpointSlice
    );
    if am.node && node_capable {
        kinds.push(Kind::Node);
    }
    // Only the CronJob name needs the Job objects; the Job name is the
    // pod's owner.
    if am.deployment && node_capable {
        kinds.push(Kind::ReplicaSet);
    }
    if am.cronjob && node_capable {
        kinds.push(Kind::Job);
    }
    if am.namespace && cfg.role != KubernetesRole::Node {
        kinds.push(Kind::Namespace);
    }
    let mut specs = Vec::new();
    for kind in kinds {
        let sel = kind
            .selector_role()
            .and_then(|r| cfg.selectors.iter().find(|s| s.role == r));
        let (label, field) = sel
            .map(|s| (s.label.clone(), s.field.clone()))
            .unwrap_or_default();
        let scopes: Vec<String> = if kind.cluster_scoped() {
            vec![String::new()]
        } else {
            namespaces.clone()
        };
        for namespace in scopes {
            specs.push(WatchSpec {
                kind,
                namespace,
                label_selector: label.clone(),
                field_selector: field.clone(),
            });
        }
    }
    specs
}

fn attach_of(cfg: &KubernetesSdConfig) -> Attach {
    let am = &cfg.attach_metadata;
    Attach {
        node: am.node,
        namespace: am.namespace,
        deployment: am.deployment,
        job: am.job,
        cronjob: am.cronjob,
    }
}

/// Runs one Kubernetes discovery until aborted, publishing into `slot`.
pub async fn run(cfg: KubernetesSdConfig, slot: usize, out: Arc<Discovered>, timing: Timing) {
    let (api, own) = loop {
        match connect::connect(&cfg) {
            Ok(c) => break c,
            Err(e) => {
                tracing::error!(role = cfg.role.as_str(), error = %e, "Kubernetes discovery: cannot connect");
                tokio::time::sleep(timing.reconnect).await;
            }
        }
    };
    let api = Arc::new(api);
    let specs = watch_specs(&cfg, own.as_deref());
    let shared = Arc::new(Shared {
        stores: Mutex::new(Stores::default()),
        changed: Notify::new(),
        unsynced: AtomicUsize::new(specs.len()),
    });
    // Dropping the set (this task aborted) aborts every watch.
    let mut watches = JoinSet::new();
    for spec in specs {
        let (api, shared) = (api.clone(), shared.clone());
        match spec.kind {
            Kind::Pod => watches.spawn(watch_loop::<Pod>(api, spec, shared, timing)),
            Kind::Service => watches.spawn(watch_loop::<Service>(api, spec, shared, timing)),
            Kind::Endpoints => watches.spawn(watch_loop::<Endpoints>(api, spec, shared, timing)),
            Kind::EndpointSlice => {
                watches.spawn(watch_loop::<EndpointSlice>(api, spec, shared, timing))
            }
            Kind::Node => watches.spawn(watch_loop::<Node>(api, spec, shared, timing)),
            Kind::Ingress => watches.spawn(watch_loop::<Ingress>(api, spec, shared, timing)),
            Kind::Namespace => watches.spawn(watch_loop::<Namespace>(api, spec, shared, timing)),
            Kind::ReplicaSet => watches.spawn(watch_loop::<ReplicaSet>(api, spec, shared, timing)),
            Kind::Job => watches.spawn(watch_loop::<Job>(api, spec, shared, timing)),
        };
    }
    let attach = attach_of(&cfg);
    let mut settle = timing.debounce;
    loop {
        shared.changed.notified().await;
        if shared.unsynced.load(Ordering::Acquire) > 0 {
            continue;
        }
        tokio::time::sleep(settle).await;
        let started = std::time::Instant::now();
        let groups = build_groups(cfg.role, &shared.stores.lock(), attach);
        // Every change rebuilds every group of this discovery; in a large
        // cluster with steady churn, waiting ten times the build's cost
        // keeps that under a tenth of a core.
        settle = timing.debounce.max(started.elapsed() * 10);
        out.publish(slot, groups);
    }
}

/// How a watch stream ended.
enum WatchEnd {
    /// Closed by the server or at the resync deadline: resume or relist.
    Closed,
    /// The version is too old (410, or an `ERROR` event): relist now.
    Gone,
    Failed(String),
}

async fn watch_loop<T: Stored>(api: Arc<Api>, spec: WatchSpec, shared: Arc<Shared>, t: Timing) {
    let mut synced = false;
    let mut backoff = t.min_backoff;
    loop {
        let rv = match list::<T>(&api, &spec).await {
            Ok((items, rv)) => {
                {
                    let mut stores = shared.stores.lock();
                    let map = T::map(&mut stores);
                    map.retain(|_, o| !in_scope(o.meta(), &spec.namespace));
                    for o in items {
                        map.insert(object_key(o.meta()), o);
                    }
                }
                if !synced {
                    synced = true;
                    shared.unsynced.fetch_sub(1, Ordering::AcqRel);
                }
                shared.changed.notify_one();
                backoff = t.min_backoff;
                rv
            }
            Err(e) => {
                tracing::warn!(path = %spec.kind.path(&spec.namespace), error = %e, "Kubernetes discovery: list failed");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(t.max_backoff);
                continue;
            }
        };
        let mut rv = rv;
        let relist_at = Instant::now() + t.resync;
        loop {
            let started = Instant::now();
            match watch::<T>(&api, &spec, &mut rv, &shared, relist_at).await {
                WatchEnd::Closed if Instant::now() < relist_at => {
                    // A server (or proxy) that closes watches at once must
                    // not be hammered.
                    if started.elapsed() < Duration::from_secs(1) {
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(t.max_backoff);
                    } else {
                        backoff = t.min_backoff;
                    }
                }
                WatchEnd::Closed | WatchEnd::Gone => break,
                WatchEnd::Failed(e) => {
                    tracing::warn!(path = %spec.kind.path(&spec.namespace), error = %e, "Kubernetes discovery: watch failed");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(t.max_backoff);
                    break;
                }
            }
        }
    }
}

/// Whether a stored object belongs to a watch of `namespace` (`""` = all).
fn in_scope(meta: &ObjectMeta, namespace: &str) -> bool {
    namespace.is_empty() || meta.namespace == namespace
}

#[derive(Deserialize)]
#[serde(bound = "T: Object")]
struct ListDoc<T> {
    #[serde(default)]
    metadata: ListMeta,
    #[serde(default = "LenientItems::empty")]
    items: LenientItems<T>,
}

/// A list's `items`, each decoded on its own so that one bad object is
/// skipped (logged) rather than failing the list, and only one item is
/// held untyped at a time.
struct LenientItems<T>(Vec<T>);

impl<T> LenientItems<T> {
    fn empty() -> Self {
        LenientItems(Vec::new())
    }
}

impl<'de, T: Object> Deserialize<'de> for LenientItems<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Items<T>(std::marker::PhantomData<T>);
        impl<'de, T: Object> serde::de::Visitor<'de> for Items<T> {
            type Value = LenientItems<T>;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a list of objects")
            }

            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(LenientItems::empty())
            }

            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(v) = seq.next_element::<serde_json::Value>()? {
                    out.extend(decode::<T>(v));
                }
                Ok(LenientItems(out))
            }
        }
        d.deserialize_any(Items(std::marker::PhantomData))
    }
}

/// Decodes one object, logging (not failing on) one that does not fit.
fn decode<T: Object>(value: serde_json::Value) -> Option<T> {
    match serde_json::from_value::<T>(value) {
        Ok(o) => Some(o),
        Err(e) => {
            tracing::warn!(error = %e, "Kubernetes discovery: skipping an object that does not decode");
            None
        }
    }
}

async fn read_body(mut resp: reqwest::Response, limit: usize) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| e.to_string())? {
        if body.len() + chunk.len() > limit {
            return Err(format!("response larger than {limit} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

async fn status_error(resp: reqwest::Response) -> String {
    let status = resp.status();
    let body = read_body(resp, 4096).await.unwrap_or_default();
    let text = String::from_utf8_lossy(&body);
    format!("server returned HTTP status {status}: {}", text.trim())
}

/// Every object of a spec, page by page, and the list's resourceVersion.
async fn list<T: Object>(api: &Api, spec: &WatchSpec) -> Result<(Vec<T>, String), String> {
    let mut items = Vec::new();
    let mut token = String::new();
    let limit = LIST_PAGE.to_string();
    loop {
        let path = spec.query(&[("limit", &limit), ("continue", &token)]);
        let resp = api.get(&path)?.send().await.map_err(|e| e.to_string())?;
        if resp.status() != reqwest::StatusCode::OK {
            return Err(status_error(resp).await);
        }
        let body = read_body(resp, MAX_LIST_BODY).await?;
        let doc: ListDoc<T> = serde_json::from_slice(&body).map_err(|e| format!("list: {e}"))?;
        items.extend(doc.items.0);
        if doc.metadata.continue_token.is_empty() {
            return Ok((items, doc.metadata.resource_version));
        }
        token = doc.metadata.continue_token;
    }
}

#[derive(Deserialize)]
struct EventDoc {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    object: serde_json::Value,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct StatusDoc {
    code: u16,
    message: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct MetaOnly {
    metadata: ObjectMeta,
}

/// Streams one watch, applying its events to the store, until it ends.
async fn watch<T: Stored>(
    api: &Api,
    spec: &WatchSpec,
    rv: &mut String,
    shared: &Shared,
    deadline: Instant,
) -> WatchEnd {
    let timeout = deadline
        .saturating_duration_since(Instant::now())
        .as_secs()
        .clamp(1, 600)
        .to_string();
    let path = spec.query(&[
        ("watch", "1"),
        ("resourceVersion", rv),
        ("allowWatchBookmarks", "true"),
        ("timeoutSeconds", &timeout),
    ]);
    let req = match api.get(&path) {
        Ok(r) => r,
        Err(e) => return WatchEnd::Failed(e),
    };
    let mut resp = match tokio::time::timeout_at(deadline, req.send()).await {
        Err(_) => return WatchEnd::Closed,
        Ok(Err(e)) => return WatchEnd::Failed(e.to_string()),
        Ok(Ok(r)) => r,
    };
    if resp.status() == reqwest::StatusCode::GONE {
        return WatchEnd::Gone;
    }
    if resp.status() != reqwest::StatusCode::OK {
        return WatchEnd::Failed(status_error(resp).await);
    }
    let mut buf: Vec<u8> = Vec::new();
    loop {
        let chunk = match tokio::time::timeout_at(deadline, resp.chunk()).await {
            Err(_) | Ok(Ok(None)) => return WatchEnd::Closed,
            Ok(Err(e)) => return WatchEnd::Failed(e.to_string()),
            Ok(Ok(Some(c))) => c,
        };
        buf.extend_from_slice(&chunk);
        let mut applied = false;
        let mut start = 0;
        while let Some(nl) = buf[start..].iter().position(|&b| b == b'\n') {
            let line = &buf[start..start + nl];
            start += nl + 1;
            match apply_event::<T>(line, rv, spec, shared) {
                Ok(changed) => applied |= changed,
                Err(end) => {
                    if applied {
                        shared.changed.notify_one();
                    }
                    return end;
                }
            }
        }
        buf.drain(..start);
        if applied {
            shared.changed.notify_one();
        }
        if buf.len() > MAX_WATCH_LINE {
            return WatchEnd::Failed(format!("watch event longer than {MAX_WATCH_LINE} bytes"));
        }
    }
}

/// Applies one watch line; `Ok(true)` when the store changed, `Err` when
/// the watch must end.
fn apply_event<T: Stored>(
    line: &[u8],
    rv: &mut String,
    spec: &WatchSpec,
    shared: &Shared,
) -> Result<bool, WatchEnd> {
    if line.iter().all(u8::is_ascii_whitespace) {
        return Ok(false);
    }
    let ev: EventDoc = match serde_json::from_slice(line) {
        Ok(ev) => ev,
        Err(e) => {
            tracing::warn!(error = %e, "Kubernetes discovery: skipping a watch event that does not decode");
            return Ok(false);
        }
    };
    match ev.kind.as_str() {
        "ADDED" | "MODIFIED" => {
            let Some(o) = decode::<T>(ev.object) else {
                return Ok(false);
            };
            note_version(rv, o.meta());
            if !in_scope(o.meta(), &spec.namespace) {
                return Ok(false);
            }
            T::map(&mut shared.stores.lock()).insert(object_key(o.meta()), o);
            Ok(true)
        }
        "DELETED" => {
            let Ok(m) = serde_json::from_value::<MetaOnly>(ev.object) else {
                tracing::warn!("Kubernetes discovery: skipping a DELETED event without metadata");
                return Ok(false);
            };
            note_version(rv, &m.metadata);
            let removed = T::map(&mut shared.stores.lock())
                .remove(&object_key(&m.metadata))
                .is_some();
            Ok(removed)
        }
        "BOOKMARK" => {
            if let Ok(m) = serde_json::from_value::<MetaOnly>(ev.object) {
                note_version(rv, &m.metadata);
            }
            Ok(false)
        }
        "ERROR" => {
            let st: StatusDoc = serde_json::from_value(ev.object).unwrap_or_default();
            if st.code == 410 {
                Err(WatchEnd::Gone)
            } else {
                Err(WatchEnd::Failed(format!(
                    "watch error {}: {}",
                    st.code, st.message
                )))
            }
        }
        other => {
            tracing::warn!(
                event = other,
                "Kubernetes discovery: unknown watch event type"
            );
            Ok(false)
        }
    }
}

fn note_version(rv: &mut String, meta: &ObjectMeta) {
    if !meta.resource_version.is_empty() {
        rv.clone_from(&meta.resource_version);
    }
}

#[cfg(test)]
mod tests;
