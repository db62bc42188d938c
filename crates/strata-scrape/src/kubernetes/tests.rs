//! Groups built from API JSON fixtures, checked against the labels
//! Prometheus' own discovery tests expect for the same objects.

use super::objects::*;
use super::targets::*;
use super::*;
use crate::target::TargetGroup;
use strata_model::Labels;

fn obj<T: Object>(json: &str) -> T {
    serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {json}"))
}

fn ls(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied())
}

fn only(groups: Vec<TargetGroup>) -> TargetGroup {
    assert_eq!(groups.len(), 1, "{groups:#?}");
    groups.into_iter().next().unwrap_or_default()
}

fn put<T: Object>(map: &mut BTreeMap<String, T>, o: T) {
    map.insert(object_key(o.meta()), o);
}

const MULTI_PORT_POD: &str = r#"{
  "metadata": {"name": "testpod", "namespace": "default", "uid": "abc123",
    "labels": {"test/label": "testvalue"},
    "annotations": {"test/annotation": "testannotationvalue"},
    "ownerReferences": [{"kind": "testcontrollerkind", "name": "testcontrollername", "controller": true}]},
  "spec": {"nodeName": "testnode",
    "containers": [
      {"name": "testcontainer0", "image": "testcontainer0:latest", "ports": [
        {"name": "testport0", "protocol": "TCP", "containerPort": 9000},
        {"name": "testport1", "protocol": "UDP", "containerPort": 9001}]},
      {"name": "testcontainer1", "image": "testcontainer1:latest"}],
    "initContainers": [{"name": "init", "image": "init:1", "ports": null}]},
  "status": {"podIP": "1.2.3.4", "hostIP": "2.3.4.5", "phase": "Running",
    "conditions": [{"type": "Initialized", "status": "True"}, {"type": "Ready", "status": "True"}],
    "containerStatuses": [
      {"name": "testcontainer0", "containerID": "docker://a1b2c3d4e5f6"},
      {"name": "testcontainer1", "containerID": "containerd://6f5e4d3c2b1a"}],
    "initContainerStatuses": [{"name": "init", "containerID": "containerd://1717"}]}
}"#;

const POD_GROUP_LABELS: &[(&str, &str)] = &[
    ("__meta_kubernetes_pod_name", "testpod"),
    ("__meta_kubernetes_namespace", "default"),
    ("__meta_kubernetes_pod_label_test_label", "testvalue"),
    ("__meta_kubernetes_pod_labelpresent_test_label", "true"),
    (
        "__meta_kubernetes_pod_annotation_test_annotation",
        "testannotationvalue",
    ),
    (
        "__meta_kubernetes_pod_annotationpresent_test_annotation",
        "true",
    ),
    ("__meta_kubernetes_pod_node_name", "testnode"),
    ("__meta_kubernetes_pod_ip", "1.2.3.4"),
    ("__meta_kubernetes_pod_host_ip", "2.3.4.5"),
    ("__meta_kubernetes_pod_ready", "true"),
    ("__meta_kubernetes_pod_phase", "Running"),
    ("__meta_kubernetes_pod_uid", "abc123"),
    (
        "__meta_kubernetes_pod_controller_kind",
        "testcontrollerkind",
    ),
    (
        "__meta_kubernetes_pod_controller_name",
        "testcontrollername",
    ),
];

#[test]
fn pod_role_has_one_target_per_port_and_portless_container() {
    let mut s = Stores::default();
    put(&mut s.pods, obj::<Pod>(MULTI_PORT_POD));
    let g = only(build_groups(KubernetesRole::Pod, &s, Attach::default()));
    assert_eq!(g.source, "pod/default/testpod");
    assert_eq!(g.labels, ls(POD_GROUP_LABELS));
    let port = |addr, name, num, proto| {
        ls(&[
            ("__address__", addr),
            ("__meta_kubernetes_pod_container_name", "testcontainer0"),
            (
                "__meta_kubernetes_pod_container_image",
                "testcontainer0:latest",
            ),
            ("__meta_kubernetes_pod_container_port_name", name),
            ("__meta_kubernetes_pod_container_port_number", num),
            ("__meta_kubernetes_pod_container_port_protocol", proto),
            ("__meta_kubernetes_pod_container_init", "false"),
            (
                "__meta_kubernetes_pod_container_id",
                "docker://a1b2c3d4e5f6",
            ),
        ])
    };
    assert_eq!(
        g.targets,
        vec![
            port("1.2.3.4:9000", "testport0", "9000", "TCP"),
            port("1.2.3.4:9001", "testport1", "9001", "UDP"),
            ls(&[
                ("__address__", "1.2.3.4"),
                ("__meta_kubernetes_pod_container_name", "testcontainer1"),
                (
                    "__meta_kubernetes_pod_container_image",
                    "testcontainer1:latest"
                ),
                ("__meta_kubernetes_pod_container_init", "false"),
                (
                    "__meta_kubernetes_pod_container_id",
                    "containerd://6f5e4d3c2b1a"
                ),
            ]),
            ls(&[
                ("__address__", "1.2.3.4"),
                ("__meta_kubernetes_pod_container_name", "init"),
                ("__meta_kubernetes_pod_container_image", "init:1"),
                ("__meta_kubernetes_pod_container_init", "true"),
                ("__meta_kubernetes_pod_container_id", "containerd://1717"),
            ]),
        ]
    );
}

#[test]
fn pod_without_ip_or_ready_condition() {
    let mut s = Stores::default();
    put(
        &mut s.pods,
        obj::<Pod>(
            r#"{"metadata": {"name": "p", "namespace": "ns"}, "status": {"phase": "Pending"}}"#,
        ),
    );
    let g = only(build_groups(KubernetesRole::Pod, &s, Attach::default()));
    assert_eq!(g.source, "pod/ns/p");
    assert!(g.targets.is_empty() && g.labels.is_empty());

    put(
        &mut s.pods,
        obj::<Pod>(
            r#"{"metadata": {"name": "p", "namespace": "ns"}, "status": {"podIP": "fd00::5"},
                "spec": {"containers": [{"name": "c", "ports": [{"containerPort": 80}]}]}}"#,
        ),
    );
    let g = only(build_groups(KubernetesRole::Pod, &s, Attach::default()));
    assert_eq!(g.labels.get("__meta_kubernetes_pod_ready"), Some("unknown"));
    assert_eq!(g.targets[0].get("__address__"), Some("[fd00::5]:80"));
}

#[test]
fn pod_with_node_and_namespace_metadata() {
    let mut s = Stores::default();
    put(&mut s.pods, obj::<Pod>(MULTI_PORT_POD));
    let attach = Attach {
        node: true,
        namespace: true,
        ..Attach::default()
    };
    // Until its node is known the pod has no targets, as in Prometheus.
    let g = only(build_groups(KubernetesRole::Pod, &s, attach));
    assert!(g.targets.is_empty());
    put(
        &mut s.nodes,
        obj::<Node>(
            r#"{"metadata": {"name": "testnode", "labels": {"l1": "v1"}, "annotations": {"a1": "v2"}}}"#,
        ),
    );
    put(
        &mut s.namespaces,
        obj::<Namespace>(
            r#"{"metadata": {"name": "default", "labels": {"team.io/owner": "sre"}}}"#,
        ),
    );
    let g = only(build_groups(KubernetesRole::Pod, &s, attach));
    assert_eq!(g.targets.len(), 4);
    let mut want = POD_GROUP_LABELS.to_vec();
    want.extend([
        ("__meta_kubernetes_node_name", "testnode"),
        ("__meta_kubernetes_node_label_l1", "v1"),
        ("__meta_kubernetes_node_labelpresent_l1", "true"),
        ("__meta_kubernetes_node_annotation_a1", "v2"),
        ("__meta_kubernetes_node_annotationpresent_a1", "true"),
        ("__meta_kubernetes_namespace_label_team_io_owner", "sre"),
        (
            "__meta_kubernetes_namespace_labelpresent_team_io_owner",
            "true",
        ),
    ]);
    assert_eq!(g.labels, ls(&want));
}

#[test]
fn pod_controller_metadata_through_replicasets_and_jobs() {
    let pod_owned_by = |name: &str, kind: &str, owner: &str| {
        obj::<Pod>(&format!(
            r#"{{"metadata": {{"name": "{name}", "namespace": "ns",
                "ownerReferences": [{{"kind": "Other", "name": "x"}},
                                    {{"kind": "{kind}", "name": "{owner}", "controller": true}}]}},
                "status": {{"podIP": "1.1.1.1"}}}}"#
        ))
    };
    let mut s = Stores::default();
    put(&mut s.pods, pod_owned_by("web-1", "ReplicaSet", "web-7d9f"));
    put(&mut s.pods, pod_owned_by("batch-1", "Job", "nightly-123"));
    put(
        &mut s.replica_sets,
        obj::<ReplicaSet>(
            r#"{"metadata": {"name": "web-7d9f", "namespace": "ns",
                "ownerReferences": [{"kind": "Deployment", "name": "web", "controller": true}]}}"#,
        ),
    );
    put(
        &mut s.jobs,
        obj::<Job>(
            r#"{"metadata": {"name": "nightly-123", "namespace": "ns",
                "ownerReferences": [{"kind": "CronJob", "name": "nightly", "controller": true}]}}"#,
        ),
    );
    let label = |attach: Attach, src: &str, name: &str| {
        build_groups(KubernetesRole::Pod, &s, attach)
            .into_iter()
            .find(|g| g.source == src)
            .and_then(|g| g.labels.get(name).map(str::to_string))
    };
    let none = Attach::default();
    assert_eq!(
        label(
            none,
            "pod/ns/web-1",
            "__meta_kubernetes_pod_controller_kind"
        )
        .as_deref(),
        Some("ReplicaSet")
    );
    assert_eq!(
        label(
            none,
            "pod/ns/web-1",
            "__meta_kubernetes_pod_controller_name"
        )
        .as_deref(),
        Some("web-7d9f")
    );
    assert_eq!(
        label(
            none,
            "pod/ns/web-1",
            "__meta_kubernetes_pod_deployment_name"
        ),
        None
    );
    assert_eq!(
        label(none, "pod/ns/batch-1", "__meta_kubernetes_pod_job_name"),
        None
    );
    let all = Attach {
        deployment: true,
        job: true,
        cronjob: true,
        ..Attach::default()
    };
    assert_eq!(
        label(all, "pod/ns/web-1", "__meta_kubernetes_pod_deployment_name").as_deref(),
        Some("web")
    );
    assert_eq!(
        label(all, "pod/ns/batch-1", "__meta_kubernetes_pod_job_name").as_deref(),
        Some("nightly-123")
    );
    assert_eq!(
        label(all, "pod/ns/batch-1", "__meta_kubernetes_pod_cronjob_name").as_deref(),
        Some("nightly")
    );
}

#[test]
fn service_role_by_type() {
    let mut s = Stores::default();
    put(
        &mut s.services,
        obj::<Service>(
            r#"{"metadata": {"name": "testservice", "namespace": "default",
                  "labels": {"app/name": "test"}, "annotations": {"test/annotation": "test"}},
                "spec": {"type": "ClusterIP", "clusterIP": "10.0.0.1",
                  "ports": [{"name": "testport", "protocol": "TCP", "port": 30900},
                            {"name": "testport1", "protocol": "UDP", "port": 30901}]}}"#,
        ),
    );
    put(
        &mut s.services,
        obj::<Service>(
            r#"{"metadata": {"name": "ext", "namespace": "default"},
                "spec": {"type": "ExternalName", "externalName": "FooExternalName",
                  "ports": [{"name": "testport", "protocol": "TCP", "port": 31900}]}}"#,
        ),
    );
    put(
        &mut s.services,
        obj::<Service>(
            r#"{"metadata": {"name": "lb", "namespace": "default"},
                "spec": {"type": "LoadBalancer", "clusterIP": "10.0.0.3", "loadBalancerIP": "9.9.9.9",
                  "ports": [{"name": "testport", "protocol": "TCP", "port": 31900}]},
                "status": {"loadBalancer": {"ingress": [{"ip": "127.0.0.1"}, {"hostname": "x"}, {"ip": "127.0.0.2"}]}}}"#,
        ),
    );
    let groups = build_groups(KubernetesRole::Service, &s, Attach::default());
    let by = |src: &str| {
        groups
            .iter()
            .find(|g| g.source == src)
            .cloned()
            .unwrap_or_else(|| panic!("no {src}"))
    };
    let g = by("svc/default/testservice");
    assert_eq!(
        g.labels,
        ls(&[
            ("__meta_kubernetes_service_name", "testservice"),
            ("__meta_kubernetes_namespace", "default"),
            ("__meta_kubernetes_service_label_app_name", "test"),
            ("__meta_kubernetes_service_labelpresent_app_name", "true"),
            (
                "__meta_kubernetes_service_annotation_test_annotation",
                "test"
            ),
            (
                "__meta_kubernetes_service_annotationpresent_test_annotation",
                "true"
            ),
        ])
    );
    assert_eq!(
        g.targets,
        vec![
            ls(&[
                ("__address__", "testservice.default.svc:30900"),
                ("__meta_kubernetes_service_type", "ClusterIP"),
                ("__meta_kubernetes_service_cluster_ip", "10.0.0.1"),
                ("__meta_kubernetes_service_port_name", "testport"),
                ("__meta_kubernetes_service_port_number", "30900"),
                ("__meta_kubernetes_service_port_protocol", "TCP"),
            ]),
            ls(&[
                ("__address__", "testservice.default.svc:30901"),
                ("__meta_kubernetes_service_type", "ClusterIP"),
                ("__meta_kubernetes_service_cluster_ip", "10.0.0.1"),
                ("__meta_kubernetes_service_port_name", "testport1"),
                ("__meta_kubernetes_service_port_number", "30901"),
                ("__meta_kubernetes_service_port_protocol", "UDP"),
            ]),
        ]
    );
    let g = by("svc/default/ext");
    assert_eq!(
        g.targets[0].get("__meta_kubernetes_service_external_name"),
        Some("FooExternalName")
    );
    assert_eq!(
        g.targets[0].get("__meta_kubernetes_service_cluster_ip"),
        None
    );
    let g = by("svc/default/lb");
    assert_eq!(
        g.targets[0].get("__meta_kubernetes_service_loadbalancer_ip"),
        Some("127.0.0.1,127.0.0.2")
    );
    assert_eq!(
        g.targets[0].get("__meta_kubernetes_service_cluster_ip"),
        Some("10.0.0.3")
    );
}

const ENDPOINTS: &str = r#"{
  "metadata": {"name": "testendpoints", "namespace": "default", "annotations": {"test.annotation": "test"}},
  "subsets": [
    {"addresses": [{"ip": "1.2.3.4", "hostname": "testendpoint1", "nodeName": "foobar"}],
     "ports": [{"name": "testport", "port": 9000, "protocol": "TCP"}]},
    {"addresses": [{"ip": "2.3.4.5"}], "notReadyAddresses": [{"ip": "2.3.4.5"}],
     "ports": [{"name": "testport", "port": 9001, "protocol": "TCP"}]},
    {"addresses": [{"ip": "6.7.8.9", "targetRef": {"kind": "Node", "name": "barbaz"}}],
     "ports": [{"name": "testport", "port": 9002, "protocol": "TCP"}]}
  ]
}"#;

fn endpoint_target(addr: &str, ready: &str, extra: &[(&str, &str)]) -> Labels {
    let mut v = vec![
        ("__address__", addr),
        ("__meta_kubernetes_endpoint_port_name", "testport"),
        ("__meta_kubernetes_endpoint_port_protocol", "TCP"),
        ("__meta_kubernetes_endpoint_ready", ready),
    ];
    v.extend_from_slice(extra);
    ls(&v)
}

#[test]
fn endpoints_role_with_service() {
    let mut s = Stores::default();
    put(&mut s.endpoints, obj::<Endpoints>(ENDPOINTS));
    put(
        &mut s.services,
        obj::<Service>(
            r#"{"metadata": {"name": "testendpoints", "namespace": "default", "labels": {"app/name": "test"}}}"#,
        ),
    );
    let g = only(build_groups(
        KubernetesRole::Endpoints,
        &s,
        Attach::default(),
    ));
    assert_eq!(g.source, "endpoints/default/testendpoints");
    assert_eq!(
        g.targets,
        vec![
            endpoint_target(
                "1.2.3.4:9000",
                "true",
                &[
                    ("__meta_kubernetes_endpoint_hostname", "testendpoint1"),
                    ("__meta_kubernetes_endpoint_node_name", "foobar"),
                ]
            ),
            endpoint_target("2.3.4.5:9001", "true", &[]),
            endpoint_target("2.3.4.5:9001", "false", &[]),
            endpoint_target(
                "6.7.8.9:9002",
                "true",
                &[
                    ("__meta_kubernetes_endpoint_address_target_kind", "Node"),
                    ("__meta_kubernetes_endpoint_address_target_name", "barbaz"),
                ]
            ),
        ]
    );
    assert_eq!(
        g.labels,
        ls(&[
            ("__meta_kubernetes_namespace", "default"),
            ("__meta_kubernetes_endpoints_name", "testendpoints"),
            ("__meta_kubernetes_service_label_app_name", "test"),
            ("__meta_kubernetes_service_labelpresent_app_name", "true"),
            ("__meta_kubernetes_service_name", "testendpoints"),
            (
                "__meta_kubernetes_endpoints_annotation_test_annotation",
                "test"
            ),
            (
                "__meta_kubernetes_endpoints_annotationpresent_test_annotation",
                "true"
            ),
        ])
    );
}

const TEST_POD: &str = r#"{
  "metadata": {"name": "testpod", "namespace": "default", "uid": "deadbeef"},
  "spec": {"nodeName": "testnode", "containers": [
    {"name": "c1", "image": "c1:latest", "ports": [{"name": "mainport", "containerPort": 9000, "protocol": "TCP"}]},
    {"name": "c2", "image": "c2:latest", "ports": [{"name": "sideport", "containerPort": 9001, "protocol": "TCP"}]}]},
  "status": {"podIP": "1.2.3.4", "hostIP": "2.3.4.5", "phase": "Running",
    "conditions": [{"type": "Ready", "status": "True"}]}
}"#;

fn test_pod_labels() -> Vec<(&'static str, &'static str)> {
    vec![
        ("__meta_kubernetes_pod_name", "testpod"),
        ("__meta_kubernetes_pod_ip", "1.2.3.4"),
        ("__meta_kubernetes_pod_ready", "true"),
        ("__meta_kubernetes_pod_phase", "Running"),
        ("__meta_kubernetes_pod_node_name", "testnode"),
        ("__meta_kubernetes_pod_host_ip", "2.3.4.5"),
        ("__meta_kubernetes_pod_uid", "deadbeef"),
    ]
}

#[test]
fn endpoints_role_joins_pods_and_lists_their_other_ports() {
    let mut s = Stores::default();
    put(&mut s.pods, obj::<Pod>(TEST_POD));
    put(
        &mut s.endpoints,
        obj::<Endpoints>(
            r#"{"metadata": {"name": "testendpoint", "namespace": "default"},
                "subsets": [{"addresses": [{"ip": "4.3.2.1",
                  "targetRef": {"kind": "Pod", "name": "testpod", "namespace": "default"}}],
                  "ports": [{"name": "testport", "port": 9000, "protocol": "TCP"}]}]}"#,
        ),
    );
    let g = only(build_groups(
        KubernetesRole::Endpoints,
        &s,
        Attach::default(),
    ));
    let mut first = vec![
        ("__address__", "4.3.2.1:9000"),
        ("__meta_kubernetes_endpoint_port_name", "testport"),
        ("__meta_kubernetes_endpoint_port_protocol", "TCP"),
        ("__meta_kubernetes_endpoint_ready", "true"),
        ("__meta_kubernetes_endpoint_address_target_kind", "Pod"),
        ("__meta_kubernetes_endpoint_address_target_name", "testpod"),
        ("__meta_kubernetes_pod_container_name", "c1"),
        ("__meta_kubernetes_pod_container_image", "c1:latest"),
        ("__meta_kubernetes_pod_container_port_name", "mainport"),
        ("__meta_kubernetes_pod_container_port_number", "9000"),
        ("__meta_kubernetes_pod_container_port_protocol", "TCP"),
        ("__meta_kubernetes_pod_container_init", "false"),
    ];
    first.extend(test_pod_labels());
    let mut second = vec![
        ("__address__", "1.2.3.4:9001"),
        ("__meta_kubernetes_pod_container_name", "c2"),
        ("__meta_kubernetes_pod_container_image", "c2:latest"),
        ("__meta_kubernetes_pod_container_port_name", "sideport"),
        ("__meta_kubernetes_pod_container_port_number", "9001"),
        ("__meta_kubernetes_pod_container_port_protocol", "TCP"),
        ("__meta_kubernetes_pod_container_init", "false"),
    ];
    second.extend(test_pod_labels());
    assert_eq!(g.targets, vec![ls(&first), ls(&second)]);
    assert_eq!(
        g.labels,
        ls(&[
            ("__meta_kubernetes_namespace", "default"),
            ("__meta_kubernetes_endpoints_name", "testendpoint"),
        ])
    );
}

const SLICE: &str = r#"{
  "metadata": {"name": "testendpoints", "namespace": "default",
    "labels": {"kubernetes.io/service-name": "testendpoints"},
    "annotations": {"test.annotation": "test"}},
  "addressType": "IPv4",
  "ports": [{"name": "testport", "port": 9000, "protocol": "TCP", "appProtocol": "http"}],
  "endpoints": [
    {"addresses": ["1.2.3.4"], "conditions": {"ready": true, "serving": true, "terminating": false},
     "hostname": "testendpoint1", "targetRef": {}, "nodeName": "foobar",
     "deprecatedTopology": {"topology": "value"}},
    {"addresses": ["2.3.4.5"], "conditions": {"ready": true, "serving": true, "terminating": false}, "zone": "us-east-1a"},
    {"addresses": ["3.4.5.6"], "conditions": {"ready": false, "serving": true, "terminating": true}, "zone": "us-east-1b"},
    {"addresses": ["4.3.2.1"], "conditions": {"ready": true},
     "targetRef": {"kind": "Pod", "name": "testpod", "namespace": "default"}}
  ]
}"#;

#[test]
fn endpointslice_role_with_service_and_pod() {
    let mut s = Stores::default();
    put(&mut s.endpoint_slices, obj::<EndpointSlice>(SLICE));
    put(&mut s.pods, obj::<Pod>(TEST_POD));
    put(
        &mut s.services,
        obj::<Service>(
            r#"{"metadata": {"name": "testendpoints", "namespace": "default", "labels": {"app/name": "test"}}}"#,
        ),
    );
    let g = only(build_groups(
        KubernetesRole::EndpointSlice,
        &s,
        Attach::default(),
    ));
    assert_eq!(g.source, "endpointslice/default/testendpoints");
    assert_eq!(
        g.labels,
        ls(&[
            ("__meta_kubernetes_endpointslice_address_type", "IPv4"),
            ("__meta_kubernetes_endpointslice_name", "testendpoints"),
            (
                "__meta_kubernetes_endpointslice_label_kubernetes_io_service_name",
                "testendpoints"
            ),
            (
                "__meta_kubernetes_endpointslice_labelpresent_kubernetes_io_service_name",
                "true"
            ),
            (
                "__meta_kubernetes_endpointslice_annotation_test_annotation",
                "test"
            ),
            (
                "__meta_kubernetes_endpointslice_annotationpresent_test_annotation",
                "true"
            ),
            ("__meta_kubernetes_namespace", "default"),
            ("__meta_kubernetes_service_label_app_name", "test"),
            ("__meta_kubernetes_service_labelpresent_app_name", "true"),
            ("__meta_kubernetes_service_name", "testendpoints"),
        ])
    );
    let port = [
        ("__meta_kubernetes_endpointslice_port", "9000"),
        ("__meta_kubernetes_endpointslice_port_name", "testport"),
        ("__meta_kubernetes_endpointslice_port_protocol", "TCP"),
        ("__meta_kubernetes_endpointslice_port_app_protocol", "http"),
    ];
    let with_port = |v: &[(&'static str, &'static str)]| {
        let mut v = v.to_vec();
        v.extend(port);
        ls(&v)
    };
    let mut pod_target = vec![
        ("__address__", "4.3.2.1:9000"),
        (
            "__meta_kubernetes_endpointslice_endpoint_conditions_ready",
            "true",
        ),
        ("__meta_kubernetes_endpointslice_address_target_kind", "Pod"),
        (
            "__meta_kubernetes_endpointslice_address_target_name",
            "testpod",
        ),
        ("__meta_kubernetes_pod_container_name", "c1"),
        ("__meta_kubernetes_pod_container_image", "c1:latest"),
        ("__meta_kubernetes_pod_container_port_name", "mainport"),
        ("__meta_kubernetes_pod_container_port_number", "9000"),
        ("__meta_kubernetes_pod_container_port_protocol", "TCP"),
        ("__meta_kubernetes_pod_container_init", "false"),
    ];
    pod_target.extend(test_pod_labels());
    let mut side = vec![
        ("__address__", "1.2.3.4:9001"),
        ("__meta_kubernetes_pod_container_name", "c2"),
        ("__meta_kubernetes_pod_container_image", "c2:latest"),
        ("__meta_kubernetes_pod_container_port_name", "sideport"),
        ("__meta_kubernetes_pod_container_port_number", "9001"),
        ("__meta_kubernetes_pod_container_port_protocol", "TCP"),
        ("__meta_kubernetes_pod_container_init", "false"),
    ];
    side.extend(test_pod_labels());
    assert_eq!(
        g.targets,
        vec![
            with_port(&[
                ("__address__", "1.2.3.4:9000"),
                ("__meta_kubernetes_endpointslice_address_target_kind", ""),
                ("__meta_kubernetes_endpointslice_address_target_name", ""),
                (
                    "__meta_kubernetes_endpointslice_endpoint_conditions_ready",
                    "true"
                ),
                (
                    "__meta_kubernetes_endpointslice_endpoint_conditions_serving",
                    "true"
                ),
                (
                    "__meta_kubernetes_endpointslice_endpoint_conditions_terminating",
                    "false"
                ),
                (
                    "__meta_kubernetes_endpointslice_endpoint_hostname",
                    "testendpoint1"
                ),
                (
                    "__meta_kubernetes_endpointslice_endpoint_node_name",
                    "foobar"
                ),
                (
                    "__meta_kubernetes_endpointslice_endpoint_topology_present_topology",
                    "true"
                ),
                (
                    "__meta_kubernetes_endpointslice_endpoint_topology_topology",
                    "value"
                ),
            ]),
            with_port(&[
                ("__address__", "2.3.4.5:9000"),
                (
                    "__meta_kubernetes_endpointslice_endpoint_conditions_ready",
                    "true"
                ),
                (
                    "__meta_kubernetes_endpointslice_endpoint_conditions_serving",
                    "true"
                ),
                (
                    "__meta_kubernetes_endpointslice_endpoint_conditions_terminating",
                    "false"
                ),
                (
                    "__meta_kubernetes_endpointslice_endpoint_zone",
                    "us-east-1a"
                ),
            ]),
            with_port(&[
                ("__address__", "3.4.5.6:9000"),
                (
                    "__meta_kubernetes_endpointslice_endpoint_conditions_ready",
                    "false"
                ),
                (
                    "__meta_kubernetes_endpointslice_endpoint_conditions_serving",
                    "true"
                ),
                (
                    "__meta_kubernetes_endpointslice_endpoint_conditions_terminating",
                    "true"
                ),
                (
                    "__meta_kubernetes_endpointslice_endpoint_zone",
                    "us-east-1b"
                ),
            ]),
            with_port(&pod_target),
            ls(&side),
        ]
    );

    // The secondary family's slice of a dual-stack service has no targets.
    let mut svc = s.services.values().next().cloned().unwrap_or_default();
    svc.spec.ip_family_policy = Some("PreferDualStack".into());
    svc.spec.ip_families = vec!["IPv6".into(), "IPv4".into()];
    put(&mut s.services, svc);
    let g = only(build_groups(
        KubernetesRole::EndpointSlice,
        &s,
        Attach::default(),
    ));
    assert!(g.targets.is_empty());
    assert_eq!(
        g.labels.get("__meta_kubernetes_service_name"),
        Some("testendpoints")
    );
}

#[test]
fn node_role_address_preference_and_labels() {
    let mut s = Stores::default();
    put(
        &mut s.nodes,
        obj::<Node>(
            r#"{"metadata": {"name": "test", "labels": {"test-label": "testvalue"},
                  "annotations": {"test-annotation": "testannotationvalue"}},
                "spec": {"providerID": "aws:///us-east-1a/i-1"},
                "status": {"addresses": [
                    {"type": "Hostname", "address": "node-1"},
                    {"type": "ExternalIP", "address": "5.6.7.8"},
                    {"type": "InternalIP", "address": "1.2.3.4"},
                    {"type": "InternalIP", "address": "1.2.3.5"},
                    {"type": "Weird-Type", "address": "x"}],
                  "conditions": [{"type": "Ready", "status": "True"}, {"type": "MemoryPressure", "status": "False"}],
                  "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}}}}"#,
        ),
    );
    put(
        &mut s.nodes,
        obj::<Node>(r#"{"metadata": {"name": "addressless"}}"#),
    );
    let g = only(build_groups(KubernetesRole::Node, &s, Attach::default()));
    assert_eq!(g.source, "node/test");
    assert_eq!(
        g.targets,
        vec![ls(&[
            ("__address__", "1.2.3.4:10250"),
            ("instance", "test"),
            ("__meta_kubernetes_node_address_InternalIP", "1.2.3.4"),
            ("__meta_kubernetes_node_address_ExternalIP", "5.6.7.8"),
            ("__meta_kubernetes_node_address_Hostname", "node-1"),
            ("__meta_kubernetes_node_address_Weird_Type", "x"),
        ])]
    );
    assert_eq!(
        g.labels,
        ls(&[
            ("__meta_kubernetes_node_name", "test"),
            (
                "__meta_kubernetes_node_provider_id",
                "aws:///us-east-1a/i-1"
            ),
            ("__meta_kubernetes_node_label_test_label", "testvalue"),
            ("__meta_kubernetes_node_labelpresent_test_label", "true"),
            (
                "__meta_kubernetes_node_annotation_test_annotation",
                "testannotationvalue"
            ),
            (
                "__meta_kubernetes_node_annotationpresent_test_annotation",
                "true"
            ),
            ("__meta_kubernetes_node_condition_ready", "true"),
            ("__meta_kubernetes_node_condition_memorypressure", "false"),
        ])
    );
}

#[test]
fn ingress_role_scheme_from_tls_and_default_paths() {
    let mut s = Stores::default();
    put(
        &mut s.ingresses,
        obj::<Ingress>(
            r#"{"metadata": {"name": "testingress", "namespace": "default",
                  "labels": {"test/label": "testvalue"}, "annotations": {"test/annotation": "testannotationvalue"}},
                "spec": {"ingressClassName": "testclass",
                  "tls": [{"hosts": ["*.example.com"]}],
                  "rules": [
                    {"host": "example.com", "http": {"paths": [{"path": "/"}, {"path": "/foo"}]}},
                    {"host": "nobackend.example.com", "http": {}},
                    {"host": "test.example.com", "http": {"paths": [{}]}},
                    {"host": "nohttp.example.com"},
                    {"host": "a.b.example.com"}]}}"#,
        ),
    );
    let g = only(build_groups(KubernetesRole::Ingress, &s, Attach::default()));
    assert_eq!(g.source, "ingress/default/testingress");
    let t = |host, scheme, path| {
        ls(&[
            ("__address__", host),
            ("__meta_kubernetes_ingress_host", host),
            ("__meta_kubernetes_ingress_scheme", scheme),
            ("__meta_kubernetes_ingress_path", path),
        ])
    };
    assert_eq!(
        g.targets,
        vec![
            t("example.com", "http", "/"),
            t("example.com", "http", "/foo"),
            t("test.example.com", "https", "/"),
            t("nohttp.example.com", "https", "/"),
            t("a.b.example.com", "http", "/"),
        ]
    );
    assert_eq!(
        g.labels,
        ls(&[
            ("__meta_kubernetes_namespace", "default"),
            ("__meta_kubernetes_ingress_name", "testingress"),
            ("__meta_kubernetes_ingress_class_name", "testclass"),
            ("__meta_kubernetes_ingress_label_test_label", "testvalue"),
            ("__meta_kubernetes_ingress_labelpresent_test_label", "true"),
            (
                "__meta_kubernetes_ingress_annotation_test_annotation",
                "testannotationvalue"
            ),
            (
                "__meta_kubernetes_ingress_annotationpresent_test_annotation",
                "true"
            ),
        ])
    );
}

#[test]
fn label_names_are_sanitised_per_character() {
    assert_eq!(
        sanitize_label_name("app.kubernetes.io/name"),
        "app_kubernetes_io_name"
    );
    assert_eq!(sanitize_label_name("grüße-1"), "gr__e_1");
    assert_eq!(sanitize_label_name("ok_Name9"), "ok_Name9");
}

#[test]
fn malformed_objects_are_refused_not_panicked_on() {
    for bad in [
        r#"{"metadata": {"name": 5}}"#,
        r#"{"spec": {"containers": [{"ports": [{"containerPort": "80"}]}]}}"#,
        r#"{"status": {"conditions": {"type": "Ready"}}}"#,
        r#""pod""#,
        r#"{"spec": {"containers": [{"ports": [{"containerPort": 99999999999}]}]}}"#,
    ] {
        assert!(serde_json::from_str::<Pod>(bad).is_err(), "{bad}");
    }
    // Nulls where the API writes them for nil collections are fine.
    let p: Pod = obj(r#"{"metadata": {"labels": null, "ownerReferences": null},
        "spec": {"containers": null}, "status": null}"#);
    assert!(p.spec.containers.is_empty());
    let e: EndpointSlice = obj(r#"{"ports": null, "endpoints": [{"addresses": null}]}"#);
    assert!(e.ports.is_empty());
}

#[test]
fn watch_specs_follow_role_namespaces_and_selectors() {
    let mut cfg = KubernetesSdConfig {
        role: KubernetesRole::Endpoints,
        api_server: None,
        kubeconfig_file: None,
        namespaces: Default::default(),
        selectors: vec![strata_config::sd::KubernetesSelector {
            role: KubernetesRole::Pod,
            label: "app=x".into(),
            field: "spec.nodeName=n1".into(),
        }],
        attach_metadata: Default::default(),
        http_client: Default::default(),
    };
    let specs = watch_specs(&cfg, None);
    let kinds: Vec<Kind> = specs.iter().map(|s| s.kind).collect();
    assert_eq!(kinds, [Kind::Endpoints, Kind::Service, Kind::Pod]);
    assert!(specs.iter().all(|s| s.namespace.is_empty()));
    assert_eq!(specs[0].query(&[]), "/api/v1/endpoints");
    assert_eq!(
        specs[2].query(&[("watch", "1")]),
        "/api/v1/pods?labelSelector=app%3Dx&fieldSelector=spec.nodeName%3Dn1&watch=1"
    );

    cfg.role = KubernetesRole::EndpointSlice;
    cfg.namespaces.names = vec!["a".into(), "b".into()];
    cfg.namespaces.own_namespace = true;
    cfg.attach_metadata.node = true;
    cfg.attach_metadata.namespace = true;
    let specs = watch_specs(&cfg, Some("own"));
    let got: Vec<String> = specs.iter().map(|s| s.query(&[])).collect();
    assert_eq!(got.len(), 3 * 3 + 2);
    assert!(got.contains(&"/apis/discovery.k8s.io/v1/namespaces/own/endpointslices".to_string()));
    assert!(got.contains(&"/api/v1/nodes".to_string()));
    assert!(got.contains(&"/api/v1/namespaces".to_string()));

    cfg.attach_metadata.deployment = true;
    cfg.attach_metadata.cronjob = true;
    let got: Vec<String> = watch_specs(&cfg, Some("own"))
        .iter()
        .map(|s| s.query(&[]))
        .collect();
    assert!(got.contains(&"/apis/apps/v1/namespaces/a/replicasets".to_string()));
    assert!(got.contains(&"/apis/batch/v1/namespaces/own/jobs".to_string()));

    cfg.role = KubernetesRole::Ingress;
    cfg.namespaces = Default::default();
    let specs = watch_specs(&cfg, None);
    assert_eq!(specs[0].query(&[]), "/apis/networking.k8s.io/v1/ingresses");
}

#[test]
fn lists_skip_bad_items_and_accept_null() {
    let doc: ListDoc<Pod> = serde_json::from_str(
        r#"{"metadata": {"resourceVersion": "7", "continue": "c"},
            "items": [{"metadata": {"name": "a"}}, {"metadata": {"name": 1}}, 5, {"metadata": {"name": "b"}}]}"#,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<&str> = doc
        .items
        .0
        .iter()
        .map(|p| p.metadata.name.as_str())
        .collect();
    assert_eq!(names, ["a", "b"]);
    assert_eq!(doc.metadata.resource_version, "7");
    assert_eq!(doc.metadata.continue_token, "c");
    let doc: ListDoc<Pod> =
        serde_json::from_str(r#"{"items": null}"#).unwrap_or_else(|e| panic!("{e}"));
    assert!(doc.items.0.is_empty());
    let doc: ListDoc<Pod> = serde_json::from_str(r#"{}"#).unwrap_or_else(|e| panic!("{e}"));
    assert!(doc.items.0.is_empty());
    assert!(serde_json::from_str::<ListDoc<Pod>>(r#"{"items": {"a": 1}}"#).is_err());
}
