//! Control characters from targets and probe files never reach a terminal raw: `check` in
//! every format, `list` and `validate` show them escaped, and the machine formats stay valid.

use std::io::{Read as _, Write as _};
use std::net::SocketAddr;

use axum::http::HeaderValue;

use crate::helpers::{TestServer, respond, run_picket, texts, workspace};

/// ESC (CSI and OSC sequences), C1 CSI and OSC, BEL, DEL, CR: what a hostile target sends.
const HOSTILE: &str = "red\u{1b}[31m\u{1b}]0;pwned\u{7} \u{9b}2J \u{9d}8;;http://x\u{9c} \u{7f}\r!";

/// Whether a character must never appear raw on a terminal (mirrors `picket::term`, on
/// purpose written out again here).
fn unsafe_control(c: char) -> bool {
    c.is_control() && c != '\n' && c != '\t'
}

fn assert_clean(what: &str, bytes: &[u8]) {
    let text = std::str::from_utf8(bytes).unwrap_or_else(|e| panic!("{what}: not UTF-8: {e}"));
    if let Some((at, c)) = text.char_indices().find(|(_, c)| unsafe_control(*c)) {
        panic!(
            "{what}: raw U+{:04X} at byte {at}: {:?}",
            u32::from(c),
            &text[at.saturating_sub(60)..(at + 60).min(text.len())]
        );
    }
}

/// A server that writes one fixed HTTP response, byte for byte, to every connection: here
/// with an ESC inside a header value, which no HTTP library would let a test server send.
fn raw_server(response: &'static [u8]) -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().map_while(Result::ok) {
            let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(5)));
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(response);
        }
    });
    addr
}

const PROBE: &str = r#"id: hostile/quote
name: "hostile \e[2J name \x9b31m \u009D0;t\a"
severity: high
http:
  path: /
checks:
  - header: x-evil
    absent: true
  - header: x-evil
    equals: safe
  - body: { not_contains: "red" }
  - body: { not_matches: 'pwned' }
  - body: { contains: "nothing like this" }
"#;

const JSON_PROBE: &str = "id: hostile/json\nname: json\nseverity: high\nhttp:\n  path: /json\nchecks:\n  - json: { pointer: /x, equals: safe }\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_characters_from_targets_and_probes_are_shown_escaped() {
    let server = TestServer::start(|seen| {
        if seen.path_and_query == "/json" {
            let body = serde_json::json!({ "x": HOSTILE }).to_string();
            // serde escapes C0 but writes C1 raw; make sure the body carries them raw.
            assert!(body.contains('\u{9b}'));
            return respond(200, &[("content-type", "application/json")], body);
        }
        let mut r = respond(200, &[("content-type", "text/plain")], HOSTILE);
        r.headers_mut().insert(
            "x-evil",
            HeaderValue::from_bytes("a\u{9b}31m b\u{9d}0;t\u{9c} c\u{85}".as_bytes()).unwrap(),
        );
        r
    })
    .await;
    let raw = raw_server(
        b"HTTP/1.1 200 OK\r\nX-Evil: a\x1b[31mb\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
    );
    let ws = workspace(&[
        ("probes/quote.yaml", PROBE),
        ("probes/json.yaml", JSON_PROBE),
        (
            "picket.yaml",
            &format!(
                "library: false\nprobes: [probes/]\ntargets:\n  - name: web\n    url: {}\n  - name: raw\n    url: http://{raw}\n\
                 limits:\n  per_target_rps: 1000\n",
                server.url()
            ),
        ),
    ]);

    // Log lines quote findings too (at debug), in both log formats.
    for log_format in ["text", "json"] {
        let out = run_picket(
            ws.path(),
            &[
                "--log",
                "debug",
                "--log-format",
                log_format,
                "check",
                "-c",
                "picket.yaml",
                "--no-progress",
            ],
            &[],
        )
        .await;
        let stderr = texts(&out).1;
        assert!(stderr.contains("finding"), "{log_format}: {stderr}");
        assert_clean(&format!("--log-format {log_format} log lines"), &out.stderr);
    }

    for format in ["text", "json", "sarif", "junit"] {
        let out = run_picket(
            ws.path(),
            &[
                "check",
                "-c",
                "picket.yaml",
                "--format",
                format,
                "--no-progress",
            ],
            &[],
        )
        .await;
        let (stdout, stderr) = texts(&out);
        assert_eq!(out.status.code(), Some(1), "{format}: {stdout}{stderr}");
        assert_clean(&format!("check --format {format} stdout"), &out.stdout);
        assert_clean(&format!("check --format {format} stderr"), &out.stderr);
        match format {
            "text" => {
                // What the target sent is shown, escaped, not dropped.
                for escaped in ["\\u{9b}2J", "\\u{9d}0;t", "\\u{85}", "\\u{1b}"] {
                    assert!(stdout.contains(escaped), "{escaped} missing:\n{stdout}");
                }
            }
            "json" | "sarif" => {
                let doc: serde_json::Value = serde_json::from_str(&stdout)
                    .unwrap_or_else(|e| panic!("{format} is not JSON: {e}\n{stdout}"));
                // The data is intact: the escapes are JSON's, decoding gives the characters.
                let decoded = doc.to_string();
                assert!(decoded.contains('\u{9b}'), "{format}: {stdout}");
            }
            _ => {
                well_formed_xml(&stdout);
                assert!(stdout.contains("\\u{9b}"), "{stdout}");
            }
        }
    }

    let out = run_picket(ws.path(), &["list", "-c", "picket.yaml"], &[]).await;
    assert_eq!(out.status.code(), Some(0), "{:?}", texts(&out));
    assert_clean("list stdout", &out.stdout);
    assert_clean("list stderr", &out.stderr);
    assert!(texts(&out).0.contains("hostile \\u{1b}[2J name \\u{9b}31m"));

    let out = run_picket(ws.path(), &["validate", "-c", "picket.yaml"], &[]).await;
    assert_eq!(out.status.code(), Some(0), "{:?}", texts(&out));
    assert_clean("validate stdout", &out.stdout);

    // An error message that quotes a hostile value.
    let bad = workspace(&[(
        "probes/bad.yaml",
        "id: hostile/bad\nname: bad\nseverity: \"high\\e]0;t\\a\\x9b2J\"\nhttp:\n  path: /\nchecks:\n  - status: 200\n",
    )]);
    let out = run_picket(bad.path(), &["validate", "probes/bad.yaml"], &[]).await;
    assert_eq!(out.status.code(), Some(2), "{:?}", texts(&out));
    assert_clean("validate stderr", &out.stderr);
    assert!(
        texts(&out).1.contains("\\u{1b}]0;t"),
        "the value is quoted, escaped: {}",
        texts(&out).1
    );
}

/// A minimal XML 1.0 well-formedness check: only characters XML allows, entity and character
/// references that exist, quoted attributes, and balanced tags.
fn well_formed_xml(doc: &str) {
    let allowed = |c: char| {
        matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}')
            || c >= '\u{10000}'
    };
    if let Some(c) = doc.chars().find(|c| !allowed(*c)) {
        panic!("XML holds U+{:04X}:\n{doc}", u32::from(c));
    }
    let body = doc
        .strip_prefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>")
        .expect("XML declaration");
    let mut open: Vec<String> = Vec::new();
    let mut rest = body;
    while let Some(lt) = rest.find('<') {
        check_text(&rest[..lt], doc);
        let gt = rest[lt..].find('>').expect("unclosed tag") + lt;
        let tag = &rest[lt + 1..gt];
        if let Some(name) = tag.strip_prefix('/') {
            assert_eq!(open.pop().as_deref(), Some(name), "unbalanced </{name}>");
        } else {
            let self_closing = tag.ends_with('/');
            let tag = tag.trim_end_matches('/');
            let name_end = tag.find(char::is_whitespace).unwrap_or(tag.len());
            let (name, mut attrs) = tag.split_at(name_end);
            assert!(
                !name.is_empty() && name.chars().all(|c| c.is_alphanumeric() || c == '_'),
                "bad tag name {name:?}"
            );
            loop {
                attrs = attrs.trim_start();
                if attrs.is_empty() {
                    break;
                }
                let (key, value) = attrs.split_once("=\"").expect("attribute =\"");
                assert!(
                    key.chars().all(|c| c.is_alphanumeric() || c == '_'),
                    "{key:?}"
                );
                let end = value.find('"').expect("closing quote");
                check_text(&value[..end], doc);
                assert!(!value[..end].contains('<'));
                attrs = &value[end + 1..];
            }
            if !self_closing {
                open.push(name.to_string());
            }
        }
        rest = &rest[gt + 1..];
    }
    check_text(rest, doc);
    assert!(open.is_empty(), "unclosed {open:?}");
}

fn check_text(text: &str, doc: &str) {
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        let end = rest[amp..].find(';').expect("unterminated reference") + amp;
        let name = &rest[amp + 1..end];
        let ok = matches!(name, "amp" | "lt" | "gt" | "quot" | "apos")
            || name
                .strip_prefix("#x")
                .map(|h| u32::from_str_radix(h, 16))
                .or_else(|| name.strip_prefix('#').map(str::parse))
                .is_some_and(|n| n.is_ok_and(|n| n >= 0x20 || matches!(n, 9 | 10 | 13)));
        assert!(ok, "bad reference &{name}; in:\n{doc}");
        rest = &rest[end + 1..];
    }
}
