//! `format: slack`: a Slack incoming-webhook message, `text` (the notification line and the
//! fallback) plus Block Kit `blocks`.
//!
//! Slack's `mrkdwn` turns `<…>` into links and mentions (`<!channel>`), so every text that
//! comes from a probe or a target has `&`, `<` and `>` escaped as Slack asks; a finding
//! cannot ping a channel or hide a link. Block limits are kept: a header of at most 150
//! characters, sections of at most 3000.

use serde_json::{Value, json};

use super::{Event, clip};
use crate::state::Transition;
use crate::units::rfc3339;

/// Slack's limit on a header block's text.
const HEADER_CHARS: usize = 150;
/// Slack's limit on a section's text.
const SECTION_CHARS: usize = 3000;

/// Escapes text for `mrkdwn`.
fn esc(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The body of `event`.
pub(super) fn body(event: &Event) -> Value {
    let (icon, word) = match event.transition {
        Transition::Regression => (":rotating_light:", "Security regression"),
        Transition::Recovery => (":white_check_mark:", "Security recovery"),
    };
    let text = format!(
        "{icon} {word}: {} on {} ({})",
        esc(&event.probe_id),
        esc(&event.target),
        event.severity
    );
    let mut blocks = vec![
        json!({
            "type": "header",
            "text": {
                "type": "plain_text",
                "text": clip(&format!("{word}: {}", event.probe_name), HEADER_CHARS),
            },
        }),
        json!({
            "type": "section",
            "fields": [
                field("Probe", &format!("`{}`", esc(&event.probe_id))),
                field("Target", &esc(&event.target)),
                field("Severity", event.severity.as_str()),
                field(
                    "State",
                    &format!("{} → {}", event.previous.as_str(), event.state.as_str()),
                ),
                field("Since", &rfc3339(event.since)),
            ],
        }),
    ];
    if !event.findings.is_empty() {
        let mut list = String::from("*Findings*");
        for f in &event.findings {
            list.push_str(&format!(
                "\n• *{}*: expected {}, observed {}",
                esc(&f.check),
                esc(&f.expected),
                esc(&f.observed)
            ));
        }
        if event.findings_count > event.findings.len() {
            list.push_str(&format!(
                "\n… and {} more",
                event.findings_count - event.findings.len()
            ));
        }
        blocks.push(section(&list));
    }
    if let Some(remediation) = &event.remediation
        && event.transition == Transition::Regression
    {
        blocks.push(section(&format!("*Remediation*\n{}", esc(remediation))));
    }
    let mut context = vec![format!("picket {}", esc(&event.origin.instance))];
    if let Some(vantage) = &event.origin.vantage {
        context.push(format!("vantage {}", esc(vantage)));
    }
    for reference in event.references.iter().filter(|r| is_link(r)).take(3) {
        context.push(format!("<{}|reference>", esc(reference)));
    }
    blocks.push(json!({
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": clip(&context.join(" · "), SECTION_CHARS)}],
    }));
    json!({ "text": text, "blocks": blocks })
}

fn field(name: &str, value: &str) -> Value {
    json!({"type": "mrkdwn", "text": clip(&format!("*{name}*\n{value}"), 2000)})
}

fn section(text: &str) -> Value {
    json!({"type": "section", "text": {"type": "mrkdwn", "text": clip(text, SECTION_CHARS)}})
}

/// Only plain http(s) references become links, and none whose text could end the link early.
fn is_link(reference: &str) -> bool {
    (reference.starts_with("https://") || reference.starts_with("http://"))
        && !reference.contains(['|', '<', '>', ' '])
}
