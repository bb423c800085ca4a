//! Configured secrets never leave picket: not in findings, output formats, logs or errors.

use crate::helpers::{TestServer, respond, run_picket, texts, workspace};

const SECRET: &str = "s3cr3t-T0ken-5a9f1c";

/// A server that echoes the Authorization header it got, in a header and in the body.
async fn echo_server() -> TestServer {
    TestServer::start(|s| {
        let auth = s
            .headers
            .get("authorization")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        let body = format!("<html>you sent: {auth}</html>");
        let mut r = respond(200, &[("content-type", "text/html")], body);
        r.headers_mut().insert("x-echo", auth.parse().unwrap());
        r
    })
    .await
}

const PROBE: &str = "id: leak/echo\nname: echo\nseverity: high\nhttp:\n  path: /\nchecks:\n  - header: x-echo\n    absent: true\n  - body: { not_contains: \"you sent\" }\n  - header: x-echo\n    equals: nothing\n";

#[tokio::test]
async fn env_secret_never_appears_in_any_output() {
    let server = echo_server().await;
    let target = "    headers:\n      Authorization: \"Bearer ${env:PICKET_TEST_TOKEN}\"\n";
    let ws = workspace(&[
        (
            "picket.yaml",
            &crate::helpers::config_for(&server.url(), target),
        ),
        ("probes/echo.yaml", PROBE),
    ]);
    let env = [("PICKET_TEST_TOKEN", SECRET)];
    let mut everything = String::new();
    for format in ["text", "json", "sarif", "junit"] {
        let out = run_picket(
            ws.path(),
            &[
                "--log",
                "trace",
                "check",
                "-c",
                "picket.yaml",
                "--format",
                format,
            ],
            &env,
        )
        .await;
        assert_eq!(out.status.code(), Some(1), "{:?}", texts(&out));
        let (stdout, stderr) = texts(&out);
        assert!(
            stdout.contains("redacted"),
            "{format}: findings should show the redaction: {stdout}"
        );
        everything.push_str(&stdout);
        everything.push_str(&stderr);
    }
    for args in [
        &["validate", "-c", "picket.yaml"][..],
        &["list", "-c", "picket.yaml"][..],
    ] {
        let out = run_picket(ws.path(), args, &env).await;
        everything.push_str(&texts(&out).0);
        everything.push_str(&texts(&out).1);
    }
    // The secret really was sent, so the test is not vacuous...
    let sent: Vec<String> = server
        .seen()
        .iter()
        .filter_map(|s| {
            s.headers
                .get("authorization")
                .map(|v| v.to_str().unwrap().to_string())
        })
        .collect();
    assert!(sent.iter().all(|v| v == &format!("Bearer {SECRET}")) && !sent.is_empty());
    // ...and it appears nowhere.
    assert!(!everything.contains(SECRET), "secret leaked:\n{everything}");
    assert!(
        !everything.contains("s3cr3t"),
        "part of the secret leaked:\n{everything}"
    );
}

#[tokio::test]
async fn env_secret_never_appears_in_error_messages() {
    // The secret is used in a URL that is invalid, and in a header value that is invalid.
    let ws = workspace(&[
        (
            "picket.yaml",
            "probes: [probes/]\ntargets:\n  - name: web\n    url: \"http://[${env:PICKET_TEST_TOKEN}\"\n  - name: api\n    url: http://127.0.0.1:9\n    headers:\n      X-Key: \"${env:PICKET_TEST_TOKEN}\\u0001\"\n",
        ),
        ("probes/p.yaml", PROBE),
    ]);
    let out = run_picket(
        ws.path(),
        &["validate", "-c", "picket.yaml"],
        &[("PICKET_TEST_TOKEN", SECRET)],
    )
    .await;
    let (stdout, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(2), "{stdout}{stderr}");
    assert!(
        stderr.contains("picket.yaml:4:10: invalid URL `<redacted>`"),
        "{stderr}"
    );
    assert!(
        stderr.contains("picket.yaml:8:14: header `X-Key` has a value"),
        "{stderr}"
    );
    assert!(
        !stdout.contains(SECRET) && !stderr.contains(SECRET),
        "{stderr}"
    );
}

#[tokio::test]
async fn missing_env_variable_is_a_config_error_naming_it() {
    let ws = workspace(&[
        (
            "picket.yaml",
            "probes: [probes/]\ntargets:\n  - name: web\n    url: http://127.0.0.1:9\n    headers:\n      Authorization: \"Bearer ${env:PICKET_TEST_UNSET_VAR}\"\n",
        ),
        ("probes/p.yaml", PROBE),
    ]);
    let out = run_picket(ws.path(), &["validate", "-c", "picket.yaml"], &[]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        texts(&out)
            .1
            .contains("picket.yaml:6:22: environment variable `PICKET_TEST_UNSET_VAR` is not set"),
        "{:?}",
        texts(&out)
    );
}
