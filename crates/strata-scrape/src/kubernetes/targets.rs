//! Target groups from the stored Kubernetes objects, one group per object,
//! with the `__meta_kubernetes_*` labels Prometheus 3 gives each role.

use super::objects::{
    Container, ContainerPort, EndpointAddress, EndpointPort, EndpointSlice, Endpoints, Ingress,
    Job, Namespace, Node, ObjectMeta, ObjectReference, OwnerReference, Pod, ReplicaSet, Service,
    SlicePort,
};
use crate::target::{ADDRESS, TargetGroup};
use std::collections::BTreeMap;
use strata_config::KubernetesRole;
use strata_model::{Label, LabelStr, Labels};

const PREFIX: &str = "__meta_kubernetes_";
const NAMESPACE: &str = "__meta_kubernetes_namespace";

/// Every object the watches of one discovery currently know, keyed
/// `namespace/name` (cluster-scoped objects by name).
#[derive(Debug, Default, Clone)]
pub struct Stores {
    pub pods: BTreeMap<String, Pod>,
    pub services: BTreeMap<String, Service>,
    pub endpoints: BTreeMap<String, Endpoints>,
    pub endpoint_slices: BTreeMap<String, EndpointSlice>,
    pub nodes: BTreeMap<String, Node>,
    pub ingresses: BTreeMap<String, Ingress>,
    pub namespaces: BTreeMap<String, Namespace>,
    pub replica_sets: BTreeMap<String, ReplicaSet>,
    pub jobs: BTreeMap<String, Job>,
}

/// Which related objects' labels a group carries (`attach_metadata`).
#[derive(Debug, Default, Clone, Copy)]
pub struct Attach {
    pub node: bool,
    pub namespace: bool,
    /// `_pod_deployment_name` through the pod's ReplicaSet.
    pub deployment: bool,
    /// `_pod_job_name`.
    pub job: bool,
    /// `_pod_cronjob_name` through the pod's Job.
    pub cronjob: bool,
}

/// The store key of an object: `namespace/name`, or the name alone for
/// cluster-scoped kinds.
pub fn object_key(meta: &ObjectMeta) -> String {
    namespaced(&meta.namespace, &meta.name)
}

fn namespaced(namespace: &str, name: &str) -> String {
    if namespace.is_empty() {
        name.to_string()
    } else {
        format!("{namespace}/{name}")
    }
}

/// Prometheus' `strutil.SanitizeLabelName`: every character outside
/// `[a-zA-Z0-9_]` becomes `_`.
pub fn sanitize_label_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Go's `net.JoinHostPort`.
fn join_host_port(host: &str, port: impl std::fmt::Display) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// A label set under construction; a later `set` of a name wins, as
/// Prometheus' `LabelSet.Merge` lets the merged-in set win.
#[derive(Default)]
struct Set(Vec<Label>);

impl Set {
    fn set(&mut self, name: impl Into<LabelStr>, value: impl Into<LabelStr>) {
        self.0.push(Label::new(name, value));
    }

    fn extend(&mut self, other: &Set) {
        self.0.extend(other.0.iter().cloned());
    }

    fn labels(self) -> Labels {
        Labels::new(self.0)
    }

    /// `_label_`/`_labelpresent_`/`_annotation_`/`_annotationpresent_`
    /// labels of an object's metadata under `resource`.
    fn labels_and_annotations(&mut self, meta: &ObjectMeta, resource: &str) {
        for (k, v) in &meta.labels {
            let n = sanitize_label_name(k);
            self.set(format!("{PREFIX}{resource}_label_{n}"), v.as_str());
            self.set(format!("{PREFIX}{resource}_labelpresent_{n}"), "true");
        }
        for (k, v) in &meta.annotations {
            let n = sanitize_label_name(k);
            self.set(format!("{PREFIX}{resource}_annotation_{n}"), v.as_str());
            self.set(format!("{PREFIX}{resource}_annotationpresent_{n}"), "true");
        }
    }

    /// `_<role>_name` and the labels and annotations.
    fn object_meta(&mut self, meta: &ObjectMeta, role: &str) {
        self.set(format!("{PREFIX}{role}_name"), meta.name.as_str());
        self.labels_and_annotations(meta, role);
    }
}

/// Every group of `role` the stores hold, in key order.
pub fn build_groups(role: KubernetesRole, stores: &Stores, attach: Attach) -> Vec<TargetGroup> {
    let ctx = Ctx { stores, attach };
    match role {
        KubernetesRole::Pod => stores.pods.values().map(|p| ctx.pod_group(p)).collect(),
        KubernetesRole::Service => stores
            .services
            .values()
            .map(|s| ctx.service_group(s))
            .collect(),
        KubernetesRole::Endpoints => stores
            .endpoints
            .values()
            .map(|e| ctx.endpoints_group(e))
            .collect(),
        KubernetesRole::EndpointSlice => stores
            .endpoint_slices
            .values()
            .map(|e| ctx.endpoint_slice_group(e))
            .collect(),
        KubernetesRole::Node => stores.nodes.values().filter_map(node_group).collect(),
        KubernetesRole::Ingress => stores
            .ingresses
            .values()
            .map(|i| ctx.ingress_group(i))
            .collect(),
    }
}

struct Ctx<'a> {
    stores: &'a Stores,
    attach: Attach,
}

/// The container ports of a pod's containers then init containers, with
/// whether each is an init container.
fn all_containers(pod: &Pod) -> impl Iterator<Item = (&Container, bool)> {
    pod.spec
        .containers
        .iter()
        .map(|c| (c, false))
        .chain(pod.spec.init_containers.iter().map(|c| (c, true)))
}

/// The container exposing `port` and its port entry. When several do,
/// the last one's labels are those Prometheus ends up with (it overwrites
/// them container by container).
fn matching_container(pod: &Pod, port: i32) -> Option<(&Container, &ContainerPort, bool)> {
    all_containers(pod)
        .filter_map(|(c, init)| {
            c.ports
                .iter()
                .find(|cp| cp.container_port == port)
                .map(|cp| (c, cp, init))
        })
        .last()
}

fn pod_ready(pod: &Pod) -> String {
    pod.status
        .conditions
        .iter()
        .find(|c| c.kind == "Ready")
        .map(|c| c.status.to_lowercase())
        .unwrap_or_else(|| "unknown".to_string())
}

fn controller_of(meta: &ObjectMeta) -> Option<&OwnerReference> {
    meta.owner_references
        .iter()
        .find(|o| o.controller == Some(true))
}
fn container_id(pod: &Pod, name: &str, init: bool) -> String {
    let statuses = if init {
        &pod.status.init_container_statuses
    } else {
        &pod.status.container_statuses
    };
    statuses
        .iter()
        .find(|s| s.name == name)
        .map(|s| s.container_id.clone())
        .unwrap_or_default()
}

fn service_labels(svc: &Service) -> Set {
    let mut s = Set::default();
    s.set(NAMESPACE, svc.metadata.namespace.as_str());
    s.object_meta(&svc.metadata, "service");
    s
}

impl Ctx<'_> {
    /// The pod-level labels (Prometheus' `podLabels`), shared by the pod
    /// role and by endpoints targets backed by a pod.
    fn pod_labels(&self, pod: &Pod) -> Set {
        let mut s = Set::default();
        s.set(format!("{PREFIX}pod_ip"), pod.status.pod_ip.as_str());
        s.set(format!("{PREFIX}pod_ready"), pod_ready(pod));
        s.set(format!("{PREFIX}pod_phase"), pod.status.phase.as_str());
        s.set(
            format!("{PREFIX}pod_node_name"),
            pod.spec.node_name.as_str(),
        );
        s.set(format!("{PREFIX}pod_host_ip"), pod.status.host_ip.as_str());
        s.set(format!("{PREFIX}pod_uid"), pod.metadata.uid.as_str());
        s.object_meta(&pod.metadata, "pod");
        let Some(owner) = controller_of(&pod.metadata) else {
            return s;
        };
        s.set(format!("{PREFIX}pod_controller_kind"), owner.kind.as_str());
        s.set(format!("{PREFIX}pod_controller_name"), owner.name.as_str());
        let key = namespaced(&pod.metadata.namespace, &owner.name);
        match owner.kind.as_str() {
            "ReplicaSet" if self.attach.deployment => {
                if let Some(d) = self
                    .stores
                    .replica_sets
                    .get(&key)
                    .and_then(|rs| controller_of(&rs.metadata))
                    .filter(|o| o.kind == "Deployment")
                {
                    s.set(format!("{PREFIX}pod_deployment_name"), d.name.as_str());
                }
            }
            "Job" => {
                if self.attach.job {
                    s.set(format!("{PREFIX}pod_job_name"), owner.name.as_str());
                }
                if self.attach.cronjob
                    && let Some(c) = self
                        .stores
                        .jobs
                        .get(&key)
                        .and_then(|j| controller_of(&j.metadata))
                        .filter(|o| o.kind == "CronJob")
                {
                    s.set(format!("{PREFIX}pod_cronjob_name"), c.name.as_str());
                }
            }
            _ => {}
        }
        s
    }

    /// Targets for the container ports of a pod behind an endpoint that the
    /// endpoint did not name.
    fn unseen_pod_ports(&self, pod: &Pod, seen_ports: &[i32], targets: &mut Vec<Labels>) {
        if pod.status.pod_ip.is_empty() {
            return;
        }
        for (c, init) in all_containers(pod) {
            for cp in &c.ports {
                if seen_ports.contains(&cp.container_port) {
                    continue;
                }
                let mut t = Set::default();
                t.set(
                    ADDRESS,
                    join_host_port(&pod.status.pod_ip, cp.container_port),
                );
                t.set(format!("{PREFIX}pod_container_name"), c.name.as_str());
                t.set(format!("{PREFIX}pod_container_image"), c.image.as_str());
                t.set(format!("{PREFIX}pod_container_port_name"), cp.name.as_str());
                t.set(
                    format!("{PREFIX}pod_container_port_number"),
                    cp.container_port.to_string(),
                );
                t.set(
                    format!("{PREFIX}pod_container_port_protocol"),
                    cp.protocol.as_str(),
                );
                t.set(format!("{PREFIX}pod_container_init"), init.to_string());
                t.extend(&self.pod_labels(pod));
                targets.push(t.labels());
            }
        }
    }

    fn node_labels(&self, target: &mut Set, node_name: Option<&str>) {
        let Some(node) = node_name.and_then(|n| self.stores.nodes.get(n)) else {
            return;
        };
        target.object_meta(&node.metadata, "node");
    }

    fn namespace_labels(&self, group: &mut Set, namespace: &str) {
        if !self.attach.namespace {
            return;
        }
        if let Some(ns) = self.stores.namespaces.get(namespace) {
            group.labels_and_annotations(&ns.metadata, "namespace");
        }
    }

    fn pod_group(&self, pod: &Pod) -> TargetGroup {
        let source = format!(
            "pod/{}",
            namespaced_always(&pod.metadata.namespace, &pod.metadata.name)
        );
        let empty = TargetGroup {
            source,
            ..TargetGroup::default()
        };
        if pod.status.pod_ip.is_empty() {
            return empty;
        }
        // Prometheus waits for the pod's node to be known before it lists
        // the pod when node metadata is attached.
        if self.attach.node && !self.stores.nodes.contains_key(&pod.spec.node_name) {
            return empty;
        }
        let mut group = self.pod_labels(pod);
        group.set(NAMESPACE, pod.metadata.namespace.as_str());
        if self.attach.node {
            self.node_labels(&mut group, Some(&pod.spec.node_name));
        }
        self.namespace_labels(&mut group, &pod.metadata.namespace);

        let ip = pod.status.pod_ip.as_str();
        let mut targets = Vec::new();
        for (c, init) in all_containers(pod) {
            let id = container_id(pod, &c.name, init);
            let common = |t: &mut Set| {
                t.set(format!("{PREFIX}pod_container_name"), c.name.as_str());
                t.set(format!("{PREFIX}pod_container_id"), id.as_str());
                t.set(format!("{PREFIX}pod_container_image"), c.image.as_str());
                t.set(format!("{PREFIX}pod_container_init"), init.to_string());
            };
            if c.ports.is_empty() {
                let mut t = Set::default();
                t.set(ADDRESS, ip);
                common(&mut t);
                targets.push(t.labels());
                continue;
            }
            for p in &c.ports {
                let mut t = Set::default();
                t.set(ADDRESS, join_host_port(ip, p.container_port));
                common(&mut t);
                t.set(
                    format!("{PREFIX}pod_container_port_number"),
                    p.container_port.to_string(),
                );
                t.set(format!("{PREFIX}pod_container_port_name"), p.name.as_str());
                t.set(
                    format!("{PREFIX}pod_container_port_protocol"),
                    p.protocol.as_str(),
                );
                targets.push(t.labels());
            }
        }
        TargetGroup {
            source: empty.source,
            targets,
            labels: group.labels(),
        }
    }

    fn service_group(&self, svc: &Service) -> TargetGroup {
        let mut group = service_labels(svc);
        self.namespace_labels(&mut group, &svc.metadata.namespace);
        let host = format!("{}.{}.svc", svc.metadata.name, svc.metadata.namespace);
        let targets = svc
            .spec
            .ports
            .iter()
            .map(|p| {
                let mut t = Set::default();
                t.set(ADDRESS, join_host_port(&host, p.port));
                t.set(format!("{PREFIX}service_port_name"), p.name.as_str());
                t.set(format!("{PREFIX}service_port_number"), p.port.to_string());
                t.set(
                    format!("{PREFIX}service_port_protocol"),
                    p.protocol.as_str(),
                );
                t.set(format!("{PREFIX}service_type"), svc.spec.kind.as_str());
                if svc.spec.kind == "ExternalName" {
                    t.set(
                        format!("{PREFIX}service_external_name"),
                        svc.spec.external_name.as_str(),
                    );
                } else {
                    t.set(
                        format!("{PREFIX}service_cluster_ip"),
                        svc.spec.cluster_ip.as_str(),
                    );
                }
                if svc.spec.kind == "LoadBalancer" {
                    t.set(
                        format!("{PREFIX}service_loadbalancer_ip"),
                        load_balancer_ips(svc),
                    );
                }
                t.labels()
            })
            .collect();
        TargetGroup {
            source: format!(
                "svc/{}",
                namespaced_always(&svc.metadata.namespace, &svc.metadata.name)
            ),
            targets,
            labels: group.labels(),
        }
    }

    fn resolve_pod(&self, target_ref: Option<&ObjectReference>) -> Option<&Pod> {
        let r = target_ref.filter(|r| r.kind == "Pod")?;
        self.stores.pods.get(&namespaced(&r.namespace, &r.name))
    }

    fn endpoints_group(&self, eps: &Endpoints) -> TargetGroup {
        let ns = eps.metadata.namespace.as_str();
        let mut group = Set::default();
        group.set(NAMESPACE, ns);
        if let Some(svc) = self
            .stores
            .services
            .get(&namespaced(ns, &eps.metadata.name))
        {
            group.extend(&service_labels(svc));
        }
        group.object_meta(&eps.metadata, "endpoints");
        self.namespace_labels(&mut group, ns);

        let mut targets = Vec::new();
        // Pods seen behind an address, with the ports the endpoints gave
        // them: their other container ports become targets too.
        let mut seen: BTreeMap<String, (&Pod, Vec<i32>)> = BTreeMap::new();
        let mut add = |addr: &EndpointAddress, port: &EndpointPort, ready: &str| {
            let mut t = Set::default();
            t.set(ADDRESS, join_host_port(&addr.ip, port.port));
            t.set(format!("{PREFIX}endpoint_port_name"), port.name.as_str());
            t.set(
                format!("{PREFIX}endpoint_port_protocol"),
                port.protocol.as_str(),
            );
            t.set(format!("{PREFIX}endpoint_ready"), ready);
            if let Some(r) = &addr.target_ref {
                t.set(
                    format!("{PREFIX}endpoint_address_target_kind"),
                    r.kind.as_str(),
                );
                t.set(
                    format!("{PREFIX}endpoint_address_target_name"),
                    r.name.as_str(),
                );
            }
            if let Some(n) = &addr.node_name {
                t.set(format!("{PREFIX}endpoint_node_name"), n.as_str());
            }
            if !addr.hostname.is_empty() {
                t.set(format!("{PREFIX}endpoint_hostname"), addr.hostname.as_str());
            }
            if self.attach.node {
                let node = addr.node_name.as_deref().or(addr
                    .target_ref
                    .as_ref()
                    .filter(|r| r.kind == "Node")
                    .map(|r| r.name.as_str()));
                self.node_labels(&mut t, node);
            }
            let Some(pod) = self.resolve_pod(addr.target_ref.as_ref()) else {
                targets.push(t.labels());
                return;
            };
            seen.entry(object_key(&pod.metadata))
                .or_insert_with(|| (pod, Vec::new()))
                .1
                .push(port.port);
            t.extend(&self.pod_labels(pod));
            if let Some((c, cport, init)) = matching_container(pod, port.port) {
                t.set(format!("{PREFIX}pod_container_name"), c.name.as_str());
                t.set(format!("{PREFIX}pod_container_image"), c.image.as_str());
                t.set(
                    format!("{PREFIX}pod_container_port_name"),
                    cport.name.as_str(),
                );
                t.set(
                    format!("{PREFIX}pod_container_port_number"),
                    port.port.to_string(),
                );
                // The endpoint's protocol, as Prometheus' endpoints role.
                t.set(
                    format!("{PREFIX}pod_container_port_protocol"),
                    port.protocol.as_str(),
                );
                t.set(format!("{PREFIX}pod_container_init"), init.to_string());
            }
            targets.push(t.labels());
        };
        for ss in &eps.subsets {
            for port in &ss.ports {
                for addr in &ss.addresses {
                    add(addr, port, "true");
                }
                for addr in &ss.not_ready_addresses {
                    add(addr, port, "false");
                }
            }
        }
        for (pod, ports) in seen.values() {
            self.unseen_pod_ports(pod, ports, &mut targets);
        }
        TargetGroup {
            source: format!("endpoints/{ns}/{}", eps.metadata.name),
            targets,
            labels: group.labels(),
        }
    }

    fn endpoint_slice_group(&self, eps: &EndpointSlice) -> TargetGroup {
        let ns = eps.metadata.namespace.as_str();
        let source = format!("endpointslice/{ns}/{}", eps.metadata.name);
        let mut group = Set::default();
        group.set(NAMESPACE, ns);
        group.set(
            format!("{PREFIX}endpointslice_address_type"),
            eps.address_type.as_str(),
        );
        group.object_meta(&eps.metadata, "endpointslice");
        let svc = eps
            .metadata
            .labels
            .get("kubernetes.io/service-name")
            .and_then(|name| self.stores.services.get(&namespaced(ns, name)));
        if let Some(svc) = svc {
            group.extend(&service_labels(svc));
        }
        self.namespace_labels(&mut group, ns);
        // A dual-stack service's slices of its secondary family are left
        // out: the primary family's slice has the same pods.
        if let Some(svc) = svc {
            let dual = matches!(
                svc.spec.ip_family_policy.as_deref(),
                Some("PreferDualStack" | "RequireDualStack")
            );
            if dual
                && svc
                    .spec
                    .ip_families
                    .first()
                    .is_some_and(|f| *f != eps.address_type)
            {
                return TargetGroup {
                    source,
                    targets: Vec::new(),
                    labels: group.labels(),
                };
            }
        }

        let mut targets = Vec::new();
        let mut seen: BTreeMap<String, (&Pod, Vec<i32>)> = BTreeMap::new();
        for ep in &eps.endpoints {
            for port in &eps.ports {
                for addr in &ep.addresses {
                    let mut t = Set::default();
                    t.set(
                        ADDRESS,
                        match port.port {
                            Some(p) => join_host_port(addr, p),
                            None => addr.clone(),
                        },
                    );
                    slice_port_labels(&mut t, port);
                    let c = &ep.conditions;
                    for (name, v) in [
                        ("ready", c.ready),
                        ("serving", c.serving),
                        ("terminating", c.terminating),
                    ] {
                        if let Some(v) = v {
                            t.set(
                                format!("{PREFIX}endpointslice_endpoint_conditions_{name}"),
                                v.to_string(),
                            );
                        }
                    }
                    if let Some(h) = &ep.hostname {
                        t.set(
                            format!("{PREFIX}endpointslice_endpoint_hostname"),
                            h.as_str(),
                        );
                    }
                    if let Some(r) = &ep.target_ref {
                        t.set(
                            format!("{PREFIX}endpointslice_address_target_kind"),
                            r.kind.as_str(),
                        );
                        t.set(
                            format!("{PREFIX}endpointslice_address_target_name"),
                            r.name.as_str(),
                        );
                    }
                    if let Some(n) = &ep.node_name {
                        t.set(
                            format!("{PREFIX}endpointslice_endpoint_node_name"),
                            n.as_str(),
                        );
                    }
                    if let Some(z) = &ep.zone {
                        t.set(format!("{PREFIX}endpointslice_endpoint_zone"), z.as_str());
                    }
                    for (k, v) in &ep.deprecated_topology {
                        let n = sanitize_label_name(k);
                        t.set(
                            format!("{PREFIX}endpointslice_endpoint_topology_{n}"),
                            v.as_str(),
                        );
                        t.set(
                            format!("{PREFIX}endpointslice_endpoint_topology_present_{n}"),
                            "true",
                        );
                    }
                    if self.attach.node {
                        let node = match &ep.target_ref {
                            Some(r) if r.kind == "Node" => Some(r.name.as_str()),
                            _ => ep.node_name.as_deref(),
                        };
                        self.node_labels(&mut t, node);
                    }
                    let Some(pod) = self.resolve_pod(ep.target_ref.as_ref()) else {
                        targets.push(t.labels());
                        continue;
                    };
                    let entry = seen
                        .entry(object_key(&pod.metadata))
                        .or_insert_with(|| (pod, Vec::new()));
                    if let Some(p) = port.port {
                        entry.1.push(p);
                    }
                    t.extend(&self.pod_labels(pod));
                    if let Some(p) = port.port
                        && let Some((c, cport, init)) = matching_container(pod, p)
                    {
                        t.set(format!("{PREFIX}pod_container_name"), c.name.as_str());
                        t.set(format!("{PREFIX}pod_container_image"), c.image.as_str());
                        t.set(
                            format!("{PREFIX}pod_container_port_name"),
                            cport.name.as_str(),
                        );
                        t.set(format!("{PREFIX}pod_container_port_number"), p.to_string());
                        t.set(
                            format!("{PREFIX}pod_container_port_protocol"),
                            cport.protocol.as_str(),
                        );
                        t.set(format!("{PREFIX}pod_container_init"), init.to_string());
                    }
                    targets.push(t.labels());
                }
            }
        }
        for (pod, ports) in seen.values() {
            self.unseen_pod_ports(pod, ports, &mut targets);
        }
        TargetGroup {
            source,
            targets,
            labels: group.labels(),
        }
    }

    fn ingress_group(&self, ing: &Ingress) -> TargetGroup {
        let ns = ing.metadata.namespace.as_str();
        let mut group = Set::default();
        group.set(NAMESPACE, ns);
        if let Some(c) = &ing.spec.ingress_class_name {
            group.set(format!("{PREFIX}ingress_class_name"), c.as_str());
        }
        group.object_meta(&ing.metadata, "ingress");
        self.namespace_labels(&mut group, ns);
        let tls_hosts: Vec<&str> = ing
            .spec
            .tls
            .iter()
            .flat_map(|t| t.hosts.iter().map(String::as_str))
            .collect();
        let mut targets = Vec::new();
        for rule in &ing.spec.rules {
            let scheme = if tls_hosts
                .iter()
                .any(|p| matches_hostname_pattern(p, &rule.host))
            {
                "https"
            } else {
                "http"
            };
            let paths: Vec<&str> = match &rule.http {
                None => vec!["/"],
                Some(h) => h
                    .paths
                    .iter()
                    .map(|p| if p.path.is_empty() { "/" } else { &p.path })
                    .collect(),
            };
            for path in paths {
                let mut t = Set::default();
                t.set(ADDRESS, rule.host.as_str());
                t.set(format!("{PREFIX}ingress_scheme"), scheme);
                t.set(format!("{PREFIX}ingress_host"), rule.host.as_str());
                t.set(format!("{PREFIX}ingress_path"), path);
                targets.push(t.labels());
            }
        }
        TargetGroup {
            source: format!("ingress/{ns}/{}", ing.metadata.name),
            targets,
            labels: group.labels(),
        }
    }
}

/// `namespace/name` even when the namespace is empty, as Prometheus'
/// `namespacedName` (sources and namespaced lookups).
fn namespaced_always(namespace: &str, name: &str) -> String {
    format!("{namespace}/{name}")
}

fn slice_port_labels(t: &mut Set, port: &SlicePort) {
    if let Some(n) = &port.name {
        t.set(format!("{PREFIX}endpointslice_port_name"), n.as_str());
    }
    if let Some(p) = &port.protocol {
        t.set(format!("{PREFIX}endpointslice_port_protocol"), p.as_str());
    }
    if let Some(p) = port.port {
        t.set(format!("{PREFIX}endpointslice_port"), p.to_string());
    }
    if let Some(a) = &port.app_protocol {
        t.set(
            format!("{PREFIX}endpointslice_port_app_protocol"),
            a.as_str(),
        );
    }
}

fn load_balancer_ips(svc: &Service) -> String {
    let ips: Vec<&str> = svc
        .status
        .load_balancer
        .ingress
        .iter()
        .map(|i| i.ip.as_str())
        .filter(|ip| !ip.is_empty())
        .collect();
    if ips.is_empty() {
        svc.spec.load_balancer_ip.clone()
    } else {
        ips.join(",")
    }
}

/// A TLS host entry matching a rule's host: equal, or `*.rest` matching
/// one leading label.
fn matches_hostname_pattern(pattern: &str, host: &str) -> bool {
    if pattern == host {
        return true;
    }
    let p: Vec<&str> = pattern.split('.').collect();
    let h: Vec<&str> = host.split('.').collect();
    p.first() == Some(&"*") && p.len() == h.len() && p[1..] == h[1..]
}

/// A node's group: `None` when it has no address (Prometheus then sends
/// nothing for it).
fn node_group(node: &Node) -> Option<TargetGroup> {
    let mut group = Set::default();
    group.set(
        format!("{PREFIX}node_provider_id"),
        node.spec.provider_id.as_str(),
    );
    for c in &node.status.conditions {
        let n = sanitize_label_name(&c.kind.to_lowercase());
        group.set(
            format!("{PREFIX}node_condition_{n}"),
            c.status.to_lowercase(),
        );
    }
    group.object_meta(&node.metadata, "node");

    // First address of each type, in the order the node lists them.
    let mut by_type: Vec<(&str, &str)> = Vec::new();
    for a in &node.status.addresses {
        if !by_type.iter().any(|(t, _)| *t == a.kind) {
            by_type.push((&a.kind, &a.address));
        }
    }
    let addr = [
        "InternalIP",
        "InternalDNS",
        "ExternalIP",
        "ExternalDNS",
        "LegacyHostIP",
        "Hostname",
    ]
    .iter()
    .find_map(|want| by_type.iter().find(|(t, _)| t == want).map(|(_, a)| *a))?;
    let mut t = Set::default();
    t.set(
        ADDRESS,
        join_host_port(addr, node.status.daemon_endpoints.kubelet_endpoint.port),
    );
    t.set("instance", node.metadata.name.as_str());
    for (ty, a) in &by_type {
        t.set(
            sanitize_label_name(&format!("{PREFIX}node_address_{ty}")),
            *a,
        );
    }
    Some(TargetGroup {
        source: format!("node/{}", node.metadata.name),
        targets: vec![t.labels()],
        labels: group.labels(),
    })
}
