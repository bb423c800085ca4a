//! The `notify:` section: validated webhooks and how they are compiled.

use std::collections::BTreeMap;
use std::time::Duration;

use http::{HeaderName, HeaderValue};
use url::Url;

use super::values::{compile_duration, compile_headers, int_in};
use super::{Ctx, first_of_name, raw, valid_name};
use crate::diag::Pos;
use crate::redact::Secret;
use crate::units;

/// The body format of a webhook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum WebhookFormat {
    /// picket's own JSON document.
    #[default]
    Json,
    /// A Slack incoming-webhook message (`text` and `blocks`).
    Slack,
    /// A Microsoft Teams message holding an Adaptive Card.
    Teams,
}

impl WebhookFormat {
    /// Its name in the config.
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookFormat::Json => "json",
            WebhookFormat::Slack => "slack",
            WebhookFormat::Teams => "teams",
        }
    }
}

/// A validated webhook.
#[derive(Debug, Clone, PartialEq)]
pub struct Webhook {
    /// Unique name.
    pub name: String,
    /// Where to POST (secret when it came from the environment).
    pub url: Secret<Url>,
    /// Body format.
    pub format: WebhookFormat,
    /// Extra request headers.
    pub headers: Vec<(HeaderName, Secret<HeaderValue>)>,
    /// Transitions of series below this severity are not sent.
    pub min_severity: Option<crate::units::Severity>,
    /// Time limit of one request.
    pub timeout: Duration,
    /// Queue capacity.
    pub queue: usize,
}

impl Webhook {
    /// The default time limit of one request.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
    /// The default queue capacity.
    pub const DEFAULT_QUEUE: usize = 256;

    /// `scheme://host:port` of the URL: all of it that logs show, as the rest (a path, a
    /// query) often holds a token.
    pub fn origin(&self) -> String {
        let url = self.url.expose();
        let host = url.host_str().unwrap_or("?");
        match url.port_or_known_default() {
            Some(port) => format!("{}://{host}:{port}", url.scheme()),
            None => format!("{}://{host}", url.scheme()),
        }
    }
}

/// Validates `notify:`: each webhook's name (unique), URL, headers, timeout and queue.
pub(super) fn compile_notify(ctx: &mut Ctx<'_>, raw: &raw::Notify) -> Vec<Webhook> {
    let mut seen: BTreeMap<String, Pos> = BTreeMap::new();
    let mut webhooks = Vec::new();
    for hook in &raw.webhooks {
        let (what, why) = ("webhook", "names tell webhooks apart in logs and metrics");
        if !first_of_name(ctx, &mut seen, &hook.value.name, what, why) {
            continue;
        }
        if let Some(w) = compile_webhook(ctx, &hook.value) {
            webhooks.push(w);
        }
    }
    webhooks
}

fn compile_webhook(ctx: &mut Ctx<'_>, raw: &raw::Webhook) -> Option<Webhook> {
    let mut ok = true;
    let name = raw.name.value.clone();
    ok &= valid_name(ctx, &raw.name, "webhook", "security-slack");
    // The URL usually holds a token: no message quotes it, even a plain one.
    let url = ctx.resolve(&raw.url).and_then(|url| {
        let hint = "write an http or https URL, e.g. `${env:SLACK_WEBHOOK_URL}` holding \
                    `https://hooks.slack.com/services/…`";
        match Url::parse(url.expose()) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {
                Some(url.map(|_| u))
            }
            Ok(u) => {
                ctx.err_hint(
                    &raw.url,
                    format!(
                        "webhook URL must be http or https with a host, not `{}:`",
                        crate::term::escape_controls(u.scheme())
                    ),
                    hint,
                );
                None
            }
            Err(e) => {
                ctx.err_hint(&raw.url, format!("invalid webhook URL: {e}"), hint);
                None
            }
        }
    });
    ok &= url.is_some();
    let headers = compile_headers(ctx, &raw.headers, &mut ok);
    let timeout = match &raw.timeout {
        None => Some(Webhook::DEFAULT_TIMEOUT),
        Some(t) => compile_duration(
            &mut ctx.at,
            t,
            "timeout",
            &units::ranges::WEBHOOK_TIMEOUT,
            "how long one delivery request may take, e.g. `5s`",
        ),
    };
    let queue = match &raw.queue {
        None => Some(Webhook::DEFAULT_QUEUE),
        Some(q) => int_in(
            &mut ctx.at,
            q,
            "queue",
            &units::ranges::WEBHOOK_QUEUE,
            "notifications waiting for this webhook at most (256 by default); past it new ones \
             are dropped and counted",
        )
        .and_then(|v| usize::try_from(v).ok()),
    };
    let (Some(url), Some(timeout), Some(queue), true) = (url, timeout, queue, ok) else {
        return None;
    };
    Some(Webhook {
        name,
        url,
        format: raw.format.as_ref().map(|f| f.value).unwrap_or_default(),
        headers,
        min_severity: raw.min_severity.as_ref().map(|s| s.value),
        timeout,
        queue,
    })
}
