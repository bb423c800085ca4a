//! Unit tests of [`super`]: every SPEC §3a rule from object to target.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::api::networking::v1::{Ingress, IngressRule, IngressSpec, IngressTLS};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::core::{ApiResource, DynamicObject, GroupVersionKind};

use super::*;
use crate::config::Var;

fn meta(ns: &str, name: &str, labels: &[(&str, &str)], ann: &[(&str, &str)]) -> ObjectMeta {
    let map = |p: &[(&str, &str)]| {
        Some(
            p.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
        )
    };
    ObjectMeta {
        namespace: Some(ns.into()),
        name: Some(name.into()),
        labels: map(labels),
        annotations: map(ann),
        ..ObjectMeta::default()
    }
}

fn port(port: i32, name: Option<&str>, app: Option<&str>) -> ServicePort {
    ServicePort {
        port,
        name: name.map(Into::into),
        app_protocol: app.map(Into::into),
        ..ServicePort::default()
    }
}

fn svc(meta: ObjectMeta, cluster_ip: &str, ports: Vec<ServicePort>) -> Service {
    Service {
        metadata: meta,
        spec: Some(ServiceSpec {
            cluster_ip: Some(cluster_ip.into()),
            ports: Some(ports),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    }
}

fn names(m: &Mapped) -> Vec<(String, String)> {
    m.targets
        .iter()
        .map(|t| (t.name.clone(), t.url.to_string()))
        .collect()
}

fn reasons(m: &Mapped) -> Vec<String> {
    m.skipped
        .iter()
        .map(|s| format!("{}: {}", s.object, s.reason))
        .collect()
}

#[test]
fn a_service_makes_one_target_per_port_with_its_dns_name() {
    let s = svc(
        meta("shop", "cart", &[], &[]),
        "10.0.0.7",
        vec![port(8443, None, None), port(6379, Some("redis"), None)],
    );
    let m = service(&s, &Kubernetes::default());
    assert_eq!(
        names(&m),
        [
            (
                "shop.cart.8443".to_string(),
                "https://cart.shop.svc.cluster.local:8443/".to_string()
            ),
            (
                "shop.cart.6379".to_string(),
                "tcp://cart.shop.svc.cluster.local:6379".to_string()
            ),
        ]
    );
    let t = &m.targets[0];
    assert_eq!(t.source, Source::Kubernetes);
    assert_eq!(t.connect_to, None);
    let tags: Vec<_> = t.tags.iter().map(String::as_str).collect();
    assert_eq!(tags, ["k8s", "ns-shop"]);
    assert!(m.skipped.is_empty());
}

#[test]
fn cluster_domain_and_cluster_ip_address() {
    let config = Kubernetes {
        address: Address::ClusterIp,
        cluster_domain: "corp.local".into(),
        ..Kubernetes::default()
    };
    let s = svc(
        meta("shop", "cart", &[], &[]),
        "10.0.0.7",
        vec![port(80, None, None)],
    );
    let m = service(&s, &config);
    let t = &m.targets[0];
    // The URL keeps the DNS name (Host and SNI); picket connects to the ClusterIP.
    assert_eq!(t.url.as_str(), "http://cart.shop.svc.corp.local/");
    assert_eq!(t.connect_to, Some("10.0.0.7".parse().unwrap()));
    let pending = svc(
        meta("shop", "cart", &[], &[]),
        "",
        vec![port(80, None, None)],
    );
    let m = service(&pending, &config);
    assert!(m.targets.is_empty());
    assert!(
        reasons(&m)[0].contains("no cluster IP"),
        "{:?}",
        reasons(&m)
    );
}

#[test]
fn scheme_rules_in_order() {
    let s = |p, n, a| scheme(&port(p, n, a));
    // appProtocol first.
    assert_eq!(s(80, Some("http"), Some("https")), "https");
    assert_eq!(s(443, None, Some("http")), "http");
    assert_eq!(s(443, None, Some("kubernetes.io/h2c")), "http");
    assert_eq!(s(80, None, Some("tls")), "tls");
    // An unknown appProtocol falls through to the name, then the number.
    assert_eq!(s(9000, Some("https-api"), Some("grpc")), "https");
    assert_eq!(s(9000, Some("tls-x"), None), "tls");
    assert_eq!(s(9000, Some("http-metrics"), None), "http");
    assert_eq!(s(9000, Some("h2c"), None), "http");
    assert_eq!(s(443, Some("web"), None), "https");
    assert_eq!(s(8443, None, None), "https");
    assert_eq!(s(80, None, None), "http");
    assert_eq!(s(8080, Some("metrics"), None), "http");
    assert_eq!(s(5432, Some("postgres"), None), "tcp");
}

#[test]
fn headless_external_name_and_udp_are_skipped_with_a_reason() {
    let config = Kubernetes::default();
    let headless = svc(meta("a", "h", &[], &[]), "None", vec![port(80, None, None)]);
    let m = service(&headless, &config);
    assert!(m.targets.is_empty() && !m.bad_annotation);
    assert_eq!(reasons(&m), ["a/h: headless Service (clusterIP: None)"]);

    let mut ext = svc(meta("a", "e", &[], &[]), "", vec![]);
    if let Some(spec) = ext.spec.as_mut() {
        spec.type_ = Some("ExternalName".into());
        spec.external_name = Some("db.example.com".into());
    }
    let m = service(&ext, &config);
    assert_eq!(
        reasons(&m),
        ["a/e: ExternalName Service (an alias of `db.example.com`)"]
    );

    let mut dns = port(53, Some("dns"), None);
    dns.protocol = Some("UDP".into());
    let m = service(
        &svc(
            meta("a", "d", &[], &[]),
            "10.0.0.1",
            vec![dns, port(80, None, None)],
        ),
        &config,
    );
    assert_eq!(m.targets.len(), 1);
    assert_eq!(reasons(&m), ["a/d: UDP port 53 (picket probes TCP)"]);
}

#[test]
fn annotations_add_tags_vars_and_schedule_and_labels_add_tags() {
    let config = Kubernetes {
        tags_from_labels: vec!["risk".into()],
        ..Kubernetes::default()
    };
    let s = svc(
        meta(
            "pay",
            "api",
            &[("risk", "regulated")],
            &[
                ("picket.dev/tags", "public,pci"),
                ("picket.dev/vars", r#"{"protected_paths": ["/admin"]}"#),
                ("picket.dev/schedule", "1m"),
            ],
        ),
        "10.0.0.2",
        vec![port(443, None, None)],
    );
    let m = service(&s, &config);
    let t = &m.targets[0];
    let tags: Vec<_> = t.tags.iter().map(String::as_str).collect();
    assert_eq!(tags, ["k8s", "ns-pay", "pci", "public", "risk-regulated"]);
    assert!(matches!(&t.vars["protected_paths"], Var::List(l) if l.len() == 1));
    assert_eq!(
        t.schedule.as_ref().unwrap().to_string(),
        "every 1m (jitter 10%)"
    );
}

#[test]
fn opt_out_and_bad_annotations_leave_the_object_out() {
    let config = Kubernetes::default();
    let opted = svc(
        meta("a", "o", &[], &[("picket.dev/probe", "false")]),
        "10.0.0.1",
        vec![port(80, None, None)],
    );
    let m = service(&opted, &config);
    assert!(m.targets.is_empty() && !m.bad_annotation);
    assert!(reasons(&m)[0].starts_with("a/o: opted out"));

    let bad = svc(
        meta("a", "b", &[], &[("picket.dev/vars", "[1,2]")]),
        "10.0.0.1",
        vec![port(80, None, None), port(443, None, None)],
    );
    let m = service(&bad, &config);
    assert!(m.targets.is_empty() && m.bad_annotation);
    assert_eq!(
        reasons(&m),
        ["a/b: bad annotation `picket.dev/vars`: not a JSON object"]
    );
}

#[test]
fn names_picket_cannot_take_are_skipped() {
    // Kubernetes object names may hold characters a target name may not (an HTTPRoute or
    // Ingress host is checked as a DNS name; this one comes from a generated name).
    let s = svc(
        meta("a", "Web_UI", &[], &[]),
        "10.0.0.1",
        vec![port(80, None, None)],
    );
    let m = service(&s, &Kubernetes::default());
    assert!(m.targets.is_empty());
    assert!(reasons(&m)[0].contains("`a.Web_UI.80` is not a valid target name"));
}

fn ing(meta: ObjectMeta, hosts: &[Option<&str>], tls: &[&str]) -> Ingress {
    Ingress {
        metadata: meta,
        spec: Some(IngressSpec {
            rules: Some(
                hosts
                    .iter()
                    .map(|h| IngressRule {
                        host: h.map(Into::into),
                        http: None,
                    })
                    .collect(),
            ),
            tls: Some(vec![IngressTLS {
                hosts: Some(tls.iter().map(|h| h.to_string()).collect()),
                secret_name: None,
            }]),
            ..IngressSpec::default()
        }),
        ..Ingress::default()
    }
}

#[test]
fn an_ingress_makes_one_target_per_rule_host() {
    let i = ing(
        meta("web", "front", &[], &[]),
        &[
            Some("shop.example.com"),
            Some("Plain.Example.com"),
            Some("*.example.com"),
            None,
            Some("shop.example.com"),
            Some("sub.wild.example.org"),
        ],
        &["shop.example.com", "*.wild.example.org"],
    );
    let m = ingress(&i, &Kubernetes::default());
    assert_eq!(
        names(&m),
        [
            (
                "web.front.shop.example.com".to_string(),
                "https://shop.example.com/".to_string()
            ),
            (
                "web.front.plain.example.com".to_string(),
                "http://plain.example.com/".to_string()
            ),
            (
                "web.front.sub.wild.example.org".to_string(),
                "https://sub.wild.example.org/".to_string()
            ),
        ]
    );
    assert_eq!(
        reasons(&m),
        [
            "web/front: wildcard host `*.example.com` (no one host to probe)",
            "web/front: rule without a host (it matches every host)",
        ]
    );
    assert!(m.targets.iter().all(|t| t.connect_to.is_none()));
    assert!(m.targets[0].tags.contains("ns-web"));
}

fn route(meta: ObjectMeta, hostnames: &[&str]) -> DynamicObject {
    let gvk = GroupVersionKind::gvk("gateway.networking.k8s.io", "v1", "HTTPRoute");
    let ar = ApiResource::from_gvk_with_plural(&gvk, "httproutes");
    let mut obj = DynamicObject::new(meta.name.as_deref().unwrap_or(""), &ar)
        .data(serde_json::json!({ "spec": { "hostnames": hostnames } }));
    obj.metadata = meta;
    obj
}

#[test]
fn an_http_route_makes_one_https_target_per_hostname() {
    let r = route(
        meta("gw", "api", &[], &[]),
        &["api.example.com", "*.example.com", "v2.example.com"],
    );
    let m = http_route(&r, &Kubernetes::default());
    assert_eq!(
        names(&m),
        [
            (
                "gw.api.api.example.com".to_string(),
                "https://api.example.com/".to_string()
            ),
            (
                "gw.api.v2.example.com".to_string(),
                "https://v2.example.com/".to_string()
            ),
        ]
    );
    assert_eq!(reasons(&m).len(), 1);

    let plain = route(
        meta("gw", "api", &[], &[("picket.dev/scheme", "http")]),
        &["api.example.com"],
    );
    assert_eq!(
        http_route(&plain, &Kubernetes::default()).targets[0]
            .url
            .as_str(),
        "http://api.example.com/"
    );
    let bad = route(
        meta("gw", "api", &[], &[("picket.dev/scheme", "ftp")]),
        &["api.example.com"],
    );
    let m = http_route(&bad, &Kubernetes::default());
    assert!(m.targets.is_empty() && m.bad_annotation);
    let none = route(meta("gw", "api", &[], &[]), &[]);
    assert!(reasons(&http_route(&none, &Kubernetes::default()))[0].contains("without hostnames"));
}

#[test]
fn annotations_never_set_the_host_or_address() {
    // Nothing an annotation says reaches the URL's host or connect_to.
    let s = svc(
        meta(
            "a",
            "s",
            &[],
            &[
                ("picket.dev/host", "evil.example"),
                ("picket.dev/connect_to", "169.254.169.254"),
                ("picket.dev/vars", r#"{"host": "evil.example"}"#),
            ],
        ),
        "10.0.0.1",
        vec![port(80, None, None)],
    );
    let m = service(&s, &Kubernetes::default());
    assert_eq!(m.targets[0].url.host_str(), Some("s.a.svc.cluster.local"));
    assert_eq!(m.targets[0].connect_to, None);
}
