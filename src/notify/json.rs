//! `format: json`: picket's own document, for receivers of your own (an incident tool, a
//! queue, a script). Its fields are documented in the README and stable.

use serde_json::{Value, json};

use super::Event;
use crate::units::rfc3339;

/// The body of `event`.
pub(super) fn body(event: &Event) -> Value {
    json!({
        "event": event.name(),
        "id": event.id(),
        "summary": event.summary(),
        "probe": {
            "id": event.probe_id,
            "name": event.probe_name,
            "severity": event.severity,
        },
        "target": {
            "name": event.target,
            "tags": event.tags,
        },
        "state": event.state.as_str(),
        "previous_state": event.previous.as_str(),
        "since": rfc3339(event.since),
        "findings": event.findings,
        "findings_count": event.findings_count,
        "remediation": event.remediation,
        "references": event.references,
        "picket": {
            "instance": event.origin.instance,
            "vantage": event.origin.vantage,
            "version": env!("CARGO_PKG_VERSION"),
        },
    })
}
