//! Redaction at the OTLP boundary: secrets scrubbed from spans and log records, and event
//! names that are not picket's own left out of log records.

use std::borrow::Cow;

use opentelemetry::logs::{AnyValue, LogRecord as _, Logger as _, LoggerProvider as _};
use opentelemetry::{Key, KeyValue};
use opentelemetry_sdk::logs::{SdkLogRecord, SdkLogger, SdkLoggerProvider};
use opentelemetry_sdk::trace::SpanData;

use super::scope;
use crate::redact::Redactor;

/// Scrubs secrets from a span's name, attributes, events and status, at the OTLP boundary.
pub(super) fn scrub_span(span: &mut SpanData, redactor: &Redactor) {
    if redactor.is_empty() {
        return;
    }
    if let Cow::Owned(clean) = redactor.scrub(&span.name) {
        span.name = Cow::Owned(clean);
    }
    scrub_key_values(&mut span.attributes, redactor);
    for event in &mut span.events.events {
        scrub_key_values(&mut event.attributes, redactor);
    }
    if let opentelemetry::trace::Status::Error { description } = &mut span.status
        && let Cow::Owned(clean) = redactor.scrub(description)
    {
        *description = Cow::Owned(clean);
    }
}

fn scrub_key_values(attributes: &mut [KeyValue], redactor: &Redactor) {
    use opentelemetry::{Array, StringValue, Value};
    for kv in attributes {
        match &mut kv.value {
            Value::String(text) => {
                if let Cow::Owned(clean) = redactor.scrub(text.as_str()) {
                    *text = StringValue::from(clean);
                }
            }
            Value::Array(Array::String(items)) => {
                for text in items {
                    if let Cow::Owned(clean) = redactor.scrub(text.as_str()) {
                        *text = StringValue::from(clean);
                    }
                }
            }
            _ => {}
        }
    }
}

/// Whether a log record's event name is one of picket's own (`picket.regression`, …). The
/// tracing bridge names every record after its tracing event, by default
/// `event src/service.rs:259`: a source position, not an event a backend should group by.
fn own_event_name(name: &str) -> bool {
    name.starts_with("picket.")
}

/// A log record's string values scrubbed and an event name that is not picket's own left
/// out; `None` when nothing needed either. A record's attributes cannot be edited in place
/// (nor its event name unset), so such a record is rebuilt field by field.
pub(super) fn cleaned_record(record: &SdkLogRecord, redactor: &Redactor) -> Option<SdkLogRecord> {
    let foreign_name = record.event_name().is_some_and(|n| !own_event_name(n));
    if redactor.is_empty() && !foreign_name {
        return None;
    }
    let body = record.body().map(|b| scrub_any(b, redactor));
    let attributes: Vec<(Key, Option<AnyValue>)> = record
        .attributes_iter()
        .map(|(k, v)| (k.clone(), scrub_any(v, redactor)))
        .collect();
    if !foreign_name
        && body.as_ref().is_none_or(Option::is_none)
        && attributes.iter().all(|(_, v)| v.is_none())
    {
        return None;
    }
    static FACTORY: std::sync::LazyLock<SdkLogger> = std::sync::LazyLock::new(|| {
        SdkLoggerProvider::builder()
            .build()
            .logger_with_scope(scope())
    });
    let mut clean = FACTORY.create_log_record();
    if let Some(name) = record.event_name().filter(|n| own_event_name(n)) {
        clean.set_event_name(name);
    }
    if let Some(target) = record.target() {
        clean.set_target(target.clone());
    }
    if let Some(t) = record.timestamp() {
        clean.set_timestamp(t);
    }
    if let Some(t) = record.observed_timestamp() {
        clean.set_observed_timestamp(t);
    }
    if let Some(text) = record.severity_text() {
        clean.set_severity_text(text);
    }
    if let Some(n) = record.severity_number() {
        clean.set_severity_number(n);
    }
    if let Some(cx) = record.trace_context() {
        clean.set_trace_context(cx.trace_id, cx.span_id, cx.trace_flags);
    }
    match (body, record.body()) {
        (Some(Some(scrubbed)), _) => clean.set_body(scrubbed),
        (_, Some(original)) => clean.set_body(original.clone()),
        _ => {}
    }
    for ((key, scrubbed), (_, original)) in attributes.into_iter().zip(record.attributes_iter()) {
        clean.add_attribute(key, scrubbed.unwrap_or_else(|| original.clone()));
    }
    Some(clean)
}

/// A scrubbed copy of a log value, or `None` when it holds no secret.
fn scrub_any(value: &AnyValue, redactor: &Redactor) -> Option<AnyValue> {
    match value {
        AnyValue::String(text) => match redactor.scrub(text.as_str()) {
            Cow::Owned(clean) => Some(AnyValue::String(clean.into())),
            Cow::Borrowed(_) => None,
        },
        AnyValue::ListAny(items) => {
            let scrubbed: Vec<Option<AnyValue>> =
                items.iter().map(|v| scrub_any(v, redactor)).collect();
            scrubbed.iter().any(Option::is_some).then(|| {
                AnyValue::ListAny(Box::new(
                    scrubbed
                        .into_iter()
                        .zip(items.iter())
                        .map(|(s, o)| s.unwrap_or_else(|| o.clone()))
                        .collect(),
                ))
            })
        }
        AnyValue::Map(map) => {
            let mut dirty = false;
            let clean = map
                .iter()
                .map(|(k, v)| {
                    let s = scrub_any(v, redactor);
                    dirty |= s.is_some();
                    (k.clone(), s.unwrap_or_else(|| v.clone()))
                })
                .collect();
            dirty.then(|| AnyValue::Map(Box::new(clean)))
        }
        _ => None,
    }
}
