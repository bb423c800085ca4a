use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_json::Value;

use super::*;
use crate::state::{SeriesInfo, SeriesState};

fn info() -> Arc<SeriesInfo> {
    let file = Path::new("test.yaml");
    let yaml = "id: headers/nosniff\nname: MIME sniffing <b>is</b> disabled\nseverity: low\n\
                remediation: Send X-Content-Type-Options <!channel>.\n\
                references: [https://example.org/a, \"javascript:alert(1)\"]\n\
                http:\n  path: /\nchecks:\n  - status: 200\n";
    let raw = crate::yaml::parse_yaml(file, yaml).expect("probe parses");
    let mut diags = crate::diag::Diagnostics::default();
    let probe =
        crate::probe::compile(file, raw, &Default::default(), &mut diags).expect("probe compiles");
    Arc::new(SeriesInfo {
        probe: Arc::new(probe),
        target: "web".into(),
        tags: vec!["public".into()],
        acceptance: None,
    })
}

fn finding(observed: &str, severity: Option<Severity>) -> Finding {
    Finding {
        check: "header x-content-type-options equals \"nosniff\"".into(),
        expected: "nosniff".into(),
        observed: observed.into(),
        detail: Some("technical".into()),
        severity,
    }
}

const SINCE: Duration = Duration::from_secs(1_795_000_000);

fn change(transition: Transition, findings: Vec<Finding>) -> Change {
    let (state, previous) = match transition {
        Transition::Regression => (State::Regressed, State::Passing),
        Transition::Recovery => (State::Passing, State::Regressed),
    };
    Change {
        key: "headers/nosniff@web".into(),
        info: info(),
        state: SeriesState {
            state,
            since: Some(SystemTime::UNIX_EPOCH + SINCE),
            findings,
            ..SeriesState::default()
        },
        transition: Some(transition),
        previous,
        previous_severity: Severity::High,
        started: SystemTime::UNIX_EPOCH + SINCE,
        notice: None,
    }
}

fn origin() -> Origin {
    Origin {
        instance: "0b5e4c9a-0000-4000-8000-000000000001".into(),
        vantage: Some("eu-west".into()),
    }
}

fn rendered(format: WebhookFormat, event: &Event) -> Value {
    serde_json::from_str(&render(format, event, &Redactor::default())).expect("a body is JSON")
}

#[test]
fn an_event_carries_scrubbed_clipped_findings_and_at_most_twenty() {
    let mut redactor = Redactor::default();
    redactor.add("hunter2-secret-value");
    let long = format!("Bearer hunter2-secret-value {}", "x".repeat(400));
    let mut findings = vec![finding(&long, None)];
    findings.extend((0..30).map(|i| finding(&format!("v{i}"), None)));
    let event = Event::of(
        &change(Transition::Regression, findings),
        &origin(),
        &redactor,
    )
    .unwrap();
    assert_eq!(event.findings.len(), MAX_FINDINGS);
    assert_eq!(event.findings_count, 31);
    let first = &event.findings[0];
    assert!(
        first.observed.starts_with("Bearer <redacted> xxx"),
        "{first:?}"
    );
    assert!(first.observed.chars().count() <= 201, "clipped: {first:?}");
    assert!(first.detail.is_none(), "no technical detail leaves");
    assert_eq!(
        event.severity,
        Severity::Low,
        "the probe's, no finding grades it"
    );
    assert_eq!(
        event.id(),
        "picket.regression:headers/nosniff@web:2026-11-18T11:06:40Z"
    );
    // Not a transition: nothing to send.
    let mut plain = change(Transition::Regression, vec![]);
    plain.transition = None;
    assert!(Event::of(&plain, &origin(), &redactor).is_none());
}

#[test]
fn a_recovery_counts_at_the_severity_of_what_recovered() {
    let graded = change(
        Transition::Regression,
        vec![finding("absent", Some(Severity::Critical))],
    );
    let redactor = Redactor::default();
    let regression = Event::of(&graded, &origin(), &redactor).unwrap();
    assert_eq!(regression.severity, Severity::Critical);
    let recovery = Event::of(&change(Transition::Recovery, vec![]), &origin(), &redactor).unwrap();
    assert_eq!(recovery.severity, Severity::High, "previous_severity");
    assert!(recovery.findings.is_empty());
}

#[test]
fn the_json_body_has_the_documented_fields() {
    let event = Event::of(
        &change(Transition::Regression, vec![finding("absent", None)]),
        &origin(),
        &Redactor::default(),
    )
    .unwrap();
    let body = rendered(WebhookFormat::Json, &event);
    assert_eq!(body["event"], "picket.regression");
    assert_eq!(body["probe"]["id"], "headers/nosniff");
    assert_eq!(body["probe"]["name"], "MIME sniffing <b>is</b> disabled");
    assert_eq!(body["probe"]["severity"], "low");
    assert_eq!(body["target"]["name"], "web");
    assert_eq!(body["target"]["tags"][0], "public");
    assert_eq!(body["state"], "regressed");
    assert_eq!(body["previous_state"], "passing");
    assert_eq!(body["since"], "2026-11-18T11:06:40Z");
    assert_eq!(
        body["findings"][0]["check"],
        "header x-content-type-options equals \"nosniff\""
    );
    assert_eq!(body["findings"][0]["expected"], "nosniff");
    assert_eq!(body["findings"][0]["observed"], "absent");
    assert!(body["findings"][0].get("detail").is_none());
    assert_eq!(body["findings_count"], 1);
    assert_eq!(
        body["remediation"],
        "Send X-Content-Type-Options <!channel>."
    );
    assert_eq!(body["references"][0], "https://example.org/a");
    assert_eq!(body["picket"]["vantage"], "eu-west");
    assert_eq!(
        body["picket"]["instance"],
        "0b5e4c9a-0000-4000-8000-000000000001"
    );
    assert_eq!(
        body["summary"],
        "REGRESSION headers/nosniff on web (low): MIME sniffing <b>is</b> disabled"
    );
}

#[test]
fn slack_text_cannot_mention_or_link_and_blocks_fit_slack_limits() {
    let hostile = format!(
        "<!channel> <https://evil.example|click> & {}",
        "y".repeat(180)
    );
    let findings: Vec<Finding> = (0..MAX_FINDINGS).map(|_| finding(&hostile, None)).collect();
    let event = Event::of(
        &change(Transition::Regression, findings),
        &origin(),
        &Redactor::default(),
    )
    .unwrap();
    let body = rendered(WebhookFormat::Slack, &event);
    assert!(
        body["text"]
            .as_str()
            .unwrap()
            .starts_with(":rotating_light: Security regression: headers/nosniff on web (low)")
    );
    let blocks = body["blocks"].as_array().unwrap();
    assert_eq!(blocks[0]["type"], "header");
    let all = serde_json::to_string(blocks).unwrap();
    assert!(
        !all.contains("<!channel>") && !all.contains("<https://evil"),
        "{all}"
    );
    assert!(all.contains("&lt;!channel&gt;"), "{all}");
    assert!(all.contains("<https://example.org/a|reference>"), "{all}");
    assert!(!all.contains("javascript:"), "only http(s) links: {all}");
    for block in blocks {
        if let Some(text) = block["text"]["text"].as_str() {
            assert!(text.chars().count() <= 3000, "{}", text.len());
        }
    }
    let recovery = Event::of(
        &change(Transition::Recovery, vec![]),
        &origin(),
        &Redactor::default(),
    )
    .unwrap();
    let body = rendered(WebhookFormat::Slack, &recovery);
    assert!(
        body["text"]
            .as_str()
            .unwrap()
            .starts_with(":white_check_mark: Security recovery"),
        "{body}"
    );
}

#[test]
fn teams_gets_an_adaptive_card_with_target_text_outside_markdown() {
    let event = Event::of(
        &change(
            Transition::Regression,
            vec![finding("[click](https://evil.example)", None)],
        ),
        &origin(),
        &Redactor::default(),
    )
    .unwrap();
    let body = rendered(WebhookFormat::Teams, &event);
    assert_eq!(body["type"], "message");
    let attachment = &body["attachments"][0];
    assert_eq!(
        attachment["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    let card = &attachment["content"];
    assert_eq!(card["type"], "AdaptiveCard");
    assert_eq!(card["version"], "1.4");
    let blocks = card["body"].as_array().unwrap();
    for block in blocks {
        if block["type"] == "TextBlock" {
            assert!(!block["text"].as_str().unwrap().contains("evil"), "{block}");
        }
    }
    let runs = serde_json::to_string(blocks).unwrap();
    assert!(
        runs.contains("observed [click](https://evil.example)"),
        "{runs}"
    );
    let actions = card["actions"].as_array().unwrap();
    assert_eq!(actions.len(), 1, "javascript: is not a link: {actions:?}");
    assert_eq!(actions[0]["url"], "https://example.org/a");
}

#[test]
fn clipping_keeps_at_most_max_characters() {
    assert_eq!(clip("abc", 3), "abc");
    assert_eq!(clip("abcd", 3), "ab…");
    assert_eq!(clip("ééééé", 4), "ééé…");
    assert_eq!(clip("", 3), "");
}

#[test]
fn retry_after_is_read_in_seconds() {
    let mut headers = http::HeaderMap::new();
    assert_eq!(retry_after(&headers), None);
    headers.insert(http::header::RETRY_AFTER, "7".parse().unwrap());
    assert_eq!(retry_after(&headers), Some(Duration::from_secs(7)));
    headers.insert(
        http::header::RETRY_AFTER,
        "Wed, 21 Oct 2026 07:28:00 GMT".parse().unwrap(),
    );
    assert_eq!(retry_after(&headers), None);
}
