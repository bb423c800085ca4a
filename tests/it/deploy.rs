//! The deployment files (`Dockerfile`, `deploy/`; README "Deployment").
//!
//! * Every file under `deploy/` parses (YAML, all documents; JSON; the systemd unit).
//! * Each Kubernetes StatefulSet agrees with the config it mounts: the state volume holds
//!   `state.path`, the probes hit `/healthz` and `/readyz` on the port of `api.listen`, the
//!   API token comes from a Secret, `PICKET_SHARD_COUNT` equals `replicas`, its flags are
//!   `picket run`'s; it runs locked down; and its config, with the team probes, passes
//!   `picket validate`.
//! * The Dockerfile runs the config path the StatefulSets mount, and the README builds the
//!   image with the Dockerfile's own command.
//! * The Prometheus rules pass `promtool check rules` and their unit tests (Debian's
//!   `prometheus` package; `.ci/run` installs it), and every dashboard query is PromQL.
//! * Every metric and label the rules and the dashboard use is one picket really exports,
//!   under the name the collector's Prometheus exporter gives it: picket's telemetry records
//!   one of everything into a loopback OTLP receiver, and the received names, units and
//!   kinds are translated as `translation_strategy: UnderscoreEscapingWithSuffixes` does.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Component, Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, SystemTime};

use picket::config::{self, OtlpProtocol};
use picket::outcome::{ErrorKind, Finding, Outcome, RunError, RunResult, SoftwareSeen};
use picket::state::Transition;
use picket::telemetry::{self, SeriesLabels, Telemetry};
use picket::units::Severity;
use regex::Regex;
use serde_json::Value;

use crate::helpers::{picket, repo_root, texts};
use crate::otlp::Receiver;

fn deploy_dir() -> PathBuf {
    repo_root().join("deploy")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every file under `dir`, recursively, sorted.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// All documents of a YAML file.
fn yaml_docs(path: &Path) -> Vec<Value> {
    serde_saphyr::from_multiple::<Value>(&read(path))
        .unwrap_or_else(|e| panic!("{}: not YAML: {e}", path.display()))
}

/// The one document of a YAML file.
fn yaml(path: &Path) -> Value {
    let mut docs = yaml_docs(path);
    assert_eq!(docs.len(), 1, "{}: one document expected", path.display());
    docs.remove(0)
}

fn json(path: &Path) -> Value {
    serde_json::from_str(&read(path))
        .unwrap_or_else(|e| panic!("{}: not JSON: {e}", path.display()))
}

/// A string at a JSON pointer, or a panic naming what is missing.
fn str_at<'a>(v: &'a Value, pointer: &str, what: &str) -> &'a str {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("{what}: no string at {pointer}"))
}

fn list<'a>(v: &'a Value, pointer: &str) -> &'a [Value] {
    v.pointer(pointer)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// A systemd unit: `(section, key, value)` in order; repeated keys stay repeated.
fn unit_file(path: &Path) -> Vec<(String, String, String)> {
    let mut section = String::new();
    let mut out = Vec::new();
    for (n, line) in read(path).lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.to_owned();
            continue;
        }
        let (key, value) = line
            .split_once('=')
            .unwrap_or_else(|| panic!("{}:{}: not `Key=value`: {line}", path.display(), n + 1));
        assert!(
            !section.is_empty(),
            "{}:{}: outside a section",
            path.display(),
            n + 1
        );
        out.push((
            section.clone(),
            key.trim().to_owned(),
            value.trim().to_owned(),
        ));
    }
    out
}

// ---------------------------------------------------------------------------------------
// Every file parses.

#[test]
fn every_deploy_file_parses() {
    let files = files_under(&deploy_dir());
    assert!(files.len() >= 10, "{files:?}");
    for path in &files {
        let name = path.file_name().unwrap().to_string_lossy();
        match path.extension().and_then(|e| e.to_str()) {
            Some("yaml" | "yml") => {
                let docs = yaml_docs(path);
                assert!(!docs.is_empty(), "{}: empty", path.display());
                for doc in docs {
                    assert!(
                        doc.is_object(),
                        "{}: a document is not a mapping",
                        path.display()
                    );
                }
            }
            Some("json") => assert!(json(path).is_object(), "{}", path.display()),
            Some("service") => assert!(!unit_file(path).is_empty(), "{}", path.display()),
            _ => panic!("{name}: no check for this kind of file; add one to tests/it/deploy.rs"),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Kubernetes.

/// A kustomization rendered the way `kubectl kustomize` renders what these files use: its
/// resources' documents, with those of the kustomizations it lists as resources (bases), its
/// generated ConfigMaps (name -> the files they hold, by key; `behavior: replace` and `merge`
/// over a base's), and its `$patch: delete` patches applied. Anything else kustomize can do is
/// refused here, so a manifest that needs it extends this renderer instead of going unchecked.
struct Kustomization {
    dir: PathBuf,
    docs: Vec<Value>,
    config_maps: BTreeMap<String, BTreeMap<String, PathBuf>>,
    /// The ConfigMaps this kustomization itself creates (not a base's, not replaced ones).
    created: Vec<String>,
}

/// The `kind` and `metadata.name` of a document.
fn kind_and_name(doc: &Value) -> (String, String) {
    (
        doc["kind"].as_str().unwrap_or_default().to_owned(),
        doc.pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
    )
}

fn render(dir: &Path) -> Kustomization {
    let path = dir.join("kustomization.yaml");
    let k = yaml(&path);
    let what = path.display().to_string();
    for key in k.as_object().expect("a mapping").keys() {
        assert!(
            [
                "apiVersion",
                "kind",
                "namespace",
                "resources",
                "patches",
                "generatorOptions",
                "configMapGenerator",
                "images",
            ]
            .contains(&key.as_str()),
            "{what}: the test renderer does not know `{key}`; teach it (tests/it/deploy.rs)"
        );
    }
    let mut docs = Vec::new();
    let mut config_maps: BTreeMap<String, BTreeMap<String, PathBuf>> = BTreeMap::new();
    for r in list(&k, "/resources") {
        let at = dir.join(r.as_str().expect("resource path"));
        if at.is_dir() {
            let base = render(&at);
            docs.extend(base.docs);
            for (name, files) in base.config_maps {
                assert!(
                    config_maps.insert(name.clone(), files).is_none(),
                    "{what}: ConfigMap {name} comes from two bases"
                );
            }
        } else {
            docs.extend(yaml_docs(&at));
        }
    }
    let mut created = Vec::new();
    for g in list(&k, "/configMapGenerator") {
        let name = str_at(g, "/name", "configMapGenerator").to_owned();
        let files: BTreeMap<String, PathBuf> = list(g, "/files")
            .iter()
            .map(|f| {
                let f = f.as_str().expect("file path");
                let (key, file) = f
                    .split_once('=')
                    .unwrap_or_else(|| (f.rsplit('/').next().unwrap(), f));
                let file = dir.join(file);
                assert!(file.is_file(), "{} is listed but missing", file.display());
                (key.to_owned(), file)
            })
            .collect();
        match g
            .get("behavior")
            .and_then(Value::as_str)
            .unwrap_or("create")
        {
            "create" => {
                assert!(
                    config_maps.insert(name.clone(), files).is_none(),
                    "{what}: ConfigMap {name} is created twice"
                );
                created.push(name);
            }
            "replace" => {
                assert!(
                    config_maps.insert(name.clone(), files).is_some(),
                    "{what}: ConfigMap {name} replaces nothing"
                );
            }
            "merge" => config_maps
                .get_mut(&name)
                .unwrap_or_else(|| panic!("{what}: ConfigMap {name} merges into nothing"))
                .extend(files),
            other => panic!("{what}: behavior {other}"),
        }
    }
    for p in list(&k, "/patches") {
        let patch = match (p.get("patch"), p.get("path")) {
            (Some(Value::String(text)), None) => serde_saphyr::from_str::<Value>(text)
                .unwrap_or_else(|e| panic!("{what}: a patch is not YAML: {e}")),
            (None, Some(Value::String(file))) => yaml(&dir.join(file)),
            _ => panic!("{what}: a patch is neither `patch:` nor `path:`: {p}"),
        };
        assert_eq!(
            patch["$patch"], "delete",
            "{what}: the test renderer applies only `$patch: delete`; teach it the others"
        );
        let target = kind_and_name(&patch);
        let before = docs.len();
        docs.retain(|d| kind_and_name(d) != target);
        assert_eq!(before - 1, docs.len(), "{what}: {target:?} deleted once");
    }
    Kustomization {
        dir: dir.to_path_buf(),
        docs,
        config_maps,
        created,
    }
}

/// Every kustomization under `deploy/`, rendered.
fn kustomizations() -> Vec<Kustomization> {
    let out: Vec<Kustomization> = files_under(&deploy_dir())
        .into_iter()
        .filter(|p| p.file_name().is_some_and(|n| n == "kustomization.yaml"))
        .map(|path| render(path.parent().unwrap()))
        .collect();
    assert!(
        out.iter().any(|k| k.dir.ends_with("deploy/kubernetes")),
        "no deploy/kubernetes/kustomization.yaml"
    );
    out
}

/// The kustomization in `deploy/<name>`, rendered.
fn kustomization(name: &str) -> Kustomization {
    kustomizations()
        .into_iter()
        .find(|k| k.dir == deploy_dir().join(name))
        .unwrap_or_else(|| panic!("no deploy/{name}/kustomization.yaml"))
}

/// A StatefulSet or Deployment of one of the kustomizations, with what it mounts.
struct Deployed {
    name: String,
    /// The kustomization that renders it.
    dir: PathBuf,
    set: Value,
    /// ConfigMap name -> files: its own kustomization's, then those every other one creates
    /// (a second vantage, applied beside the base, may reuse the base's team probes).
    config_maps: BTreeMap<String, BTreeMap<String, PathBuf>>,
}

impl Deployed {
    fn container(&self) -> &Value {
        let containers = list(&self.set, "/spec/template/spec/containers");
        assert_eq!(containers.len(), 1, "{}: one container expected", self.name);
        &containers[0]
    }

    fn args(&self) -> Vec<String> {
        list(self.container(), "/args")
            .iter()
            .map(|a| a.as_str().expect("string arg").to_owned())
            .collect()
    }

    /// The value after `flag` in the args.
    fn arg(&self, flag: &str) -> Option<String> {
        let args = self.args();
        args.iter()
            .position(|a| a == flag)
            .map(|i| args.get(i + 1).expect("flag value").clone())
    }

    fn config_path(&self) -> PathBuf {
        PathBuf::from(
            self.arg("-c")
                .unwrap_or_else(|| panic!("{}: no -c in args", self.name)),
        )
    }

    fn env(&self, name: &str) -> &Value {
        list(self.container(), "/env")
            .iter()
            .find(|e| e["name"] == name)
            .unwrap_or_else(|| panic!("{}: no env {name}", self.name))
    }

    /// `(mount path, volume)` of every volume mount.
    fn mounts(&self) -> Vec<(PathBuf, Value)> {
        let volumes = list(&self.set, "/spec/template/spec/volumes");
        let claims = list(&self.set, "/spec/volumeClaimTemplates");
        list(self.container(), "/volumeMounts")
            .iter()
            .map(|m| {
                let name = str_at(m, "/name", "volumeMount");
                // A subPath mount is never updated: ConfigMap edits would not reach picket.
                assert!(
                    m.get("subPath").is_none(),
                    "{}: subPath on {name}",
                    self.name
                );
                let volume = volumes
                    .iter()
                    .find(|v| v["name"] == name)
                    .cloned()
                    .or_else(|| {
                        claims
                            .iter()
                            .find(|c| c.pointer("/metadata/name") == Some(&Value::from(name)))
                            .map(|c| serde_json::json!({ "name": name, "claim": c }))
                    })
                    .unwrap_or_else(|| panic!("{}: mount {name} has no volume", self.name));
                (
                    PathBuf::from(str_at(m, "/mountPath", "volumeMount")),
                    volume,
                )
            })
            .collect()
    }

    /// The ConfigMap files mounted in the pod: pod path -> file in the repository.
    fn mounted_files(&self) -> BTreeMap<PathBuf, PathBuf> {
        let mut out = BTreeMap::new();
        for (at, volume) in self.mounts() {
            let Some(map) = volume.pointer("/configMap/name").and_then(Value::as_str) else {
                continue;
            };
            assert!(
                volume.pointer("/configMap/items").is_none(),
                "{}: mount whole ConfigMaps, so updates and new files reach the pod",
                self.name
            );
            let files = self
                .config_maps
                .get(map)
                .unwrap_or_else(|| panic!("{}: ConfigMap {map} is generated nowhere", self.name));
            for (key, file) in files {
                out.insert(at.join(key), file.clone());
            }
        }
        out
    }

    /// The picket config the pod runs, parsed, and where it comes from.
    fn config(&self) -> (PathBuf, Value) {
        let path = self.config_path();
        let file = self.mounted_files().remove(&path).unwrap_or_else(|| {
            panic!(
                "{}: {} is in no mounted ConfigMap",
                self.name,
                path.display()
            )
        });
        let value = yaml(&file);
        (file, value)
    }
}

/// Every StatefulSet and Deployment the kustomizations render.
fn workloads() -> Vec<Deployed> {
    let ks = kustomizations();
    // Kustomizations applied side by side must not create the same ConfigMap.
    let mut created = BTreeMap::new();
    for k in &ks {
        for name in &k.created {
            assert!(
                created
                    .insert(name.clone(), k.config_maps[name].clone())
                    .is_none(),
                "ConfigMap {name} is generated twice"
            );
        }
    }
    ks.iter()
        .flat_map(|k| k.docs.iter().map(move |d| (k, d)))
        .filter(|(_, d)| d["kind"] == "StatefulSet" || d["kind"] == "Deployment")
        .map(|(k, set)| {
            let mut config_maps = created.clone();
            config_maps.extend(k.config_maps.clone());
            Deployed {
                name: format!(
                    "{} {} ({})",
                    set["kind"].as_str().unwrap(),
                    str_at(set, "/metadata/name", "workload"),
                    k.dir.strip_prefix(repo_root()).unwrap().display()
                ),
                dir: k.dir.clone(),
                set: set.clone(),
                config_maps,
            }
        })
        .collect()
}

/// The StatefulSets (the sharded variant), every one.
fn deployed() -> Vec<Deployed> {
    let sets: Vec<Deployed> = workloads()
        .into_iter()
        .filter(|d| d.set["kind"] == "StatefulSet")
        .collect();
    assert!(
        sets.iter().any(|d| d.set["metadata"]["name"] == "picket"),
        "no StatefulSet `picket`"
    );
    sets
}

fn is_under(path: &Path, dir: &Path) -> bool {
    path.is_absolute()
        && !path.components().any(|c| c == Component::ParentDir)
        && path.starts_with(dir)
}

#[test]
fn statefulsets_keep_state_on_their_claim() {
    for d in deployed() {
        let (file, cfg) = d.config();
        let state = PathBuf::from(str_at(&cfg, "/state/path", &file.display().to_string()));
        let claims: Vec<(PathBuf, Value)> = d
            .mounts()
            .into_iter()
            .filter(|(_, v)| v.get("claim").is_some())
            .collect();
        assert_eq!(claims.len(), 1, "{}: one claim mounted: {claims:?}", d.name);
        let (at, claim) = &claims[0];
        assert!(
            is_under(&state, at),
            "{}: state.path {} of {} is not on the claim mounted at {}",
            d.name,
            state.display(),
            file.display(),
            at.display()
        );
        assert_eq!(
            claim.pointer("/claim/spec/accessModes/0"),
            Some(&Value::from("ReadWriteOnce")),
            "{}",
            d.name
        );
        // Nothing else in the pod is writable: every other mount is a read-only ConfigMap,
        // or the service account's projected credentials (read-only too).
        for (at, volume) in d.mounts() {
            if volume.get("claim").is_none() {
                assert!(
                    volume.get("configMap").is_some() || volume.get("projected").is_some(),
                    "{}: {}",
                    d.name,
                    at.display()
                );
            }
        }
    }
}

#[test]
fn workloads_probe_the_api_port_of_their_config() {
    for d in workloads() {
        let (file, cfg) = d.config();
        let listen: SocketAddr = str_at(&cfg, "/api/listen", &file.display().to_string())
            .parse()
            .unwrap();
        let c = d.container();
        let port_of = |probe: &str| -> u64 {
            let port = c
                .pointer(&format!("/{probe}/httpGet/port"))
                .unwrap_or_else(|| panic!("{}: no {probe} httpGet", d.name));
            match port {
                Value::Number(n) => n.as_u64().unwrap(),
                Value::String(name) => list(c, "/ports")
                    .iter()
                    .find(|p| p["name"] == *name)
                    .and_then(|p| p["containerPort"].as_u64())
                    .unwrap_or_else(|| panic!("{}: no container port {name}", d.name)),
                other => panic!("{}: port {other}", d.name),
            }
        };
        for (probe, path) in [("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")] {
            assert_eq!(
                str_at(c, &format!("/{probe}/httpGet/path"), &d.name),
                path,
                "{}: {probe}",
                d.name
            );
            assert_eq!(
                port_of(probe),
                u64::from(listen.port()),
                "{}: {probe}",
                d.name
            );
        }
        // Off loopback the API needs its token, from a Secret and not from the file.
        assert!(listen.ip().is_unspecified(), "{}: {listen}", d.name);
        assert_eq!(
            str_at(&cfg, "/api/token", &file.display().to_string()),
            "${env:PICKET_API_TOKEN}"
        );
        let token = d.env("PICKET_API_TOKEN");
        assert_eq!(
            token.pointer("/valueFrom/secretKeyRef/name"),
            Some(&Value::from("picket-api-token")),
            "{}",
            d.name
        );
        assert!(
            token.get("value").is_none(),
            "{}: token in the manifest",
            d.name
        );
        for check in ["requests", "limits"] {
            for resource in ["cpu", "memory"] {
                assert!(
                    c.pointer(&format!("/resources/{check}/{resource}"))
                        .is_some(),
                    "{}: no {check}.{resource}",
                    d.name
                );
            }
        }
    }
}

#[test]
fn workloads_run_locked_down() {
    for d in workloads() {
        let pod = d.set.pointer("/spec/template/spec/securityContext");
        let pod = pod.unwrap_or(&Value::Null);
        let c = &d.container()["securityContext"];
        let either = |key: &str| c.get(key).or_else(|| pod.get(key));
        assert_eq!(
            either("runAsNonRoot"),
            Some(&Value::Bool(true)),
            "{}",
            d.name
        );
        assert_eq!(
            either("seccompProfile").and_then(|s| s.get("type")),
            Some(&Value::from("RuntimeDefault")),
            "{}",
            d.name
        );
        assert_eq!(c["readOnlyRootFilesystem"], Value::Bool(true), "{}", d.name);
        assert_eq!(
            c["allowPrivilegeEscalation"],
            Value::Bool(false),
            "{}",
            d.name
        );
        assert!(
            list(c, "/capabilities/drop").contains(&Value::from("ALL")),
            "{}: capabilities.drop lacks ALL",
            d.name
        );
        assert!(list(c, "/capabilities/add").is_empty(), "{}", d.name);
        assert_eq!(
            d.set
                .pointer("/spec/template/spec/automountServiceAccountToken"),
            Some(&Value::Bool(false)),
            "{}",
            d.name
        );
    }
}

#[test]
fn statefulsets_shard_over_their_replicas_with_real_flags() {
    let help = picket(&repo_root())
        .args(["run", "--help"])
        .output()
        .unwrap();
    let (help, _) = texts(&help);
    for d in deployed() {
        let replicas = d.set["spec"]["replicas"].as_u64().expect("replicas");
        assert_eq!(d.env("PICKET_SHARD")["value"], "auto", "{}", d.name);
        assert_eq!(
            d.env("PICKET_SHARD_COUNT")["value"],
            replicas.to_string().as_str(),
            "{}: PICKET_SHARD_COUNT must equal replicas",
            d.name
        );
        let args = d.args();
        assert_eq!(args.first().map(String::as_str), Some("run"), "{}", d.name);
        for flag in args.iter().filter(|a| a.starts_with('-')) {
            assert!(
                help.contains(&format!("{flag} ")) || help.contains(&format!("{flag},")),
                "{}: `picket run` has no flag {flag}:\n{help}",
                d.name
            );
        }
        let vantage = d
            .arg("--vantage")
            .unwrap_or_else(|| panic!("{}: no --vantage", d.name));
        assert_eq!(
            d.set
                .pointer("/spec/template/metadata/labels/picket.dev~1vantage"),
            Some(&Value::from(vantage.as_str())),
            "{}: the pod's vantage label (NetworkPolicies select on it)",
            d.name
        );
    }
}

#[test]
fn vantage_network_policies_select_their_workloads() {
    let sets = workloads();
    let policies: Vec<Value> = files_under(&deploy_dir().join("kubernetes"))
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .flat_map(|p| yaml_docs(p))
        .filter(|d| d["kind"] == "NetworkPolicy")
        .collect();
    for d in &sets {
        let vantage = d.arg("--vantage").unwrap();
        let policy = policies
            .iter()
            .find(|p| {
                p.pointer("/spec/podSelector/matchLabels/picket.dev~1vantage")
                    == Some(&Value::from(vantage.as_str()))
            })
            .unwrap_or_else(|| panic!("{}: no NetworkPolicy for vantage {vantage}", d.name));
        let egress = list(policy, "/spec/egress");
        let ports: BTreeSet<u64> = egress
            .iter()
            .flat_map(|rule| list(rule, "/ports"))
            .filter_map(|p| p["port"].as_u64())
            .collect();
        // DNS and the collector's OTLP/gRPC port, beside the zone's targets.
        assert!(
            ports.contains(&53) && ports.contains(&4317),
            "{}: {ports:?}",
            d.name
        );
        // Ports that must be closed from this vantage are open in its own policy, so the
        // network's segmentation is what `network/port-closed` meets.
        let (_, cfg) = d.config();
        for target in list(&cfg, "/targets") {
            for port in list(target, "/vars/closed_ports") {
                let port = port.as_u64().unwrap();
                assert!(
                    ports.contains(&port),
                    "{}: egress to {port} is blocked",
                    d.name
                );
            }
        }
    }
}

/// The pod's files under `root`, and the config with the pod's paths rewritten to them.
fn materialize(d: &Deployed, root: &Path) -> PathBuf {
    let mut mounts: Vec<PathBuf> = d.mounts().into_iter().map(|(at, _)| at).collect();
    // Longest first, so `/etc/picket` does not rewrite inside `/etc/picket-probes`.
    mounts.sort_by_key(|m| std::cmp::Reverse(m.as_os_str().len()));
    let local = |pod: &Path| root.join(pod.strip_prefix("/").unwrap());
    for (pod, file) in d.mounted_files() {
        let to = local(&pod);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(&file, &to).unwrap();
    }
    let config = local(&d.config_path());
    let mut text = read(&config);
    for (i, m) in mounts.iter().enumerate() {
        text = text.replace(m.to_str().unwrap(), &format!("\u{1}{i}\u{1}"));
    }
    for (i, m) in mounts.iter().enumerate() {
        text = text.replace(&format!("\u{1}{i}\u{1}"), local(m).to_str().unwrap());
    }
    std::fs::write(&config, text).unwrap();
    config
}

#[test]
fn statefulset_configs_pass_validate() {
    for d in deployed() {
        let root = tempfile::tempdir().unwrap();
        let config = materialize(&d, root.path());
        let out = picket(root.path())
            .args(["validate", "-c"])
            .arg(&config)
            .env("PICKET_API_TOKEN", "a-test-token-of-some-length")
            .output()
            .unwrap();
        let (stdout, stderr) = texts(&out);
        assert!(
            out.status.success(),
            "{}: `picket validate` refused {} (mounted from ConfigMaps):\n{stdout}{stderr}",
            d.name,
            d.config_path().display()
        );
        // The team probes mounted beside it are loaded and planned.
        let listed = picket(root.path())
            .args(["list", "-c"])
            .arg(&config)
            .env("PICKET_API_TOKEN", "a-test-token-of-some-length")
            .output()
            .unwrap();
        let (listed, _) = texts(&listed);
        for (pod, file) in d.mounted_files() {
            if pod == d.config_path() {
                continue;
            }
            let id = str_at(&yaml(&file), "/id", &file.display().to_string()).to_owned();
            assert!(
                listed.contains(&id),
                "{}: {id} is not loaded:\n{listed}",
                d.name
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// The PostgreSQL variant (deploy/kubernetes-postgres): replicas sharing one database.

/// Whether a `matchLabels` selects pods with `labels` (an empty selector counts as none).
fn selects(match_labels: Option<&Value>, labels: &Value) -> bool {
    match match_labels.and_then(Value::as_object) {
        Some(m) if !m.is_empty() => m.iter().all(|(k, v)| labels.get(k) == Some(v)),
        _ => false,
    }
}

/// The postgres variant's kustomization, rendered, and its Deployment.
fn postgres_variant() -> (Kustomization, Deployed) {
    let k = kustomization("kubernetes-postgres");
    let mut found: Vec<Deployed> = workloads()
        .into_iter()
        .filter(|d| d.dir == k.dir && d.set["kind"] == "Deployment")
        .collect();
    assert_eq!(
        found.len(),
        1,
        "one Deployment in deploy/kubernetes-postgres"
    );
    (k, found.remove(0))
}

/// `postgres://USER:PASSWORD@HOST:PORT/DATABASE?…` in parts, or a panic saying what is off.
fn postgres_url_parts(url: &str) -> (String, String, String, u16, String) {
    let rest = url
        .strip_prefix("postgres://")
        .unwrap_or_else(|| panic!("{url}: not postgres://"));
    let (userinfo, rest) = rest.rsplit_once('@').expect("user and password before @");
    let (user, password) = userinfo.split_once(':').expect("USER:PASSWORD");
    let (authority, path) = rest.split_once('/').expect("/DATABASE");
    let (host, port) = authority.rsplit_once(':').expect("HOST:PORT");
    let database = path.split('?').next().unwrap();
    (
        user.to_owned(),
        password.to_owned(),
        host.to_owned(),
        port.parse().expect("a port number"),
        database.to_owned(),
    )
}

/// deploy/kubernetes-postgres replaces the StatefulSet with a Deployment of 3 replicas, one
/// config for all: no claim, no shard, nothing writable; rolled and disrupted one pod at a
/// time, spread over nodes; everything else of the base is still there.
#[test]
fn postgres_variant_is_a_deployment_without_claims_or_shards() {
    let (k, d) = postgres_variant();
    let kinds =
        |kind: &str| -> Vec<&Value> { k.docs.iter().filter(|x| x["kind"] == kind).collect() };
    assert!(
        kinds("StatefulSet").is_empty(),
        "the base's StatefulSet is deleted"
    );
    assert!(kinds("PersistentVolumeClaim").is_empty());
    assert_eq!(d.set["metadata"]["name"], "picket");
    assert_eq!(d.set["spec"]["replicas"], 3, "{}", d.name);
    assert!(
        d.set.pointer("/spec/volumeClaimTemplates").is_none(),
        "{}",
        d.name
    );

    // The rest of the base comes along: namespace, service account, RBAC, Service, ConfigMaps.
    let base = kustomization("kubernetes");
    let have: BTreeSet<(String, String)> = k.docs.iter().map(kind_and_name).collect();
    for doc in &base.docs {
        let id = kind_and_name(doc);
        if id.0 != "StatefulSet" {
            assert!(have.contains(&id), "the variant lacks the base's {id:?}");
        }
    }
    assert_eq!(
        k.config_maps.keys().collect::<Vec<_>>(),
        base.config_maps.keys().collect::<Vec<_>>()
    );
    // The same image, rewritten in the variant too (the base's `images:` do not reach it).
    let raw = |dir: &Path| yaml(&dir.join("kustomization.yaml"));
    assert_eq!(raw(&k.dir)["images"], raw(&base.dir)["images"]);
    assert_eq!(raw(&k.dir)["namespace"], "picket");

    // Pods: the selector's, the Service's, the spread's and the budget's.
    let labels = &d.set["spec"]["template"]["metadata"]["labels"];
    assert!(
        selects(d.set.pointer("/spec/selector/matchLabels"), labels),
        "{}: selector",
        d.name
    );
    let services = kinds("Service");
    assert!(
        services
            .iter()
            .any(|s| selects(s.pointer("/spec/selector"), labels)),
        "{}: no Service selects the pods",
        d.name
    );
    assert_eq!(
        d.set["spec"]["strategy"]["type"], "RollingUpdate",
        "{}",
        d.name
    );
    assert_eq!(
        d.set["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"], 1,
        "{}",
        d.name
    );
    let spread = list(&d.set, "/spec/template/spec/topologySpreadConstraints");
    assert!(
        spread
            .iter()
            .any(|c| c["topologyKey"] == "kubernetes.io/hostname"
                && c["maxSkew"] == 1
                && selects(c.pointer("/labelSelector/matchLabels"), labels)),
        "{}: not spread over nodes: {spread:?}",
        d.name
    );
    let budgets: Vec<&Value> = kinds("PodDisruptionBudget")
        .into_iter()
        .filter(|b| selects(b.pointer("/spec/selector/matchLabels"), labels))
        .collect();
    assert_eq!(budgets.len(), 1, "{}: one PodDisruptionBudget", d.name);
    let spec = &budgets[0]["spec"];
    assert!(
        spec["maxUnavailable"] == 1 || spec["minAvailable"] == 2,
        "{}: the budget lets one pod go at a time: {spec}",
        d.name
    );

    // No shard: neither the flag nor the environment (refused with state.postgres).
    let args = d.args();
    assert_eq!(args.first().map(String::as_str), Some("run"), "{}", d.name);
    assert!(
        !args.iter().any(|a| a.starts_with("--shard")),
        "{}: {args:?}",
        d.name
    );
    let env: Vec<&str> = list(d.container(), "/env")
        .iter()
        .map(|e| str_at(e, "/name", "env"))
        .collect();
    assert!(
        !env.iter().any(|e| e.starts_with("PICKET_SHARD")),
        "{}: {env:?}",
        d.name
    );
    let help = picket(&repo_root())
        .args(["run", "--help"])
        .output()
        .unwrap();
    let (help, _) = texts(&help);
    for flag in args.iter().filter(|a| a.starts_with('-')) {
        assert!(
            help.contains(&format!("{flag} ")) || help.contains(&format!("{flag},")),
            "{}: `picket run` has no flag {flag}:\n{help}",
            d.name
        );
    }
    // The Dockerfile's config path, from the variant's own ConfigMap.
    assert_eq!(d.config_path(), Path::new("/etc/picket/picket.yaml"));
    assert_eq!(
        d.mounted_files()[&d.config_path()],
        k.dir.join("config/picket.yaml")
    );

    // State is in the database: no volume to write to, every mount read-only.
    assert!(
        list(&d.set, "/spec/template/spec/volumes")
            .iter()
            .all(|v| v.get("configMap").is_some() || v.get("projected").is_some()),
        "{}: a volume other than ConfigMaps and the token",
        d.name
    );
    for m in list(d.container(), "/volumeMounts") {
        assert_eq!(m["readOnly"], true, "{}: {m}", d.name);
    }
}

/// The database password reaches the config through PICKET_PG_PASSWORD, from a Secret that the
/// documentation says how to create; nothing secret is in the repository.
#[test]
fn postgres_variant_takes_its_password_from_a_secret() {
    let (k, d) = postgres_variant();
    let (file, cfg) = d.config();
    let what = file.display().to_string();
    let state: Vec<&String> = cfg["state"].as_object().expect("state:").keys().collect();
    assert_eq!(state, ["postgres"], "{what}: state is postgres alone");
    let url = str_at(&cfg, "/state/postgres/url", &what);
    let (user, password, host, _, database) = postgres_url_parts(url);
    assert_eq!(password, "${env:PICKET_PG_PASSWORD}", "{what}: {url}");
    assert!(
        !user.is_empty() && !host.is_empty() && !database.is_empty(),
        "{url}"
    );
    assert!(url.contains("sslmode=require"), "{what}: {url}");
    assert!(cfg.pointer("/state/postgres/lease").is_some(), "{what}");

    let env = d.env("PICKET_PG_PASSWORD");
    assert!(
        env.get("value").is_none(),
        "{}: password in the manifest",
        d.name
    );
    let secret = str_at(env, "/valueFrom/secretKeyRef/name", &d.name);
    let key = str_at(env, "/valueFrom/secretKeyRef/key", &d.name);
    assert_eq!((secret, key), ("picket-postgres", "password"), "{}", d.name);
    assert!(
        !k.docs.iter().any(|x| x["kind"] == "Secret"),
        "a Secret is committed"
    );

    // Ready only while the member holds its lease: /readyz, on the API port.
    let c = d.container();
    assert_eq!(
        str_at(c, "/readinessProbe/httpGet/path", &d.name),
        "/readyz"
    );
    assert_eq!(c["readinessProbe"]["httpGet"]["port"], "api");

    let docs = crate::helpers::user_docs();
    for line in [
        format!("kubectl -n picket create secret generic {secret} --from-literal={key}="),
        "kubectl apply -k deploy/kubernetes-postgres".to_owned(),
        format!("CREATE ROLE {user} LOGIN PASSWORD"),
        format!("CREATE DATABASE {database} OWNER {user};"),
    ] {
        assert!(docs.contains(&line), "the docs lack `{line}`");
    }
}

/// The variant's config is the base's but for `state:`, so the two do not drift apart.
#[test]
fn postgres_variant_config_is_the_base_config_but_state() {
    let (_, d) = postgres_variant();
    let (_, mut variant) = d.config();
    let mut base = yaml(&deploy_dir().join("kubernetes/config/picket.yaml"));
    assert!(base["state"].get("path").is_some());
    for cfg in [&mut base, &mut variant] {
        cfg.as_object_mut().unwrap().remove("state");
    }
    assert_eq!(
        variant, base,
        "deploy/kubernetes-postgres/config/picket.yaml differs from deploy/kubernetes/config/\
         picket.yaml elsewhere than `state:`; edit both"
    );
}

/// `picket validate` accepts the config the Deployment mounts, with the team probes beside it,
/// without a database (it checks the url, it does not connect), and never prints the password.
#[test]
fn postgres_variant_config_validates_without_a_database() {
    let (_, d) = postgres_variant();
    let root = tempfile::tempdir().unwrap();
    let config = materialize(&d, root.path());
    let password = "pg-test-password-3b7e91";
    let validate = |with_password: bool| {
        let mut cmd = picket(root.path());
        cmd.args(["validate", "-c"])
            .arg(&config)
            .env("PICKET_API_TOKEN", "a-test-token-of-some-length")
            .env_remove("PICKET_PG_PASSWORD");
        if with_password {
            cmd.env("PICKET_PG_PASSWORD", password);
        }
        cmd.output().unwrap()
    };
    let out = validate(true);
    let (stdout, stderr) = texts(&out);
    assert!(
        out.status.success(),
        "{}: `picket validate` refused {}:\n{stdout}{stderr}",
        d.name,
        d.config_path().display()
    );
    assert!(!stdout.contains(password) && !stderr.contains(password));
    // The password really comes from PICKET_PG_PASSWORD: without it, validate says so.
    let out = validate(false);
    let (stdout, stderr) = texts(&out);
    assert!(!out.status.success(), "{stdout}{stderr}");
    assert!(
        stderr.contains("PICKET_PG_PASSWORD") || stdout.contains("PICKET_PG_PASSWORD"),
        "{stdout}{stderr}"
    );
}

/// The variant's opt-in NetworkPolicy selects its pods and opens egress to the database's
/// port (the url's).
#[test]
fn postgres_variant_network_policy_opens_the_database_port() {
    let (k, d) = postgres_variant();
    let path = k.dir.join("networkpolicy.yaml");
    let policy = yaml(&path);
    assert_eq!(policy["kind"], "NetworkPolicy", "{}", path.display());
    let labels = &d.set["spec"]["template"]["metadata"]["labels"];
    assert!(
        selects(policy.pointer("/spec/podSelector/matchLabels"), labels),
        "{}: does not select the Deployment's pods",
        path.display()
    );
    assert!(list(&policy, "/spec/policyTypes").contains(&Value::from("Egress")));
    let (_, cfg) = d.config();
    let (.., port, _) = postgres_url_parts(str_at(&cfg, "/state/postgres/url", "config"));
    assert!(
        list(&policy, "/spec/egress").iter().any(|rule| {
            !list(rule, "/to").is_empty()
                && list(rule, "/ports")
                    .iter()
                    .any(|p| p["port"] == port && p["protocol"] == "TCP")
        }),
        "{}: no egress to the database's port {port}",
        path.display()
    );
    // Listed in the kustomization (opt-in, like the base's zone policy).
    assert!(read(&k.dir.join("kustomization.yaml")).contains("- networkpolicy.yaml"));
}

// ---------------------------------------------------------------------------------------
// The container image.

/// A JSON-array instruction of the Dockerfile (`CMD ["run", …]`).
fn exec_form(dockerfile: &str, instruction: &str) -> Vec<String> {
    let lines: Vec<&str> = dockerfile
        .lines()
        .filter(|l| l.starts_with(&format!("{instruction} ")))
        .collect();
    assert_eq!(lines.len(), 1, "one {instruction} expected: {lines:?}");
    let array = lines[0][instruction.len()..].trim();
    serde_json::from_str(array).unwrap_or_else(|e| panic!("{instruction} not exec form: {e}"))
}

#[test]
fn dockerfile_runs_the_config_the_statefulsets_mount() {
    let dockerfile = read(&repo_root().join("Dockerfile"));
    assert_eq!(
        exec_form(&dockerfile, "ENTRYPOINT"),
        ["/usr/local/bin/picket"]
    );
    let cmd = exec_form(&dockerfile, "CMD");
    assert_eq!(cmd.len(), 3, "{cmd:?}");
    assert_eq!(cmd[..2], ["run", "-c"]);
    for d in deployed() {
        assert_eq!(d.config_path(), Path::new(&cmd[2]), "{}", d.name);
        assert!(
            d.mounted_files().contains_key(Path::new(&cmd[2])),
            "{}",
            d.name
        );
    }
    let has = |line: &str| dockerfile.lines().any(|l| l.trim() == line);
    assert!(has("FROM rust:1-bookworm AS build"), "build stage");
    assert!(
        has("FROM gcr.io/distroless/cc-debian12:nonroot"),
        "run stage"
    );
    assert!(dockerfile.contains("cargo build --release --locked"));
    assert!(has("USER 65532:65532"));
    assert!(!dockerfile.lines().any(|l| l.starts_with("HEALTHCHECK")));
    // The image's writable place is the StatefulSets' state volume.
    assert_eq!(exec_form(&dockerfile, "VOLUME"), ["/var/lib/picket"]);
    for d in deployed() {
        let state: Vec<PathBuf> = d
            .mounts()
            .into_iter()
            .filter(|(_, v)| v.get("claim").is_some())
            .map(|(at, _)| at)
            .collect();
        assert_eq!(state, [PathBuf::from("/var/lib/picket")], "{}", d.name);
    }
    let ignore = read(&repo_root().join(".dockerignore"));
    for entry in [".git", "target/"] {
        assert!(
            ignore.lines().any(|l| l.trim() == entry),
            ".dockerignore: {entry}"
        );
    }
}

#[test]
fn readme_builds_the_image_with_the_dockerfiles_command() {
    let dockerfile = read(&repo_root().join("Dockerfile"));
    let commands: Vec<&str> = dockerfile
        .lines()
        .filter_map(|l| l.strip_prefix('#'))
        .map(str::trim)
        .filter(|l| l.starts_with("docker build"))
        .collect();
    assert_eq!(
        commands.len(),
        1,
        "one build command in the Dockerfile: {commands:?}"
    );
    let docs = crate::helpers::user_docs();
    assert!(
        docs.lines().any(|l| l.trim() == commands[0]),
        "README.md and docs/ lack the Dockerfile's build command `{}`",
        commands[0]
    );
    assert!(docs.contains("kubectl apply -k deploy/kubernetes"));
}

// ---------------------------------------------------------------------------------------
// systemd.

#[test]
fn systemd_unit_is_sandboxed() {
    let path = deploy_dir().join("systemd/picket.service");
    let unit = unit_file(&path);
    let get = |key: &str| -> Vec<&str> {
        unit.iter()
            .filter(|(s, k, _)| s == "Service" && k == key)
            .map(|(_, _, v)| v.as_str())
            .collect()
    };
    for (key, value) in [
        ("DynamicUser", "yes"),
        ("StateDirectory", "picket"),
        ("ConfigurationDirectory", "picket"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("NoNewPrivileges", "yes"),
        ("CapabilityBoundingSet", ""),
        ("RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX"),
        ("ExecReload", "/bin/kill -HUP $MAINPID"),
    ] {
        assert_eq!(get(key), [value], "{}: {key}", path.display());
    }
    let exec = get("ExecStart");
    assert_eq!(
        exec,
        ["/usr/local/bin/picket run -c /etc/picket/picket.yaml"]
    );
}

// ---------------------------------------------------------------------------------------
// Prometheus rules and the Grafana dashboard.

/// `promtool` with `args`, from `deploy/prometheus/`.
fn promtool(args: &[&str]) -> Output {
    Command::new("promtool")
        .args(args)
        .current_dir(deploy_dir().join("prometheus"))
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run promtool ({e}): install Debian's `prometheus` package \
                 (`apt-get install prometheus`; .ci/run does)"
            )
        })
}

#[test]
fn promtool_accepts_the_rules() {
    let out = promtool(&["check", "rules", "picket-rules.yaml"]);
    let (stdout, stderr) = texts(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
}

#[test]
fn rules_pass_their_unit_tests() {
    let out = promtool(&["test", "rules", "picket-rules.test.yaml"]);
    let (stdout, stderr) = texts(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    // Every alert of the rules file is tested.
    let tests = read(&deploy_dir().join("prometheus/picket-rules.test.yaml"));
    for alert in rule_exprs().into_iter().filter_map(|(name, _)| name) {
        assert!(
            tests.contains(&format!("alertname: {alert}")),
            "{alert} has no test"
        );
    }
}

/// `(alert name, expression)` of every rule.
fn rule_exprs() -> Vec<(Option<String>, String)> {
    let rules = yaml(&deploy_dir().join("prometheus/picket-rules.yaml"));
    list(&rules, "/groups")
        .iter()
        .flat_map(|g| list(g, "/rules"))
        .map(|r| {
            (
                r["alert"].as_str().map(str::to_owned),
                str_at(r, "/expr", "rule").to_owned(),
            )
        })
        .collect()
}

fn dashboard() -> Value {
    json(&deploy_dir().join("grafana/picket-dashboard.json"))
}

/// Every PromQL query of the dashboard: panel targets and variable queries.
fn dashboard_exprs() -> Vec<String> {
    let d = dashboard();
    let mut out: Vec<String> = list(&d, "/panels")
        .iter()
        .flat_map(|p| list(p, "/targets"))
        .map(|t| str_at(t, "/expr", "target").to_owned())
        .collect();
    for v in list(&d, "/templating/list") {
        if v["type"] == "query" {
            out.push(str_at(v, "/query/query", "variable").to_owned());
        }
    }
    out
}

/// A dashboard query with Grafana's variables replaced, as Prometheus receives it.
fn substituted(expr: &str) -> String {
    expr.replace("$__rate_interval", "5m")
        .replace("$__range", "6h")
        .replace("$job", ".*")
        .replace("$vantage", ".*")
        .replace("$target", ".*")
}

#[test]
fn dashboard_queries_are_promql_on_a_datasource_variable() {
    let d = dashboard();
    let vars = list(&d, "/templating/list");
    assert!(
        vars.iter().any(|v| v["name"] == "datasource"
            && v["type"] == "datasource"
            && v["query"] == "prometheus"),
        "no datasource variable"
    );
    let variable = serde_json::json!({ "type": "prometheus", "uid": "${datasource}" });
    let panels = list(&d, "/panels");
    assert!(panels.len() >= 7);
    for p in panels {
        assert_eq!(p["datasource"], variable, "{}", p["title"]);
        assert!(!list(p, "/targets").is_empty(), "{}", p["title"]);
        for t in list(p, "/targets") {
            assert_eq!(t["datasource"], variable, "{}", p["title"]);
        }
    }
    for v in vars.iter().filter(|v| v["type"] == "query") {
        assert_eq!(v["datasource"], variable, "{}", v["name"]);
    }
    // promtool parses the queries as recording rules (label_values() is Grafana's, not PromQL).
    let label_values = Regex::new(r"^label_values\((.*),\s*\w+\)$").unwrap();
    let rules: Vec<Value> = dashboard_exprs()
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let e = substituted(e);
            let e = label_values
                .captures(&e)
                .map_or(e.clone(), |c| c[1].to_owned());
            serde_json::json!({ "record": format!("dashboard:query{i}"), "expr": e })
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dashboard-queries.yaml");
    let doc = serde_json::json!({ "groups": [{ "name": "dashboard", "rules": rules }] });
    // JSON is YAML.
    std::fs::write(&file, doc.to_string()).unwrap();
    let out = promtool(&["check", "rules", file.to_str().unwrap()]);
    let (stdout, stderr) = texts(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
}

// ---------------------------------------------------------------------------------------
// Names: what the rules and the dashboard use is what picket exports.

/// The Prometheus name the collector's exporter gives an OTLP metric, with
/// `translation_strategy: UnderscoreEscapingWithSuffixes` (otelcol-contrib 0.159.0's
/// prometheusexporter names metrics with prometheus/otlptranslator's `MetricNamer`): the name
/// split on every character outside `[a-zA-Z0-9:]` and joined with `_`; the unit's word
/// appended unless already there (`s` -> `seconds`; none for `1`, and none for annotations
/// such as `{run}`); `_total` for monotonic sums; `_ratio` for gauges of unit `1`.
fn prometheus_name(name: &str, unit: &str, kind: &str, monotonic: bool) -> String {
    let mut tokens: Vec<String> = name
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == ':'))
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect();
    assert!(
        !unit.contains('/'),
        "{name}: per-units (`{unit}`) are not handled here; add them"
    );
    let word = match unit.trim() {
        "" | "1" => None,
        u if u.contains(['{', '}']) => None,
        "d" => Some("days"),
        "h" => Some("hours"),
        "min" => Some("minutes"),
        "s" => Some("seconds"),
        "ms" => Some("milliseconds"),
        "us" => Some("microseconds"),
        "ns" => Some("nanoseconds"),
        "By" => Some("bytes"),
        "%" => Some("percent"),
        other => panic!("{name}: unit `{other}`: add its word from otlptranslator's unitMap"),
    };
    if let Some(word) = word
        && !tokens.iter().any(|t| t == word)
    {
        tokens.push(word.to_owned());
    }
    if kind == "sum" && monotonic {
        tokens.retain(|t| t != "total");
        tokens.push("total".into());
    }
    if kind == "gauge" && unit == "1" {
        tokens.retain(|t| t != "ratio");
        tokens.push("ratio".into());
    }
    tokens.join("_")
}

/// The label an attribute key becomes: every character outside `[a-zA-Z0-9_]` an
/// underscore, runs of underscores one, `key_` before a leading digit.
fn prometheus_label(key: &str) -> String {
    let mut out = String::new();
    for c in key.chars() {
        let c = if c.is_ascii_alphanumeric() || c == '_' {
            c
        } else {
            '_'
        };
        if !(c == '_' && out.ends_with('_')) {
            out.push(c);
        }
    }
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert_str(0, "key_");
    }
    out
}

#[test]
fn translation_matches_the_collector_documentation() {
    // The examples of otlptranslator's MetricNamer and the collector's README.
    assert_eq!(
        prometheus_name("http.server.duration", "s", "histogram", false),
        "http_server_duration_seconds"
    );
    assert_eq!(
        prometheus_name("requests.count", "1", "sum", true),
        "requests_count_total"
    );
    assert_eq!(
        prometheus_name("memory.usage", "By", "gauge", false),
        "memory_usage_bytes"
    );
    assert_eq!(
        prometheus_name("system.network.packets", "{packets}", "sum", true),
        "system_network_packets_total"
    );
    assert_eq!(
        prometheus_name("cpu.utilization", "1", "gauge", false),
        "cpu_utilization_ratio"
    );
    assert_eq!(prometheus_label("k8s.namespace.name"), "k8s_namespace_name");
    assert_eq!(prometheus_label("0.weird..key"), "key_0_weird_key");
}

/// A metric as Prometheus sees it: its names (histograms have three) and labels.
#[derive(Debug)]
struct PromMetric {
    otlp: String,
    names: Vec<String>,
    labels: BTreeSet<String>,
}

/// Records one of everything picket reports into a loopback OTLP receiver, and returns the
/// metrics it received, translated; plus the resource attributes.
async fn exported_metrics() -> (Vec<PromMetric>, BTreeMap<String, String>) {
    let receiver = Receiver::grpc().await;
    let cfg = config::Telemetry {
        endpoint: Some(receiver.endpoint().parse().unwrap()),
        protocol: OtlpProtocol::Grpc,
        export_interval: Duration::from_millis(200),
    };
    let telemetry = Telemetry::init(&cfg, Some("zone-a")).unwrap();
    // The state gauges read the tracker, the one owner of series state: this series regressed.
    let dir = tempfile::tempdir().unwrap();
    // And one under an acceptance: picket.probe.accepted.
    let until = (chrono::Utc::now() + chrono::Duration::days(30)).format("%Y-%m-%d");
    let accepted = crate::otlp::acceptance(&format!(
        "- probe: headers/csp\n  target: legacy\n  until: {until}\n  reason: SEC-123\n"
    ));
    let tracker = crate::otlp::tracker_accepting(
        dir.path(),
        &[
            (
                "tls/certificate-expiry",
                "payments-api",
                Severity::High,
                vec![Outcome::Pass, Outcome::Fail(Vec::new())],
            ),
            (
                "headers/csp",
                "legacy",
                Severity::Medium,
                vec![Outcome::Fail(Vec::new())],
            ),
        ],
        Some(accepted),
    )
    .await;
    telemetry.observe_states(&tracker);
    let labels = SeriesLabels {
        probe_id: "tls/certificate-expiry",
        target_name: "payments-api",
        severity: Severity::High,
        rule_name: "The certificate is valid for long enough",
        rule_category: "tls",
        rule_reference: None,
        classification: &[],
    };
    let finding = Finding {
        check: "certificate valid_for_at_least 14d".into(),
        expected: "14d".into(),
        observed: "3d".into(),
        detail: None,
        severity: None,
    };
    let error = Outcome::Error(RunError {
        kind: ErrorKind::Timeout,
        message: "no response within 10s".into(),
    });
    for outcome in [Outcome::Pass, Outcome::Fail(vec![finding.clone()]), error] {
        telemetry.record_run(
            &labels,
            &RunResult {
                probe: labels.probe_id.into(),
                target: labels.target_name.into(),
                outcome,
                started: SystemTime::now(),
                duration: Duration::from_millis(30),
                wait: Duration::ZERO,
                url: "tls://127.0.0.1:8443".into(),
                server_address: "127.0.0.1".into(),
                server_port: 8443,
                status: None,
                certificate_not_after: Some(SystemTime::now() + Duration::from_secs(3 * 86_400)),
                attributes: Vec::new(),
                // What a `software` check identified: picket.software.eol.
                software: vec![SoftwareSeen {
                    name: "nginx".into(),
                    version: "1.18.0".into(),
                    eol: Some(SystemTime::now() - Duration::from_secs(100 * 86_400)),
                }],
            },
        );
    }
    telemetry.record_transition(
        &labels,
        Transition::Regression,
        &[finding],
        SystemTime::now(),
    );
    telemetry.record_transition(&labels, Transition::Recovery, &[], SystemTime::now());
    telemetry.record_lateness(0.002);
    telemetry.record_reload(true);
    telemetry.record_reload(false);
    telemetry.record_skipped(&labels);
    telemetry.record_delivery("security-slack", "delivered");
    telemetry.record_api_shed("evicted");
    telemetry.set_discovered("http:inventory", Some(3));
    telemetry.record_discovery_errors("http:inventory", 1);
    assert!(
        receiver
            .wait_until(
                |r| r.metric_names().contains("picket.probe.regressed"),
                Duration::from_secs(10)
            )
            .await,
        "no metric export"
    );
    let t = telemetry.clone();
    tokio::task::spawn_blocking(move || t.shutdown(Duration::from_secs(10)))
        .await
        .unwrap();
    let names = receiver.metric_names();
    let metrics = names
        .iter()
        .filter(|n| n.starts_with("picket."))
        .map(|otlp| {
            let view = receiver.metric(otlp).unwrap();
            let base = prometheus_name(otlp, &view.unit, view.kind, view.monotonic);
            let names = if view.kind == "histogram" {
                ["bucket", "sum", "count"]
                    .iter()
                    .map(|s| format!("{base}_{s}"))
                    .collect()
            } else {
                vec![base]
            };
            let mut labels: BTreeSet<String> = view
                .points
                .keys()
                .flat_map(|attrs| attrs.keys().map(|k| prometheus_label(k)))
                .collect();
            if view.kind == "histogram" {
                labels.insert("le".into());
            }
            PromMetric {
                otlp: otlp.clone(),
                names,
                labels,
            }
        })
        .collect();
    (metrics, receiver.resource_attrs())
}

/// The labels every series gets besides its attributes: `job` and `instance` from the
/// resource, and the resource attributes the collector config copies onto data points
/// (`set(attributes["X"], resource.attributes["X"])`), which must exist in picket's resource.
fn collector_labels(resource: &BTreeMap<String, String>) -> BTreeSet<String> {
    let path = deploy_dir().join("otel-collector/config.yaml");
    let cfg = yaml(&path);
    assert_eq!(
        str_at(
            &cfg,
            "/exporters/prometheus/translation_strategy",
            "collector"
        ),
        "UnderscoreEscapingWithSuffixes",
        "the translation this test implements"
    );
    let text = read(&path);
    assert!(
        text.contains("otel/opentelemetry-collector-contrib:0.159.0"),
        "the pinned collector version changed: check its translation against this test"
    );
    let copy = Regex::new(r#"set\(attributes\["([^"]+)"\],\s*resource\.attributes\["([^"]+)"\]\)"#)
        .unwrap();
    let mut out: BTreeSet<String> = ["job", "instance"].map(String::from).into();
    let processors = cfg["processors"].as_object().unwrap();
    let pipeline: Vec<&str> = list(&cfg, "/service/pipelines/metrics/processors")
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    for name in pipeline.iter().filter(|p| p.starts_with("transform")) {
        let statements = processors[*name].to_string();
        for c in copy.captures_iter(&statements.replace("\\\"", "\"")) {
            assert!(
                resource.contains_key(&c[2]),
                "picket has no resource attribute {}",
                &c[2]
            );
            out.insert(prometheus_label(&c[1]));
        }
    }
    out
}

/// The metric names and the label names a PromQL expression uses.
fn names_in(expr: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let strings = Regex::new(r#""[^"]*""#).unwrap();
    let grouping =
        Regex::new(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)").unwrap();
    let matchers = Regex::new(r"\{([^}]*)\}").unwrap();
    let matcher = Regex::new(r"([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)").unwrap();
    let label_values = Regex::new(r"label_values\((.*),\s*(\w+)\s*\)").unwrap();
    let identifier = Regex::new(r"[a-zA-Z_:][a-zA-Z0-9_:]*").unwrap();
    let mut labels = BTreeSet::new();
    let mut expr = strings.replace_all(expr, "\"\"").into_owned();
    if let Some(c) = label_values.captures(&expr.clone()) {
        labels.insert(c[2].to_owned());
        expr = c[1].to_owned();
    }
    for c in grouping.captures_iter(&expr) {
        labels.extend(
            c[1].split(',')
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(String::from),
        );
    }
    for c in matchers.captures_iter(&expr) {
        labels.extend(matcher.captures_iter(&c[1]).map(|m| m[1].to_owned()));
    }
    let rest = matchers
        .replace_all(&grouping.replace_all(&expr, " "), " ")
        .into_owned();
    let metrics = identifier
        .find_iter(&rest)
        .map(|m| m.as_str())
        .filter(|i| i.starts_with("picket_"))
        .map(String::from)
        .collect();
    (metrics, labels)
}

#[test]
fn promql_names_are_found() {
    let (metrics, labels) = names_in(
        r#"sum by (job, instance) (increase(picket_probe_runs_total{outcome="error", x=~"a{b}"}[5m])) unless on (probe_id) picket_probe_status"#,
    );
    assert_eq!(
        metrics,
        ["picket_probe_runs_total", "picket_probe_status"]
            .map(String::from)
            .into()
    );
    assert_eq!(
        labels,
        ["job", "instance", "outcome", "x", "probe_id"]
            .map(String::from)
            .into()
    );
    let (metrics, labels) =
        names_in(r#"label_values(picket_probe_runs_total{job=~"$job"}, picket_vantage)"#);
    assert_eq!(metrics, ["picket_probe_runs_total".to_owned()].into());
    assert_eq!(labels, ["job", "picket_vantage"].map(String::from).into());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_and_dashboard_use_only_what_picket_exports() {
    let (metrics, resource) = exported_metrics().await;
    let everything: Vec<&str> = metrics.iter().map(|m| m.otlp.as_str()).collect();
    // Every instrument of src/telemetry/names.rs was recorded above.
    let source = read(&repo_root().join("src/telemetry/names.rs"));
    let declared = Regex::new(r#"pub const \w+: &str = "(picket\.[a-z.]+)";"#).unwrap();
    for c in declared.captures_iter(&source) {
        let name = &c[1];
        if [
            telemetry::REGRESSION_EVENT,
            telemetry::RECOVERY_EVENT,
            telemetry::TARGET_DISCOVERED_EVENT,
            telemetry::TARGET_REMOVED_EVENT,
            telemetry::ACCEPTANCE_EXPIRED_EVENT,
            telemetry::ACCEPTANCE_UNNEEDED_EVENT,
        ]
        .contains(&name)
        {
            continue; // log event names, not instruments
        }
        if name == telemetry::CLUSTER_MEMBERS {
            continue; // only in a group (state.postgres): tests/it/pg_store.rs reads it
        }
        assert!(
            everything.contains(&name),
            "{name} was not exported: {everything:?}"
        );
    }
    let common = collector_labels(&resource);
    let by_name: BTreeMap<&str, &PromMetric> = metrics
        .iter()
        .flat_map(|m| m.names.iter().map(move |n| (n.as_str(), m)))
        .collect();
    let mut used = BTreeSet::new();
    let exprs: Vec<(String, String)> = rule_exprs()
        .into_iter()
        .map(|(name, e)| (format!("rule {}", name.unwrap_or_default()), e))
        .chain(
            dashboard_exprs()
                .into_iter()
                .map(|e| ("dashboard".to_owned(), e)),
        )
        .collect();
    for (origin, expr) in &exprs {
        let (names, labels) = names_in(expr);
        assert!(!names.is_empty(), "{origin}: no picket metric in {expr}");
        let mut known = common.clone();
        for name in &names {
            let metric = by_name.get(name.as_str()).unwrap_or_else(|| {
                panic!(
                    "{origin}: {name} is not a metric picket exports; it exports {:?}",
                    by_name.keys()
                )
            });
            known.extend(metric.labels.iter().cloned());
            used.insert(metric.otlp.clone());
        }
        for label in &labels {
            assert!(
                known.contains(label),
                "{origin}: label {label} is on none of {names:?} (they have {known:?}): {expr}"
            );
        }
    }
    // The rules and the dashboard between them look at everything picket reports.
    let unused: Vec<&str> = everything
        .iter()
        .copied()
        .filter(|m| !used.contains(*m))
        .collect();
    assert!(unused.is_empty(), "used nowhere: {unused:?}");
    // And the translation is the one the collector config documents.
    let collector = read(&deploy_dir().join("otel-collector/config.yaml"));
    for m in &metrics {
        let documented = match m.names.as_slice() {
            [bucket, _, _] => format!("{}|_sum|_count", bucket),
            [name] => name.clone(),
            other => panic!("{other:?}"),
        };
        let line = Regex::new(&format!(
            r"(?m)^\s*#\s*{}\s+->\s+{}\s*$",
            regex::escape(&m.otlp),
            regex::escape(&documented)
        ))
        .unwrap();
        assert!(
            line.is_match(&collector),
            "config.yaml does not document {} -> {documented}",
            m.otlp
        );
    }
}

/// discover.kubernetes in the cluster: the base kustomization grants the picket service
/// account get, list and watch (nothing else) on Services, Ingresses and HTTPRoutes, binds it,
/// and mounts its token where in-cluster clients look, read-only; the namespaced variant does
/// the same per namespace with Roles; and the config that enables discovery validates.
#[test]
fn discovery_rbac_renders_with_the_kustomizations() {
    let ks = kustomizations();
    let kinds = |docs: &[Value], kind: &str| -> Vec<Value> {
        docs.iter().filter(|d| d["kind"] == kind).cloned().collect()
    };
    let wanted = [
        ("", "services"),
        ("networking.k8s.io", "ingresses"),
        ("gateway.networking.k8s.io", "httproutes"),
    ];
    let grants_reading = |role: &Value| {
        let rules = list(role, "/rules");
        for (group, resource) in wanted {
            assert!(
                rules.iter().any(|r| {
                    list(r, "/apiGroups").contains(&Value::from(group))
                        && list(r, "/resources").contains(&Value::from(resource))
                }),
                "{role}: no rule for {resource}"
            );
        }
        for r in rules {
            let verbs: Vec<&str> = list(r, "/verbs").iter().filter_map(Value::as_str).collect();
            assert_eq!(verbs, ["get", "list", "watch"], "{role}: read only");
        }
    };
    let binds = |binding: &Value, kind: &str, name: &str| {
        assert_eq!(binding["roleRef"]["kind"], kind, "{binding}");
        assert_eq!(binding["roleRef"]["name"], name, "{binding}");
        let subject = &list(binding, "/subjects")[0];
        assert_eq!(subject["kind"], "ServiceAccount");
        assert_eq!(subject["name"], "picket");
        assert_eq!(subject["namespace"], "picket");
    };
    let base = ks
        .iter()
        .find(|k| k.dir.ends_with("deploy/kubernetes"))
        .unwrap();
    let roles = kinds(&base.docs, "ClusterRole");
    assert_eq!(roles.len(), 1);
    grants_reading(&roles[0]);
    let bindings = kinds(&base.docs, "ClusterRoleBinding");
    assert_eq!(bindings.len(), 1);
    binds(
        &bindings[0],
        "ClusterRole",
        roles[0]["metadata"]["name"].as_str().unwrap(),
    );

    let namespaced = ks
        .iter()
        .find(|k| k.dir.ends_with("rbac-namespaced"))
        .expect("deploy/kubernetes/rbac-namespaced");
    let roles = kinds(&namespaced.docs, "Role");
    let bindings = kinds(&namespaced.docs, "RoleBinding");
    assert!(!roles.is_empty());
    assert_eq!(roles.len(), bindings.len());
    for role in &roles {
        grants_reading(role);
        let ns = &role["metadata"]["namespace"];
        let binding = bindings
            .iter()
            .find(|b| b["metadata"]["namespace"] == *ns)
            .unwrap_or_else(|| panic!("no RoleBinding in {ns}"));
        binds(binding, "Role", role["metadata"]["name"].as_str().unwrap());
    }

    // The pods mount the token where kube's in-cluster config reads it, read-only.
    for d in workloads()
        .into_iter()
        .filter(|d| d.set["metadata"]["name"] == "picket")
    {
        let (at, volume) = d
            .mounts()
            .into_iter()
            .find(|(_, v)| v.get("projected").is_some())
            .expect("the service account token is mounted");
        assert_eq!(
            at,
            Path::new("/var/run/secrets/kubernetes.io/serviceaccount")
        );
        let sources = list(&volume, "/projected/sources");
        assert!(
            sources
                .iter()
                .any(|s| s.get("serviceAccountToken").is_some())
        );
        assert!(
            sources
                .iter()
                .any(|s| s.pointer("/configMap/name") == Some(&Value::from("kube-root-ca.crt")))
        );
        let (_, cfg) = d.config();
        assert!(
            cfg.pointer("/discover/kubernetes").is_some(),
            "discovery is enabled"
        );
    }
}
