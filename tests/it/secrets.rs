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

/// The sweep: four secrets (a header token with `"` and `\` in it, a `vars` value used in a
/// path, part of the target URL's path, and a sample JWT that a probe re-encodes with
/// `jwt_alg_none` and sends), a target that reflects them in every spelling
/// (raw, case-changed, percent-encoded, JSON-escaped, base64, at the clip and excerpt
/// boundaries), and every channel picket writes to. No 8-character piece of any secret, in
/// any of those spellings, may appear anywhere.
mod sweep {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    use base64::Engine as _;
    use percent_encoding::{NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

    use crate::helpers::{Seen, TestServer, respond, run_picket, texts, workspace};
    use crate::notify::Receiver;

    const TOKEN: &str = "tok\"en\\Zq-8c1f4a9b2e7d";
    const VAR: &str = "pv 7d6c\"5b4a9f8e";
    const BASE: &str = "base-Qx7 k2m9w4";
    /// `{"alg":"HS256","typ":"JWT"}`, `{"sub":"sweep-user-7c4e","scope":"admin","exp":…}`.
    const JWT: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.\
        eyJzdWIiOiJzd2VlcC11c2VyLTdjNGUiLCJzY29wZSI6ImFkbWluIiwiZXhwIjo0MTAyNDQ0ODAwfQ.\
        BwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyAhIiMkJSY";
    /// The API's bearer token (`api.token`): sent by the test's own API requests, never
    /// written by picket anywhere.
    const API_TOKEN: &str = "apiTok-7Hq2Lm9Xw4Rz8Kp3";
    /// A webhook URL's secret path segment, and a webhook's header token: sent to the
    /// webhook receiver, never written in a notification body or anywhere else.
    const HOOK_PATH: &str = "hp-4Kx9Qw2Zr7Tn";
    const HOOK_TOKEN: &str = "ht-8Vb3Nm6Lc1Jd5Fs";
    const ENV: [(&str, &str); 7] = [
        ("PICKET_SWEEP_TOKEN", TOKEN),
        ("PICKET_SWEEP_VAR", VAR),
        ("PICKET_SWEEP_BASE", BASE),
        ("PICKET_SWEEP_JWT", JWT),
        ("PICKET_SWEEP_API_TOKEN", API_TOKEN),
        ("PICKET_SWEEP_HOOK_PATH", HOOK_PATH),
        ("PICKET_SWEEP_HOOK_TOKEN", HOOK_TOKEN),
    ];

    /// The texts no output may hold a piece of. For the JWT: its payload and signature
    /// segments, which the forged token and the target's echoes carry; its header segment only
    /// names the algorithm, and the forged token's header (`{"alg":"none",…}`, re-encoded)
    /// shares its first characters by design. The payload also covers `header.payload`.
    fn secrets() -> Vec<&'static str> {
        let mut jwt = JWT.split('.');
        let (_, payload, signature) = (jwt.next(), jwt.next().unwrap(), jwt.next().unwrap());
        vec![
            TOKEN, VAR, BASE, payload, signature, API_TOKEN, HOOK_PATH, HOOK_TOKEN,
        ]
    }

    /// Everything a careless target could send back, when `reflect` is on.
    fn reflect(s: &Seen, reflect: &AtomicBool) -> axum::response::Response {
        if !reflect.load(Ordering::SeqCst) {
            return respond(200, &[], r#"{"auth": "nothing", "path": "nothing"}"#);
        }
        let auth = s
            .headers
            .get("authorization")
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .unwrap_or_default();
        let token = auth.strip_prefix("Bearer ").unwrap_or(&auth).to_string();
        let path = s.path_and_query.clone();
        let decoded = percent_decode_str(&path).decode_utf8_lossy().into_owned();
        let pct = utf8_percent_encode(&token, NON_ALPHANUMERIC).to_string();
        let b64 = base64::engine::general_purpose::STANDARD.encode(&auth);
        let headers = [
            ("x-echo", auth.clone()),
            ("x-echo-lower", auth.to_lowercase()),
            ("x-echo-upper", auth.to_uppercase()),
            ("server", token.clone()),
            ("x-echo-pct", pct.to_lowercase()),
            ("x-echo-path", path.clone()),
            ("x-echo-decoded", decoded.clone()),
            ("x-echo-b64", b64.clone()),
            // The token straddles the 200-character clip of observed values.
            ("x-long", format!("{}{token}", "x".repeat(185))),
            ("location", format!("/next?t={pct}")),
        ];
        // The token starts 26 characters after the marker: a 40-character excerpt cut first
        // and scrubbed after would keep 14 characters of it.
        let body = serde_json::json!({
            "auth": auth,
            "lower": auth.to_lowercase(),
            "path": decoded,
            "b64": b64,
            "tail": format!("MARK{}{token} and {}", "z".repeat(26), "w".repeat(300)),
        })
        .to_string();
        let mut response = respond(200, &[("content-type", "application/json")], body);
        for (name, value) in headers {
            response
                .headers_mut()
                .insert(name, axum::http::HeaderValue::from_str(&value).unwrap());
        }
        response
    }

    const HEADERS_PROBE: &str = "id: leak/headers\nname: reflected headers\nseverity: high\nhttp:\n  path: /\nchecks:\n  - header: x-echo\n    absent: true\n  - header: x-echo-lower\n    not_matches: '.'\n  - header: x-echo-upper\n    absent: true\n  - header: server\n    absent: true\n  - header: x-echo-pct\n    absent: true\n  - header: x-echo-path\n    absent: true\n  - header: x-echo-decoded\n    absent: true\n  - header: x-echo-b64\n    absent: true\n  - header: x-long\n    absent: true\n  - header: location\n    absent: true\n";
    const BODY_PROBE: &str = "id: leak/body\nname: reflected body\nseverity: high\nhttp:\n  path: /\nchecks:\n  - body: { not_contains: MARK }\n  - body: { not_matches: 'Bearer.{0,40}' }\n  - json: { pointer: /auth, equals: nothing }\n  - json: { pointer: /path, equals: nothing }\n  - not: { body: { contains: MARK } }\n";
    /// Sends the sample JWT re-encoded with `alg: none`, and quotes every echo of it.
    const JWT_PROBE: &str = "id: leak/jwt\nname: forged token\nseverity: high\nhttp:\n  path: /\n  use_target_auth: false\n  headers:\n    Authorization: \"Bearer {{vars.sample_jwt | jwt_alg_none}}\"\nchecks:\n  - header: x-echo\n    absent: true\n  - header: x-echo-upper\n    absent: true\n  - header: server\n    absent: true\n  - header: x-echo-pct\n    absent: true\n  - header: x-echo-b64\n    absent: true\n  - header: x-long\n    absent: true\n  - body: { not_contains: MARK }\n  - body: { not_matches: 'Bearer.{0,60}' }\n  - json: { pointer: /auth, equals: nothing }\n";
    const PATHS_PROBE: &str = "id: leak/paths\nname: secret in a path\nseverity: high\nhttp:\n  paths: [/, \"/v/{{vars.secret_path}}\"]\nchecks:\n  - status: 418\n";

    fn config(server: &TestServer, hooks: &Receiver, extra: &str) -> String {
        let mut notify = String::from("notify:\n  webhooks:\n");
        for format in ["json", "slack", "teams"] {
            notify.push_str(&format!(
                "    - name: sweep-{format}\n      format: {format}\n      url: \"{}/${{env:PICKET_SWEEP_HOOK_PATH}}\"\n      headers: {{ Authorization: \"Bearer ${{env:PICKET_SWEEP_HOOK_TOKEN}}\" }}\n",
                hooks.url(&format!("/{format}"))
            ));
        }
        format!(
            "library: false\nprobes: [probes/]\ntargets:\n  - name: web\n    url: \"{}/${{env:PICKET_SWEEP_BASE}}\"\n    headers:\n      Authorization: \"Bearer ${{env:PICKET_SWEEP_TOKEN}}\"\n    vars:\n      secret_path: \"${{env:PICKET_SWEEP_VAR}}\"\n      sample_jwt: \"${{env:PICKET_SWEEP_JWT}}\"\nlimits:\n  per_target_rps: 1000\napi: {{ listen: \"127.0.0.1:0\", token: \"${{env:PICKET_SWEEP_API_TOKEN}}\" }}\n{notify}{extra}",
            server.url()
        )
    }

    /// Every spelling of `secret` the test looks for, computed here independently of picket.
    fn spellings(secret: &str) -> Vec<String> {
        let mut out = vec![
            secret.to_string(),
            utf8_percent_encode(secret, NON_ALPHANUMERIC).to_string(),
            url::Url::parse(&format!("http://127.0.0.1/{secret}"))
                .unwrap()
                .path()[1..]
                .to_string(),
            serde_json::to_string(secret)
                .unwrap()
                .trim_matches('"')
                .to_string(),
            {
                let debug = format!("{secret:?}");
                debug[1..debug.len() - 1].to_string()
            },
        ];
        for prefix in ["", "a", "ab", "Bearer "] {
            let encoded =
                base64::engine::general_purpose::STANDARD.encode(format!("{prefix}{secret}"));
            // Only the characters that the secret's own bytes decide.
            let first = (prefix.len() * 8).div_ceil(6);
            let last = ((prefix.len() + secret.len()) * 8) / 6;
            out.push(encoded[first..last].to_string());
        }
        out
    }

    /// Fails when any 8-character window of any spelling of any secret is in `text`,
    /// ignoring ASCII case.
    fn assert_clean(channel: &str, text: &str) {
        let haystack = text.to_ascii_lowercase();
        for secret in secrets() {
            for spelling in spellings(secret) {
                let chars: Vec<char> = spelling.to_ascii_lowercase().chars().collect();
                for window in chars.windows(8) {
                    let piece: String = window.iter().collect();
                    if let Some(at) = haystack.find(&piece) {
                        let context: String = text
                            .chars()
                            .skip(text[..at].chars().count().saturating_sub(80))
                            .take(160)
                            .collect();
                        panic!(
                            "{channel} leaked {piece:?} of {secret:?} (as {spelling:?}):\n…{context}…"
                        );
                    }
                }
            }
        }
    }

    /// The target really got every secret: the test is not vacuous.
    fn assert_sent(server: &TestServer) {
        let seen = server.seen();
        assert!(seen.iter().any(|s| {
            s.headers
                .get("authorization")
                .is_some_and(|v| v.as_bytes() == format!("Bearer {TOKEN}").as_bytes())
        }));
        let paths: Vec<String> = seen
            .iter()
            .map(|s| {
                percent_decode_str(&s.path_and_query)
                    .decode_utf8_lossy()
                    .into_owned()
            })
            .collect();
        assert!(
            paths.iter().any(|p| p.starts_with(&format!("/{BASE}/"))),
            "{paths:?}"
        );
        assert!(
            paths.iter().any(|p| p.ends_with(&format!("/v/{VAR}"))),
            "{paths:?}"
        );
        // The forged token: a new header, the sample's payload, no signature.
        let payload = JWT.split('.').nth(1).unwrap();
        assert!(seen.iter().any(|s| {
            s.headers.get("authorization").is_some_and(|v| {
                let v = v.to_str().unwrap();
                v.starts_with("Bearer ") && v.ends_with(&format!(".{payload}.")) && !v.contains(JWT)
            })
        }));
    }

    fn probes() -> Vec<(&'static str, &'static str)> {
        vec![
            ("probes/headers.yaml", HEADERS_PROBE),
            ("probes/body.yaml", BODY_PROBE),
            ("probes/paths.yaml", PATHS_PROBE),
            ("probes/jwt.yaml", JWT_PROBE),
        ]
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn check_list_and_validate_leak_no_secret_in_any_form() {
        let on = Arc::new(AtomicBool::new(true));
        let flag = on.clone();
        let server = TestServer::start(move |s| reflect(&s, &flag)).await;
        let mut files = probes();
        let hooks = Receiver::start(&[]).await;
        let cfg = config(&server, &hooks, "");
        files.push(("picket.yaml", &cfg));
        let ws = workspace(&files);
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
                &ENV,
            )
            .await;
            let (stdout, stderr) = texts(&out);
            assert_eq!(out.status.code(), Some(1), "{format}: {stdout}{stderr}");
            assert!(stdout.contains("redacted"), "{format}: {stdout}");
            // Trace logs include other crates' lines (hyper, reqwest).
            assert!(
                stderr.contains("hyper") || stderr.contains("reqwest"),
                "{stderr}"
            );
            if format == "text" {
                // The forged token was echoed and quoted: its new header shows, its payload
                // (the sample's) does not.
                let forged_header = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0";
                assert!(
                    stdout.contains(&format!("{forged_header}.<redacted>.")),
                    "{stdout}"
                );
            }
            assert_clean(&format!("check --format {format} (stdout)"), &stdout);
            assert_clean(&format!("check --format {format} (stderr)"), &stderr);
        }
        for args in [
            &["--log", "trace", "list", "-c", "picket.yaml"][..],
            &["--log", "trace", "validate", "-c", "picket.yaml"][..],
        ] {
            let out = run_picket(ws.path(), args, &ENV).await;
            let (stdout, stderr) = texts(&out);
            assert_eq!(out.status.code(), Some(0), "{args:?}: {stdout}{stderr}");
            assert_clean(&format!("{args:?}"), &format!("{stdout}{stderr}"));
        }
        assert_sent(&server);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_service_leaks_no_secret_in_any_form() {
        let receiver = crate::otlp::Receiver::grpc().await;
        let on = Arc::new(AtomicBool::new(false));
        let flag = on.clone();
        let server = TestServer::start(move |s| reflect(&s, &flag)).await;
        let mut files = probes();
        let hooks = Receiver::start(&[]).await;
        let cfg = config(
            &server,
            &hooks,
            &format!(
                "defaults:\n  schedule: {{ every: 1s, jitter: 0% }}\n  confirm: 1\nstate: {{ path: state }}\ntelemetry:\n  otlp: {{ endpoint: \"{}\", protocol: grpc }}\n  export_interval: 300ms\n",
                receiver.endpoint()
            ),
        );
        files.push(("picket.yaml", &cfg));
        let ws = workspace(&files);
        let mut env = ENV.to_vec();
        env.push(("RUST_LOG", "trace"));
        let service = crate::service::spawn_service(ws.path(), &env);
        let long = Duration::from_secs(30);
        let api = service.api;
        let states = || async move {
            crate::service::get_rows_with_token(api, "/api/v1/series", Some(API_TOKEN))
                .await
                .into_iter()
                .map(|r| (r.probe, r.state))
                .collect::<std::collections::BTreeMap<_, _>>()
        };
        // Passing first, then the target starts reflecting: the header and body probes regress.
        let start = std::time::Instant::now();
        use picket::state::State;
        loop {
            let s = states().await;
            if s.get("leak/headers") == Some(&State::Passing)
                && s.get("leak/body") == Some(&State::Passing)
            {
                break;
            }
            assert!(start.elapsed() < long, "never passing");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        on.store(true, Ordering::SeqCst);
        loop {
            let s = states().await;
            if s.get("leak/headers") == Some(&State::Regressed)
                && s.get("leak/body") == Some(&State::Regressed)
            {
                break;
            }
            assert!(start.elapsed() < long * 2, "never regressed: {s:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(
            receiver
                .wait_until(
                    |r| r
                        .logs()
                        .iter()
                        .filter(|l| l.event_name == "picket.regression")
                        .count()
                        >= 2
                        && r.spans().len() >= 6,
                    long
                )
                .await,
            "regression records and spans arrive"
        );
        // Each regression went to each webhook, at its secret path, with its secret header.
        for format in ["json", "slack", "teams"] {
            hooks.wait_for(&format!("/{format}/{HOOK_PATH}"), 2).await;
        }
        let mut channels = Vec::new();
        for route in [
            "/api/v1/series",
            "/api/v1/regressions",
            "/",
            "/?severity=high",
        ] {
            let body = reqwest::Client::new()
                .get(format!("http://{api}{route}"))
                .bearer_auth(API_TOKEN)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            assert!(body.contains("redacted"), "{route}: {body}");
            channels.push((format!("API {route}"), body));
        }
        // Every answer about the token itself: the refusals, and the browser's way in (a
        // redirect setting the session cookie), headers included.
        let no_redirects = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        for (route, bearer) in [
            (format!("/?token={API_TOKEN}&severity=high"), None),
            ("/api/v1/series".to_string(), None),
            ("/api/v1/series".to_string(), Some("apiTok-7Hq2Lm9Xw4Rz8Kp")),
            ("/?token=apiTok-7Hq2Lm9Xw4Rz8Kp3x".to_string(), None),
        ] {
            let mut request = no_redirects.get(format!("http://{api}{route}"));
            if let Some(token) = bearer {
                request = request.bearer_auth(token);
            }
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            assert!(status == 303 || status == 401, "{route}: {status}");
            let headers = format!("{:?}", response.headers());
            let body = response.text().await.unwrap();
            channels.push((
                format!("API {route} ({status})"),
                format!("{headers}\n{body}"),
            ));
        }
        let log = service.log.clone();
        assert_eq!(service.terminate().await.code(), Some(0));
        channels.push(("OTLP".into(), receiver.dump()));
        channels.push(("stderr".into(), log.lock().unwrap().clone()));
        let mut store = Vec::new();
        for entry in std::fs::read_dir(ws.path().join("state")).unwrap() {
            store.extend(std::fs::read(entry.unwrap().path()).unwrap());
        }
        assert!(!store.is_empty());
        channels.push((
            "state store".into(),
            String::from_utf8_lossy(&store).into_owned(),
        ));
        let posts = hooks.posts();
        assert!(posts.len() >= 6, "{posts:?}");
        for post in &posts {
            assert_eq!(
                post.headers["authorization"].to_str().unwrap(),
                format!("Bearer {HOOK_TOKEN}")
            );
            assert!(post.body.contains("redacted"), "{}", post.body);
            channels.push((format!("webhook {}", &post.path[..6]), post.body.clone()));
        }
        for (channel, text) in &channels {
            assert_clean(channel, text);
        }
        assert_sent(&server);
    }
}

#[tokio::test]
async fn secrets_shorter_than_four_characters_are_refused_at_load() {
    let ws = workspace(&[
        (
            "picket.yaml",
            "probes: [probes/]\ntargets:\n  - name: web\n    url: http://127.0.0.1:9\n    headers:\n      X-Key: \"k-${env:PICKET_TEST_SHORT}\"\n",
        ),
        ("probes/p.yaml", PROBE),
    ]);
    let out = run_picket(
        ws.path(),
        &["validate", "-c", "picket.yaml"],
        &[("PICKET_TEST_SHORT", "abc")],
    )
    .await;
    let (stdout, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(2), "{stdout}{stderr}");
    assert!(
        stderr.contains(
            "picket.yaml:6:14: environment variable `PICKET_TEST_SHORT` holds 3 character(s)"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("hint:"), "{stderr}");
}

/// Other crates' log lines (hyper, reqwest) go through the same scrubbing writer: a host
/// taken from the environment does not appear in them at `--log trace`.
#[tokio::test]
async fn dependency_log_lines_are_scrubbed_too() {
    let server = echo_server().await;
    let port = server.addr.port();
    let ws = workspace(&[
        (
            "picket.yaml",
            &format!(
                "library: false\nprobes: [probes/]\ntargets:\n  - name: web\n    url: \"http://${{env:PICKET_TEST_HOST}}:{port}/\"\n"
            ),
        ),
        ("probes/p.yaml", PROBE),
    ]);
    let out = run_picket(
        ws.path(),
        &["--log", "trace", "check", "-c", "picket.yaml"],
        &[("PICKET_TEST_HOST", "127.0.0.1")],
    )
    .await;
    let (stdout, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(!server.seen().is_empty(), "the request was sent");
    assert!(
        stderr
            .lines()
            .any(|l| l.contains("hyper") || l.contains("reqwest")),
        "{stderr}"
    );
    assert!(!stderr.contains("127.0.0.1"), "{stderr}");
    assert!(!stdout.contains("127.0.0.1"), "{stdout}");
}
