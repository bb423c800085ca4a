//! The `discover.kubernetes` block: its raw serde shape ([`RawKubernetes`]) and the validated
//! settings ([`Kubernetes`]) that [`compile`] makes of it, each problem reported at its
//! `file:line:col` with a hint. Nothing here contacts the cluster (`picket validate` must
//! not).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::Deserialize;
use serde_saphyr::Spanned;

use super::labels;
use crate::diag::{Diagnostic, Diagnostics, Pos, did_you_mean};

/// Targets that follow the cluster: Services, Ingresses and Gateway API HTTPRoutes, listed
/// and watched through the Kubernetes API.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawKubernetes {
    /// A kubeconfig file to connect with (its current context). Default: the in-cluster
    /// service account, else `$KUBECONFIG`, else `~/.kube/config`.
    #[schemars(with = "Option<String>", example = &"/etc/picket/kubeconfig")]
    pub kubeconfig: Option<Spanned<String>>,
    /// Namespaces to watch, one list/watch per resource in each. Default: one cluster-wide
    /// list/watch per resource (every namespace the account may list).
    #[serde(default)]
    #[schemars(with = "Vec<String>", example = &["shop", "payments"])]
    pub namespaces: Vec<Spanned<String>>,
    /// A Kubernetes label selector on every watched object (`tier!=batch`,
    /// `app in (web,api)`, `!legacy`).
    #[schemars(with = "Option<String>", example = &"tier!=batch")]
    pub selector: Option<Spanned<String>>,
    /// What to watch: `services`, `ingresses`, `httproutes` (Gateway API). Default:
    /// `[services, ingresses]`.
    #[schemars(with = "Option<Vec<String>>", example = &["services", "ingresses"])]
    pub resources: Option<Spanned<Vec<Spanned<String>>>>,
    /// Where to connect to a Service: `dns` (its DNS name, the default) or `cluster_ip` (its
    /// `spec.clusterIP`, with Host and TLS SNI still the DNS name).
    #[schemars(with = "Option<String>", example = &"dns")]
    pub address: Option<Spanned<String>>,
    /// The cluster's DNS domain in Service host names (`cluster.local`).
    #[schemars(with = "Option<String>", example = &"cluster.local")]
    pub cluster_domain: Option<Spanned<String>>,
    /// Label keys whose values become tags: label `risk: regulated` → tag `risk-regulated`.
    #[serde(default)]
    #[schemars(with = "Vec<String>", example = &["risk", "team"])]
    pub tags_from_labels: Vec<Spanned<String>>,
}

/// A kind of object picket makes targets of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Resource {
    /// `v1` Services: one target per port.
    Services,
    /// `networking.k8s.io/v1` Ingresses: one target per rule host.
    Ingresses,
    /// `gateway.networking.k8s.io/v1` HTTPRoutes: one target per hostname.
    HttpRoutes,
}

impl Resource {
    /// Every resource, as the config names them.
    pub const ALL: [(&'static str, Resource); 3] = [
        ("services", Resource::Services),
        ("ingresses", Resource::Ingresses),
        ("httproutes", Resource::HttpRoutes),
    ];

    /// The name in the config (`services`).
    pub fn as_str(self) -> &'static str {
        match self {
            Resource::Services => "services",
            Resource::Ingresses => "ingresses",
            Resource::HttpRoutes => "httproutes",
        }
    }
}

/// Where picket connects to a Service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Address {
    /// The Service's DNS name.
    #[default]
    Dns,
    /// Its `spec.clusterIP`; the URL keeps the DNS name for Host and SNI.
    ClusterIp,
}

/// The validated `discover.kubernetes` settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kubernetes {
    /// The kubeconfig file to use instead of the default lookup.
    pub kubeconfig: Option<PathBuf>,
    /// Namespaces to watch; empty means cluster-wide.
    pub namespaces: Vec<String>,
    /// The label selector (validated), as the API server is given it.
    pub selector: Option<String>,
    /// What to watch.
    pub resources: BTreeSet<Resource>,
    /// Where to connect to Services.
    pub address: Address,
    /// The cluster DNS domain.
    pub cluster_domain: String,
    /// Label keys whose values become tags.
    pub tags_from_labels: Vec<String>,
}

impl Default for Kubernetes {
    fn default() -> Self {
        Kubernetes {
            kubeconfig: None,
            namespaces: Vec::new(),
            selector: None,
            resources: BTreeSet::from([Resource::Services, Resource::Ingresses]),
            address: Address::Dns,
            cluster_domain: DEFAULT_CLUSTER_DOMAIN.to_string(),
            tags_from_labels: Vec::new(),
        }
    }
}

/// The default `cluster_domain`.
pub const DEFAULT_CLUSTER_DOMAIN: &str = "cluster.local";

/// Validates `discover.kubernetes` of `file`. Every problem goes to `diags`; `None` when
/// there was one.
pub fn compile(
    file: &Path,
    raw: &Spanned<RawKubernetes>,
    diags: &mut Diagnostics,
) -> Option<Kubernetes> {
    let before = diags.len();
    let raw = &raw.value;
    let mut err = |at: &serde_saphyr::Location, message: String, hint: &str| {
        diags.push(Diagnostic::new(file, Pos::from_location(at), message).with_hint(hint));
    };
    let mut out = Kubernetes::default();

    if let Some(path) = &raw.kubeconfig {
        if path.value.trim().is_empty() {
            err(
                &path.referenced,
                "`kubeconfig` is empty".into(),
                "give the path of a kubeconfig file, or leave the key out to use the in-cluster account",
            );
        } else if !Path::new(&path.value).is_file() {
            // Reading a local file is not contacting anything: a wrong path is found here,
            // not when the service starts.
            err(
                &path.referenced,
                format!("kubeconfig `{}` is not a file", shown(&path.value)),
                "give the path of a kubeconfig file, or leave the key out to use the in-cluster account",
            );
        } else {
            out.kubeconfig = Some(PathBuf::from(&path.value));
        }
    }

    let mut seen: Vec<&Spanned<String>> = Vec::new();
    for ns in &raw.namespaces {
        if let Some(first) = seen.iter().find(|s| s.value == ns.value) {
            let at = Pos::from_location(&first.referenced);
            err(
                &ns.referenced,
                format!("namespace `{}` is listed twice", shown(&ns.value)),
                &format!("first listed at line {}, column {}", at.line, at.column),
            );
        } else if !labels::dns_label(&ns.value) {
            err(
                &ns.referenced,
                format!("invalid namespace `{}`", shown(&ns.value)),
                "a namespace is lowercase letters, digits and `-`, at most 63, starting and ending with a letter or digit",
            );
        } else {
            out.namespaces.push(ns.value.clone());
        }
        seen.push(ns);
    }

    if let Some(selector) = &raw.selector {
        match labels::parse_selector(&selector.value) {
            Ok(_) => out.selector = Some(selector.value.trim().to_string()),
            Err(e) => err(
                &selector.referenced,
                format!("invalid label selector `{}`: {e}", shown(&selector.value)),
                "write requirements separated by commas: `tier!=batch`, `app=web`, `env in (prod,staging)`, `!legacy`",
            ),
        }
    }

    if let Some(list) = &raw.resources {
        let resources = &list.value;
        out.resources.clear();
        for r in resources {
            match Resource::ALL.iter().find(|(name, _)| *name == r.value) {
                Some((_, resource)) if out.resources.contains(resource) => err(
                    &r.referenced,
                    format!("resource `{}` is listed twice", r.value),
                    "list each resource once",
                ),
                Some((_, resource)) => {
                    out.resources.insert(*resource);
                }
                None => {
                    let names: Vec<&str> = Resource::ALL.iter().map(|(n, _)| *n).collect();
                    let hint = match did_you_mean(&r.value.to_ascii_lowercase(), &names) {
                        Some(near) => format!(
                            "did you mean `{near}`? resources are services, ingresses and httproutes"
                        ),
                        None => "resources are services, ingresses and httproutes".to_string(),
                    };
                    err(
                        &r.referenced,
                        format!("unknown resource `{}`", shown(&r.value)),
                        &hint,
                    );
                }
            }
        }
        if resources.is_empty() {
            // An empty list would watch nothing: most likely a mistake.
            err(
                &list.referenced,
                "`resources` is empty: nothing to watch".into(),
                "list services, ingresses and/or httproutes, or leave the key out for services and ingresses",
            );
        }
    }

    if let Some(address) = &raw.address {
        match address.value.as_str() {
            "dns" => out.address = Address::Dns,
            "cluster_ip" => out.address = Address::ClusterIp,
            other => {
                let hint = match did_you_mean(other, &["dns", "cluster_ip"]) {
                    Some(near) => format!("did you mean `{near}`? expected `dns` or `cluster_ip`"),
                    None => "expected `dns` (connect by the Service's DNS name) or `cluster_ip` (to its spec.clusterIP)".to_string(),
                };
                err(
                    &address.referenced,
                    format!("unknown address `{}`", shown(other)),
                    &hint,
                );
            }
        }
    }

    if let Some(domain) = &raw.cluster_domain {
        let d = domain.value.trim_end_matches('.');
        if labels::dns_name(d) {
            out.cluster_domain = d.to_string();
        } else {
            err(
                &domain.referenced,
                format!("invalid cluster domain `{}`", shown(&domain.value)),
                "a DNS name such as `cluster.local`",
            );
        }
    }

    for key in &raw.tags_from_labels {
        if !labels::label_key(&key.value) {
            err(
                &key.referenced,
                format!("invalid label key `{}`", shown(&key.value)),
                "a label key is a name of letters, digits, `-`, `_` and `.` (at most 63), optionally after a DNS prefix and `/` (`team`, `example.com/risk`)",
            );
        } else if out.tags_from_labels.contains(&key.value) {
            err(
                &key.referenced,
                format!("label key `{}` is listed twice", key.value),
                "list each label key once",
            );
        } else {
            out.tags_from_labels.push(key.value.clone());
        }
    }

    (diags.len() == before).then_some(out)
}

/// Text from the file, safe to print in a message.
fn shown(text: &str) -> String {
    let clipped: String = text.chars().take(80).collect();
    crate::term::escape_controls(&clipped).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compile_yaml(yaml: &str) -> (Option<Kubernetes>, Vec<String>) {
        let raw: Spanned<RawKubernetes> = serde_saphyr::from_str(yaml).unwrap();
        let mut diags = Diagnostics::default();
        let out = compile(Path::new("picket.yaml"), &raw, &mut diags);
        let shown = diags.sorted().iter().map(|d| d.to_string()).collect();
        (out, shown)
    }

    #[test]
    fn defaults() {
        let (k, errs) = compile_yaml("{}");
        assert!(errs.is_empty(), "{errs:?}");
        let k = k.unwrap();
        assert_eq!(k, Kubernetes::default());
        assert_eq!(
            k.resources,
            BTreeSet::from([Resource::Services, Resource::Ingresses])
        );
        assert_eq!(k.cluster_domain, "cluster.local");
        assert_eq!(k.address, Address::Dns);
    }

    #[test]
    fn every_key() {
        let kc = tempfile::NamedTempFile::new().unwrap();
        let (k, errs) = compile_yaml(&format!(
            "kubeconfig: {}\nnamespaces: [shop, payments]\nselector: \"tier!=batch, app in (web,api)\"\nresources: [httproutes, services]\naddress: cluster_ip\ncluster_domain: corp.local.\ntags_from_labels: [risk, example.com/team]\n",
            kc.path().display()
        ));
        assert!(errs.is_empty(), "{errs:?}");
        let k = k.unwrap();
        assert_eq!(k.kubeconfig.as_deref(), Some(kc.path()));
        assert_eq!(k.namespaces, ["shop", "payments"]);
        assert_eq!(k.selector.as_deref(), Some("tier!=batch, app in (web,api)"));
        assert_eq!(
            k.resources,
            BTreeSet::from([Resource::Services, Resource::HttpRoutes])
        );
        assert_eq!(k.address, Address::ClusterIp);
        assert_eq!(k.cluster_domain, "corp.local");
        assert_eq!(k.tags_from_labels, ["risk", "example.com/team"]);
    }

    #[test]
    fn each_problem_at_its_place_with_a_hint() {
        let (k, errs) = compile_yaml(
            "namespaces: [shop, Shop, shop]\nselector: \"tier in (a\"\nresources: [service, pods]\naddress: clusterip\ncluster_domain: \"bad domain\"\ntags_from_labels: [\"bad key\", risk, risk]\nkubeconfig: \"\"\n",
        );
        assert!(k.is_none());
        let all = errs.join("\n");
        for expected in [
            "picket.yaml:1:20: invalid namespace `Shop`",
            "picket.yaml:1:26: namespace `shop` is listed twice\n  hint: first listed at line 1, column 14",
            "picket.yaml:2:11: invalid label selector `tier in (a`",
            "picket.yaml:3:13: unknown resource `service`\n  hint: did you mean `services`?",
            "picket.yaml:3:22: unknown resource `pods`",
            "picket.yaml:4:10: unknown address `clusterip`\n  hint: did you mean `cluster_ip`?",
            "picket.yaml:5:17: invalid cluster domain `bad domain`",
            "picket.yaml:6:20: invalid label key `bad key`",
            "picket.yaml:6:37: label key `risk` is listed twice",
            "picket.yaml:7:13: `kubeconfig` is empty",
        ] {
            assert!(all.contains(expected), "missing {expected:?} in:\n{all}");
        }
    }

    #[test]
    fn a_kubeconfig_that_is_not_there_is_found_by_validate() {
        let (k, errs) = compile_yaml("kubeconfig: /nonexistent/kubeconfig\n");
        assert!(k.is_none());
        assert_eq!(
            errs,
            [
                "picket.yaml:1:13: kubeconfig `/nonexistent/kubeconfig` is not a file\n  hint: give the path of a kubeconfig file, or leave the key out to use the in-cluster account"
            ]
        );
    }

    #[test]
    fn the_schema_documents_every_key() {
        let schema = schemars::schema_for!(RawKubernetes).to_value();
        let props = schema["properties"].as_object().unwrap();
        let keys: Vec<&str> = props.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "address",
                "cluster_domain",
                "kubeconfig",
                "namespaces",
                "resources",
                "selector",
                "tags_from_labels"
            ]
        );
        assert!(props.values().all(|p| p["description"].is_string()));
        assert_eq!(schema["additionalProperties"], false);
        // And the parser refuses what the schema does not list.
        assert!(serde_saphyr::from_str::<Spanned<RawKubernetes>>("namespace: [a]\n").is_err());
    }

    #[test]
    fn an_empty_resource_list_watches_nothing_and_is_refused() {
        let (k, errs) = compile_yaml("resources: []\n");
        assert!(k.is_none());
        assert!(errs[0].contains("`resources` is empty"), "{errs:?}");
    }
}
