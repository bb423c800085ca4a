//! Who learns a configuration's secrets: loading registers them nowhere (`picket validate`
//! and a reload that fails leave the process as they found it); the service adds those of
//! each configuration it accepts to the redactor its telemetry, notifier and API share, and
//! to the process's log writer; `picket check` registers those of the configuration it runs.
//!
//! The process-wide set is shared by every test of this binary, so each test uses secret
//! values of its own and only asks whether those are known.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use picket::redact::{REDACTED, Redactor};
use tokio_util::sync::CancellationToken;

use crate::helpers::workspace;
use crate::service::{NOSNIFF, start_in_process};

/// Whether `redactor` scrubs `secret`.
fn knows(redactor: &Redactor, secret: &str) -> bool {
    redactor.scrub(&format!("x {secret} y")) == format!("x {REDACTED} y")
}

/// A config whose target `web` sends `${env:<var>}` in a header; with `broken`, a second
/// target whose URL, built from `${env:BROKEN_URL_PART}`, does not parse, so the load fails
/// after resolving it.
fn config(root: &Path, var: &str, broken: bool) -> String {
    let broken = if broken {
        "  - name: bad\n    url: \"http://[${env:BROKEN_URL_PART}\"\n"
    } else {
        ""
    };
    format!(
        "library: false\nprobes: [{probes}]\ntargets:\n  - name: web\n    url: http://127.0.0.1:9\n    headers:\n      X-Key: \"${{env:{var}}}\"\n{broken}\
         defaults:\n  schedule: {{ every: 1h }}\nstate: {{ path: {state} }}\napi: {{ listen: \"127.0.0.1:0\" }}\n",
        probes = root.join("probes").display(),
        state = root.join("state").display(),
    )
}

fn env(pairs: &'static [(&'static str, &'static str)]) -> picket::service::SharedEnv {
    Arc::new(move |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| (*v).to_string())
    })
}

#[test]
fn validate_registers_no_secret_with_the_process() {
    const GOOD: &str = "validate-only-secret-4be1c07d";
    const BROKEN: &str = "validate-broken-secret-93aa5e1f";
    let ws = workspace(&[("probes/nosniff.yaml", NOSNIFF)]);
    let path = ws.path().join("picket.yaml");
    let lookup = |name: &str| match name {
        "GOOD_TOKEN" => Some(GOOD.to_string()),
        "BROKEN_URL_PART" => Some(BROKEN.to_string()),
        _ => None,
    };
    for (broken, code) in [(false, 0), (true, 2)] {
        std::fs::write(&path, config(ws.path(), "GOOD_TOKEN", broken)).unwrap();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let got = picket::commands::validate(Some(&path), &[], &lookup, &mut out, &mut err);
        let text = String::from_utf8_lossy(&err).into_owned() + &String::from_utf8_lossy(&out);
        assert_eq!(got, code, "{text}");
        assert!(!text.contains(GOOD) && !text.contains(BROKEN), "{text}");
    }
    let global = picket::redact::global();
    assert!(!knows(&global, GOOD), "validate registered a secret");
    assert!(
        !knows(&global, BROKEN),
        "a failed validation registered a secret"
    );
}

#[tokio::test]
async fn only_accepted_configurations_teach_the_service_and_the_log_writer_their_secrets() {
    const FIRST: &str = "first-accepted-secret-5d0e2b7a";
    const BROKEN: &str = "refused-reload-secret-c81f4e09";
    const SECOND: &str = "second-accepted-secret-7a93d6b2";
    let ws = workspace(&[("probes/nosniff.yaml", NOSNIFF)]);
    let path = ws.path().join("picket.yaml");
    std::fs::write(&path, config(ws.path(), "FIRST_TOKEN", false)).unwrap();
    let env = env(&[
        ("FIRST_TOKEN", FIRST),
        ("BROKEN_URL_PART", BROKEN),
        ("SECOND_TOKEN", SECOND),
    ]);
    // The loader registers nothing: the first configuration is loaded (inside the helper)
    // before the service accepts it, and a load on its own teaches the process nothing.
    let loaded = picket::load::load(&path, &*env).unwrap_or_else(|d| panic!("{d}"));
    assert!(knows(&loaded.config.redactor, FIRST));
    drop(loaded);
    assert!(!knows(&picket::redact::global(), FIRST));

    let telemetry = picket::telemetry::Telemetry::disabled();
    let shutdown = CancellationToken::new();
    let running = start_in_process(&path, env, Some(telemetry.clone()), shutdown.clone()).await;
    // Accepted at start: the service's redactor (the telemetry's, shared with the notifier
    // and the API) and the log writer's know it.
    assert!(knows(&running.secrets.current(), FIRST));
    assert!(knows(&telemetry.secrets().current(), FIRST));
    assert!(knows(&picket::redact::global(), FIRST));

    // A reload that fails, after resolving a new secret: nobody learns it.
    std::fs::write(&path, config(ws.path(), "FIRST_TOKEN", true)).unwrap();
    running.reload();
    wait_for(|| running.reloads().1 == 1, "the failed reload").await;
    assert_eq!(running.reloads().0, 0, "the broken config was refused");
    assert!(!knows(&running.secrets.current(), BROKEN));
    assert!(!knows(&telemetry.secrets().current(), BROKEN));
    assert!(!knows(&picket::redact::global(), BROKEN));

    // A reload that is accepted brings its new secret to all of them, and keeps the old one
    // (a secret no longer configured must not become printable).
    std::fs::write(&path, config(ws.path(), "SECOND_TOKEN", false)).unwrap();
    running.reload();
    wait_for(|| running.reloads().0 == 1, "the good reload").await;
    for redactor in [
        running.secrets.current(),
        telemetry.secrets().current(),
        picket::redact::global(),
    ] {
        assert!(knows(&redactor, SECOND) && knows(&redactor, FIRST));
        assert!(!knows(&redactor, BROKEN));
    }
    shutdown.cancel();
    running.wait().await.unwrap();
}

#[tokio::test]
async fn check_registers_the_secrets_of_the_configuration_it_runs() {
    const SECRET: &str = "check-run-secret-2f6c9e14";
    let ws = workspace(&[("probes/nosniff.yaml", NOSNIFF)]);
    let path = ws.path().join("picket.yaml");
    std::fs::write(&path, config(ws.path(), "CHECK_TOKEN", false)).unwrap();
    let lookup = |name: &str| (name == "CHECK_TOKEN").then(|| SECRET.to_string());
    let opts = picket::commands::CheckOptions {
        config: Some(path),
        probe: None,
        target: None,
        format: picket::commands::Format::Json,
        fail_on: picket::units::Severity::Low,
        probes: Vec::new(),
        ca_file: None,
        vars: Vec::new(),
        rps: None,
        progress: false,
        fail_on_error: false,
        allow_unreachable: true,
        verbose: false,
        colour: false,
    };
    picket::crypto::install_crypto_provider();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    picket::commands::check(&opts, &lookup, &mut out, &mut err).await;
    let text = String::from_utf8_lossy(&out).into_owned() + &String::from_utf8_lossy(&err);
    assert!(!text.contains(SECRET), "{text}");
    assert!(knows(&picket::redact::global(), SECRET), "{text}");
}

/// Waits until `done` holds; the bound is generous, for a busy machine.
async fn wait_for(done: impl Fn() -> bool, what: &str) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{what} never came"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
