//! `format: teams`: a Microsoft Teams message holding an Adaptive Card (version 1.4), the
//! body both Teams Workflows ("post to a channel when a webhook request is received") and the
//! older incoming webhooks accept.
//!
//! `TextBlock` texts are Markdown in Teams, so only fixed words go in them; everything from a
//! probe or a target goes in `TextRun`s of a `RichTextBlock`, which are shown as written.

use serde_json::{Value, json};

use super::Event;
use crate::state::Transition;
use crate::units::rfc3339;

/// The body of `event`.
pub(super) fn body(event: &Event) -> Value {
    let (title, color) = match event.transition {
        Transition::Regression => ("Security regression", "Attention"),
        Transition::Recovery => ("Security recovery", "Good"),
    };
    let mut body = vec![
        json!({"type": "TextBlock", "text": title, "weight": "Bolder", "size": "Medium",
               "color": color, "wrap": true}),
        runs(&[&event.probe_name]),
        json!({"type": "FactSet", "facts": [
            fact("Probe", &event.probe_id),
            fact("Target", &event.target),
            fact("Severity", event.severity.as_str()),
            fact("State", &format!("{} → {}", event.previous.as_str(), event.state.as_str())),
            fact("Since", &rfc3339(event.since)),
        ]}),
    ];
    if !event.findings.is_empty() {
        body.push(heading("Findings"));
        for f in &event.findings {
            body.push(runs(&[&format!(
                "{}: expected {}, observed {}",
                f.check, f.expected, f.observed
            )]));
        }
        if event.findings_count > event.findings.len() {
            body.push(runs(&[&format!(
                "… and {} more",
                event.findings_count - event.findings.len()
            )]));
        }
    }
    if let Some(remediation) = &event.remediation
        && event.transition == Transition::Regression
    {
        body.push(heading("Remediation"));
        body.push(runs(&[remediation]));
    }
    let mut origin = format!("picket {}", event.origin.instance);
    if let Some(vantage) = &event.origin.vantage {
        origin.push_str(&format!(" · vantage {vantage}"));
    }
    body.push(json!({"type": "RichTextBlock", "inlines": [
        {"type": "TextRun", "text": origin, "isSubtle": true, "size": "Small"}
    ]}));
    let actions: Vec<Value> = event
        .references
        .iter()
        .filter(|r| r.starts_with("https://") || r.starts_with("http://"))
        .take(3)
        .map(|r| json!({"type": "Action.OpenUrl", "title": "Reference", "url": r}))
        .collect();
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "msteams": {"width": "Full"},
                "body": body,
                "actions": actions,
            },
        }],
    })
}

fn heading(text: &str) -> Value {
    json!({"type": "TextBlock", "text": text, "weight": "Bolder", "wrap": true})
}

/// Text shown as written (no Markdown).
fn runs(texts: &[&str]) -> Value {
    let inlines: Vec<Value> = texts
        .iter()
        .map(|t| json!({"type": "TextRun", "text": t}))
        .collect();
    json!({"type": "RichTextBlock", "inlines": inlines})
}

fn fact(title: &str, value: &str) -> Value {
    json!({"title": title, "value": value})
}
