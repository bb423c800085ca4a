//! From Kubernetes objects to targets, as SPEC §3a says, in pure functions: a [`Service`]
//! makes one target per port, an [`Ingress`] one per rule host, an HTTPRoute one per
//! hostname. What an object makes no target of is a [`Skip`] with the reason in words.

use std::collections::BTreeMap;
use std::net::IpAddr;

use k8s_openapi::api::core::v1::{Service, ServicePort};
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::core::DynamicObject;
use url::Url;

use super::annotations::{self, Extras, Left, clip};
use crate::config::{Address, Kubernetes, dns_name};
use crate::config::{Source, Target, valid_target_name};
use crate::discover::Skip;

/// What one object makes.
#[derive(Debug, Clone, Default)]
pub struct Mapped {
    /// Its targets.
    pub targets: Vec<Target>,
    /// What it makes no target of, and why (the whole object, or one port or host).
    pub skipped: Vec<Skip>,
    /// Whether a bad annotation left the whole object out (a WARN; it is in `skipped` too).
    pub bad_annotation: bool,
}

impl Mapped {
    fn skip(&mut self, object: &str, reason: impl Into<String>) {
        self.skipped.push(Skip {
            object: object.to_string(),
            reason: reason.into(),
        });
    }
}

/// The object's `namespace/name`, its extras, or what leaves it out (already in `out`).
fn begin(meta: &ObjectMeta, config: &Kubernetes, out: &mut Mapped) -> Option<(String, Extras)> {
    let namespace = meta.namespace.as_deref().unwrap_or("default");
    let name = meta.name.as_deref().unwrap_or("");
    let object = format!("{namespace}/{name}");
    let empty = BTreeMap::new();
    match annotations::extras(
        namespace,
        meta.labels.as_ref().unwrap_or(&empty),
        meta.annotations.as_ref().unwrap_or(&empty),
        &config.tags_from_labels,
    ) {
        Ok(extras) => Some((object, extras)),
        Err(Left::OptedOut) => {
            out.skip(&object, "opted out (`picket.dev/probe: \"false\"`)");
            None
        }
        Err(Left::Bad(reason)) => {
            out.bad_annotation = true;
            out.skip(&object, reason);
            None
        }
    }
}

/// Adds the target `name` at `url` with `extras`, unless the name is not a valid target
/// name (a Kubernetes name can be longer or spelt otherwise than picket accepts).
fn push(out: &mut Mapped, object: &str, name: String, url: &str, extras: &Extras) -> Option<()> {
    if !valid_target_name(&name) {
        out.skip(
            object,
            format!("`{}` is not a valid target name", clip(&name)),
        );
        return None;
    }
    let Ok(url) = Url::parse(url) else {
        out.skip(object, format!("`{}` is not a valid URL", clip(url)));
        return None;
    };
    let mut target = Target::new(name, url, Source::Kubernetes);
    target.tags = extras.tags.clone();
    target.vars = extras.vars.clone();
    target.schedule = extras.schedule.clone();
    out.targets.push(target);
    Some(())
}

/// The targets of a Service: one per TCP port, named `<namespace>.<service>.<port>`, at
/// `<scheme>://<service>.<namespace>.svc.<cluster_domain>:<port>`.
pub fn service(svc: &Service, config: &Kubernetes) -> Mapped {
    let mut out = Mapped::default();
    let Some((object, extras)) = begin(&svc.metadata, config, &mut out) else {
        return out;
    };
    let spec = svc.spec.clone().unwrap_or_default();
    if spec.type_.as_deref() == Some("ExternalName") {
        let to = spec.external_name.as_deref().unwrap_or("");
        out.skip(
            &object,
            format!("ExternalName Service (an alias of `{}`)", clip(to)),
        );
        return out;
    }
    let cluster_ip = spec.cluster_ip.as_deref().unwrap_or("");
    if cluster_ip == "None" {
        out.skip(&object, "headless Service (clusterIP: None)");
        return out;
    }
    let connect_to = match config.address {
        Address::Dns => None,
        Address::ClusterIp => match cluster_ip.parse::<IpAddr>() {
            Ok(ip) => Some(ip),
            Err(_) => {
                out.skip(
                    &object,
                    format!(
                        "no cluster IP to connect to (clusterIP: `{}`)",
                        clip(cluster_ip)
                    ),
                );
                return out;
            }
        },
    };
    let ports = spec.ports.unwrap_or_default();
    if ports.is_empty() {
        out.skip(&object, "Service without ports");
        return out;
    }
    let (namespace, name) = object.split_once('/').unwrap_or(("", &object));
    let host = format!("{name}.{namespace}.svc.{}", config.cluster_domain);
    for port in &ports {
        let protocol = port.protocol.as_deref().unwrap_or("TCP");
        if protocol != "TCP" {
            out.skip(
                &object,
                format!("{} port {} (picket probes TCP)", clip(protocol), port.port),
            );
            continue;
        }
        let scheme = scheme(port);
        let before = out.targets.len();
        push(
            &mut out,
            &object,
            format!("{namespace}.{name}.{}", port.port),
            &format!("{scheme}://{host}:{}", port.port),
            &extras,
        );
        if let Some(t) = out.targets.get_mut(before) {
            t.connect_to = connect_to;
        }
    }
    out
}

/// A Service port's scheme: its `appProtocol`, then its name, then its number, else `tcp`.
pub fn scheme(port: &ServicePort) -> &'static str {
    let by_protocol = match port.app_protocol.as_deref().map(str::to_ascii_lowercase) {
        Some(p) if p == "https" => Some("https"),
        Some(p) if p == "http" || p == "kubernetes.io/h2c" => Some("http"),
        Some(p) if p == "tls" => Some("tls"),
        _ => None,
    };
    let name = port.name.as_deref().unwrap_or("").to_ascii_lowercase();
    let by_name = if name.starts_with("https") {
        Some("https")
    } else if name.starts_with("tls") {
        Some("tls")
    } else if name.starts_with("http") || name.starts_with("h2c") {
        Some("http")
    } else {
        None
    };
    let by_number = match port.port {
        443 | 8443 => Some("https"),
        80 | 8080 => Some("http"),
        _ => None,
    };
    by_protocol.or(by_name).or(by_number).unwrap_or("tcp")
}

/// Whether a host can be a target's: a DNS name with no wildcard, or a reason.
fn host_problem(host: &str) -> Option<String> {
    if host.starts_with("*.") || host == "*" {
        Some(format!(
            "wildcard host `{}` (no one host to probe)",
            clip(host)
        ))
    } else if !dns_name(host) {
        Some(format!("host `{}` is not a DNS name", clip(host)))
    } else {
        None
    }
}

/// Whether `host` is covered by a TLS host entry (exactly, or by a `*.` wildcard of one
/// label).
fn tls_covers(entry: &str, host: &str) -> bool {
    match entry.strip_prefix("*.") {
        Some(parent) => host
            .split_once('.')
            .is_some_and(|(_, rest)| rest.eq_ignore_ascii_case(parent)),
        None => entry.eq_ignore_ascii_case(host),
    }
}

/// The targets of an Ingress: one per rule host, named `<namespace>.<ingress>.<host>`,
/// `https://` when the host is in `spec.tls`, else `http://`.
pub fn ingress(ing: &Ingress, config: &Kubernetes) -> Mapped {
    let mut out = Mapped::default();
    let Some((object, extras)) = begin(&ing.metadata, config, &mut out) else {
        return out;
    };
    let spec = ing.spec.clone().unwrap_or_default();
    let tls_hosts: Vec<String> = spec
        .tls
        .unwrap_or_default()
        .into_iter()
        .flat_map(|t| t.hosts.unwrap_or_default())
        .collect();
    let rules = spec.rules.unwrap_or_default();
    if rules.is_empty() {
        out.skip(&object, "Ingress without rules");
    }
    let (namespace, name) = object.split_once('/').unwrap_or(("", &object));
    let mut seen = Vec::new();
    for rule in rules {
        let Some(host) = rule.host.filter(|h| !h.is_empty()) else {
            out.skip(&object, "rule without a host (it matches every host)");
            continue;
        };
        let host = host.to_ascii_lowercase();
        if let Some(problem) = host_problem(&host) {
            out.skip(&object, problem);
            continue;
        }
        if seen.contains(&host) {
            continue;
        }
        let scheme = if tls_hosts.iter().any(|e| tls_covers(e, &host)) {
            "https"
        } else {
            "http"
        };
        push(
            &mut out,
            &object,
            format!("{namespace}.{name}.{host}"),
            &format!("{scheme}://{host}"),
            &extras,
        );
        seen.push(host);
    }
    out
}

/// The targets of a Gateway API HTTPRoute: one per `spec.hostnames` item, named
/// `<namespace>.<route>.<hostname>`, `https://` unless annotated `picket.dev/scheme: http`.
pub fn http_route(route: &DynamicObject, config: &Kubernetes) -> Mapped {
    let mut out = Mapped::default();
    let Some((object, extras)) = begin(&route.metadata, config, &mut out) else {
        return out;
    };
    let empty = BTreeMap::new();
    let scheme =
        match annotations::route_scheme(route.metadata.annotations.as_ref().unwrap_or(&empty)) {
            Ok(s) => s,
            Err(Left::Bad(reason)) => {
                out.bad_annotation = true;
                out.skip(&object, reason);
                return out;
            }
            Err(Left::OptedOut) => return out,
        };
    let hostnames: Vec<&str> = route
        .data
        .pointer("/spec/hostnames")
        .and_then(|h| h.as_array())
        .map(|a| a.iter().filter_map(|h| h.as_str()).collect())
        .unwrap_or_default();
    if hostnames.is_empty() {
        out.skip(
            &object,
            "HTTPRoute without hostnames (it takes its Gateway listener's)",
        );
    }
    let (namespace, name) = object.split_once('/').unwrap_or(("", &object));
    let mut seen = Vec::new();
    for host in hostnames {
        let host = host.to_ascii_lowercase();
        if let Some(problem) = host_problem(&host) {
            out.skip(&object, problem);
            continue;
        }
        if seen.contains(&host) {
            continue;
        }
        push(
            &mut out,
            &object,
            format!("{namespace}.{name}.{host}"),
            &format!("{scheme}://{host}"),
            &extras,
        );
        seen.push(host);
    }
    out
}

#[cfg(test)]
#[path = "map_tests.rs"]
mod tests;
