//! Webhook notifications (`notify.webhooks`): every regression and recovery POSTed to each
//! configured webhook, in its format, one module each ([`json`], [`slack`], [`teams`]).
//!
//! ```text
//! Tracker ─changes─▶ Notifier::follow ─try_send─▶ bounded queue ─▶ delivery task ─POST─▶ webhook
//!                                      (one queue and one task per webhook)
//! ```
//!
//! Like telemetry, the notifier subscribes to the tracker's changes and keeps no state of
//! its own beyond what is queued. Nothing here can hold up probing or state: a change is
//! turned into an [`Event`] and offered to each webhook's bounded queue with `try_send`; a
//! full queue drops the new notification and counts it (`dropped`), so the oldest, the start
//! of an incident, are the ones kept and they go out in order. Each webhook's task sends one
//! notification at a time, each request cut off at the webhook's `timeout`, and retries
//! connection errors, timeouts, 408, 429 and 5xx after 1 s, 2 s and 4 s (longer if the
//! receiver's `Retry-After` asks, up to a minute); any other answer fails it at once. Every
//! notification ends `delivered`, `failed` or `dropped`, counted in
//! `picket.notify.deliveries`.
//!
//! Everything a body says went through the service's redactor (the secrets of every
//! configuration it accepted, a [`SharedRedactor`] given to [`Notifier::start`]), whole,
//! after rendering:
//! findings were scrubbed and clipped by the runner, and are again here, so no `${env:…}`
//! value (a target's token a finding quotes, a webhook's own header) can leave in a body.
//! Webhook URLs are secrets too: logs show only their scheme, host and port.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::{Webhook, WebhookFormat};
use crate::outcome::Finding;
use crate::redact::{Redactor, SharedRedactor};
use crate::state::{Change, Follower, State, Transition};
use crate::telemetry::{Origin, Telemetry};
use crate::units::Severity;

mod json;
mod slack;
mod teams;

/// Findings one notification lists at most; the body says how many there were.
pub const MAX_FINDINGS: usize = 20;
/// Waits before the second, third and fourth attempt of a delivery.
pub const BACKOFF: [Duration; 3] = [
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(4),
];
/// The longest `Retry-After` honoured.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);
/// How long shutdown waits for queued notifications before dropping them.
pub const SHUTDOWN_DRAIN: Duration = Duration::from_secs(5);

/// What became of a notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Delivery {
    /// The webhook answered 2xx.
    Delivered,
    /// The webhook refused it (a 3xx or 4xx other than 408 and 429), or every attempt failed.
    Failed,
    /// It never went out: the queue was full, or shutdown came first.
    Dropped,
}

impl Delivery {
    /// The `outcome` attribute of `picket.notify.deliveries`.
    pub fn as_str(self) -> &'static str {
        match self {
            Delivery::Delivered => "delivered",
            Delivery::Failed => "failed",
            Delivery::Dropped => "dropped",
        }
    }
}

/// One regression or recovery as webhooks carry it: findings scrubbed and clipped.
#[derive(Debug, Clone)]
pub struct Event {
    /// Regression or recovery.
    pub transition: Transition,
    /// Probe id.
    pub probe_id: String,
    /// Probe name.
    pub probe_name: String,
    /// The series' severity: of its findings for a regression, of what recovered for a
    /// recovery.
    pub severity: Severity,
    /// Target name.
    pub target: String,
    /// Target tags.
    pub tags: Vec<String>,
    /// The state now (`regressed` or `passing`).
    pub state: State,
    /// The state before (`passing`; `failing` or `regressed`).
    pub previous: State,
    /// When the new state began: the start of the run that caused it.
    pub since: SystemTime,
    /// Findings (at most [`MAX_FINDINGS`]), scrubbed and clipped.
    pub findings: Vec<Finding>,
    /// How many findings there were in all.
    pub findings_count: usize,
    /// The probe's remediation advice.
    pub remediation: Option<String>,
    /// The probe's references.
    pub references: Vec<String>,
    /// Which picket saw it.
    pub origin: Origin,
}

impl Event {
    /// The event of a change, if it is a regression or a recovery.
    pub fn of(change: &Change, origin: &Origin, redactor: &Redactor) -> Option<Event> {
        let transition = change.transition?;
        let probe = &change.info.probe;
        let severity = match transition {
            Transition::Regression => change.state.severity(probe.severity),
            Transition::Recovery => change.previous_severity,
        };
        Some(Event {
            transition,
            probe_id: probe.id.clone(),
            probe_name: probe.name.clone(),
            severity,
            target: change.info.target.clone(),
            tags: change.info.tags.clone(),
            state: change.state.state,
            previous: change.previous,
            since: change.state.since.unwrap_or(change.started),
            findings: change
                .state
                .findings
                .iter()
                .take(MAX_FINDINGS)
                .map(|f| f.redacted(redactor).without_detail())
                .collect(),
            findings_count: change.state.findings.len(),
            remediation: probe.remediation.clone(),
            references: probe.references.clone(),
            origin: origin.clone(),
        })
    }

    /// `picket.regression` or `picket.recovery`, as the log record's event name.
    pub fn name(&self) -> &'static str {
        match self.transition {
            Transition::Regression => crate::telemetry::REGRESSION_EVENT,
            Transition::Recovery => crate::telemetry::RECOVERY_EVENT,
        }
    }

    /// Identifies the transition (the same in every retry and on every webhook), so a
    /// receiver can drop a duplicate: a retry after a timeout may deliver twice.
    pub fn id(&self) -> String {
        format!(
            "{}:{}@{}:{}",
            self.name(),
            self.probe_id,
            self.target,
            crate::units::rfc3339(self.since)
        )
    }

    /// One line: `REGRESSION headers/hsts on web (medium): HSTS is enforced`.
    pub fn summary(&self) -> String {
        let word = match self.transition {
            Transition::Regression => "REGRESSION",
            Transition::Recovery => "RECOVERY",
        };
        format!(
            "{word} {} on {} ({}): {}",
            self.probe_id, self.target, self.severity, self.probe_name
        )
    }
}

/// The body of `event` in `format`, scrubbed of every secret `redactor` knows.
pub fn render(format: WebhookFormat, event: &Event, redactor: &Redactor) -> String {
    let value = match format {
        WebhookFormat::Json => json::body(event),
        WebhookFormat::Slack => slack::body(event),
        WebhookFormat::Teams => teams::body(event),
    };
    let text = serde_json::to_string(&value).unwrap_or_else(|_| "{}".to_string());
    redactor.scrub(&text).into_owned()
}

/// Counts of notifications by webhook name and outcome, since start.
#[derive(Debug, Default)]
struct Stats {
    counts: Mutex<BTreeMap<(String, Delivery), u64>>,
}

/// A configured webhook and the sending end of its queue.
struct Hook {
    webhook: Arc<Webhook>,
    queue: mpsc::Sender<Arc<Event>>,
    /// Whether the last offer found the queue full (so a flood logs once, not per drop).
    full: AtomicBool,
}

/// Sends regressions and recoveries to the configured webhooks. Cheap to clone.
#[derive(Clone)]
pub struct Notifier {
    inner: Arc<Inner>,
}

struct Inner {
    hooks: RwLock<Vec<Hook>>,
    client: reqwest::Client,
    telemetry: Telemetry,
    /// What every event and body is scrubbed of.
    secrets: SharedRedactor,
    stats: Arc<Stats>,
    tasks: TaskTracker,
    /// Cancelled when shutdown gives up on what is still queued.
    abandon: CancellationToken,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hooks = self
            .inner
            .hooks
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        f.debug_struct("Notifier")
            .field(
                "webhooks",
                &hooks.iter().map(|h| &h.webhook.name).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

/// Why the notifier could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot set up the webhook HTTP client: {0}")]
pub struct SetupError(String);

impl Notifier {
    /// Starts one delivery task per webhook (on the current tokio runtime). Events and bodies
    /// are scrubbed of the secrets `secrets` holds when they are made, so secrets added to it
    /// later (by a reload) are scrubbed from then on.
    pub fn start(
        webhooks: &[Webhook],
        telemetry: Telemetry,
        secrets: SharedRedactor,
    ) -> Result<Notifier, SetupError> {
        // Unlike probes, webhooks honour HTTPS_PROXY/NO_PROXY: they usually leave the
        // network (Slack, Teams), often through an egress proxy. Redirects are not followed:
        // a webhook that moved is a configuration to fix, and its headers stay where they
        // were sent.
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("picket/", env!("CARGO_PKG_VERSION")))
            .pool_idle_timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| SetupError(e.without_url().to_string()))?;
        let notifier = Notifier {
            inner: Arc::new(Inner {
                hooks: RwLock::new(Vec::new()),
                client,
                telemetry,
                secrets,
                stats: Arc::default(),
                tasks: TaskTracker::new(),
                abandon: CancellationToken::new(),
            }),
        };
        notifier.replace(webhooks);
        Ok(notifier)
    }

    /// Replaces the webhooks after a reload, unless they are the same. New notifications go
    /// to the new set at once; what the old set has queued is still delivered, with its
    /// retries, then its tasks end. Returns whether anything changed.
    pub fn replace(&self, webhooks: &[Webhook]) -> bool {
        let mut hooks = self
            .inner
            .hooks
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let same = hooks.len() == webhooks.len()
            && hooks.iter().zip(webhooks).all(|(h, w)| *h.webhook == *w);
        if same {
            return false;
        }
        // Dropping the old senders closes the old queues: their tasks drain them and end.
        *hooks = webhooks.iter().map(|w| self.spawn(w)).collect();
        for h in hooks.iter() {
            tracing::info!(
                webhook = %h.webhook.name,
                endpoint = %h.webhook.origin(),
                format = h.webhook.format.as_str(),
                "webhook ready"
            );
        }
        true
    }

    fn spawn(&self, webhook: &Webhook) -> Hook {
        let webhook = Arc::new(webhook.clone());
        let (queue, receiver) = mpsc::channel(webhook.queue);
        self.inner.tasks.spawn(deliver(
            Arc::clone(&webhook),
            receiver,
            self.inner.client.clone(),
            self.inner.secrets.clone(),
            Counter {
                telemetry: self.inner.telemetry.clone(),
                stats: Arc::clone(&self.inner.stats),
            },
            self.inner.abandon.clone(),
        ));
        Hook {
            webhook,
            queue,
            full: AtomicBool::new(false),
        }
    }

    /// Offers the change to every webhook whose `min_severity` it reaches, if it is a
    /// regression or a recovery. Never waits.
    pub fn notify(&self, change: &Change) {
        let hooks = self
            .inner
            .hooks
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        if hooks.is_empty() {
            return;
        }
        let redactor = self.inner.secrets.current();
        let Some(event) = Event::of(change, self.inner.telemetry.origin(), &redactor) else {
            return;
        };
        let event = Arc::new(event);
        let counter = Counter {
            telemetry: self.inner.telemetry.clone(),
            stats: Arc::clone(&self.inner.stats),
        };
        for hook in hooks.iter() {
            if hook
                .webhook
                .min_severity
                .is_some_and(|min| event.severity < min)
            {
                continue;
            }
            match hook.queue.try_send(Arc::clone(&event)) {
                Ok(()) => hook.full.store(false, Ordering::Relaxed),
                Err(e) => {
                    if !hook.full.swap(true, Ordering::Relaxed) {
                        let reason = match e {
                            mpsc::error::TrySendError::Full(_) => "its queue is full",
                            mpsc::error::TrySendError::Closed(_) => "its task has ended",
                        };
                        tracing::warn!(
                            webhook = %hook.webhook.name,
                            queue = hook.webhook.queue,
                            reason,
                            "webhook notifications dropped until it catches up"
                        );
                    }
                    counter.record(&hook.webhook.name, Delivery::Dropped);
                }
            }
        }
    }

    /// Follows the tracker's changes until `stop`, then offers what was already published.
    pub async fn follow(self, changes: Follower, stop: CancellationToken) {
        changes.run(stop, |change| self.notify(change)).await;
    }

    /// Lets the queues drain for at most `timeout`, then drops what is left (counted).
    pub async fn shutdown(&self, timeout: Duration) {
        self.inner
            .hooks
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        self.inner.tasks.close();
        if tokio::time::timeout(timeout, self.inner.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                ?timeout,
                "webhook notifications still undelivered at shutdown; dropping them"
            );
            self.inner.abandon.cancel();
            let _ = tokio::time::timeout(Duration::from_secs(1), self.inner.tasks.wait()).await;
        }
    }

    /// The names of the webhooks in use.
    pub fn webhooks(&self) -> Vec<String> {
        self.inner
            .hooks
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|h| h.webhook.name.clone())
            .collect()
    }

    /// How many notifications for `webhook` ended with `outcome` so far.
    pub fn deliveries(&self, webhook: &str, outcome: Delivery) -> u64 {
        self.inner
            .stats
            .counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&(webhook.to_string(), outcome))
            .copied()
            .unwrap_or(0)
    }
}

/// Where outcomes are counted: the metric, and the in-process stats.
struct Counter {
    telemetry: Telemetry,
    stats: Arc<Stats>,
}

impl Counter {
    fn record(&self, webhook: &str, outcome: Delivery) {
        self.telemetry.record_delivery(webhook, outcome.as_str());
        *self
            .stats
            .counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry((webhook.to_string(), outcome))
            .or_default() += 1;
    }
}

/// One webhook's delivery task: sends what its queue holds, in order, until the queue is
/// closed and empty, or `abandon` drops the rest.
async fn deliver(
    webhook: Arc<Webhook>,
    mut queue: mpsc::Receiver<Arc<Event>>,
    client: reqwest::Client,
    secrets: SharedRedactor,
    counter: Counter,
    abandon: CancellationToken,
) {
    loop {
        let event = tokio::select! {
            biased;
            () = abandon.cancelled() => break,
            e = queue.recv() => match e {
                Some(e) => e,
                None => return,
            },
        };
        let body = render(webhook.format, &event, &secrets.current());
        let outcome = tokio::select! {
            biased;
            () = abandon.cancelled() => Delivery::Dropped,
            o = send(&client, &webhook, &event, body) => o,
        };
        counter.record(&webhook.name, outcome);
    }
    queue.close();
    while queue.try_recv().is_ok() {
        counter.record(&webhook.name, Delivery::Dropped);
    }
}

/// What one attempt came to.
enum Attempt {
    Delivered,
    /// Worth another try, after at least this long (a `Retry-After`).
    Retry(Option<Duration>, String),
    Refused(String),
}

/// Sends one notification, retrying per [`BACKOFF`].
async fn send(
    client: &reqwest::Client,
    webhook: &Webhook,
    event: &Event,
    body: String,
) -> Delivery {
    let mut last = String::new();
    for attempt in 0..=BACKOFF.len() {
        match attempt_once(client, webhook, body.clone()).await {
            Attempt::Delivered => {
                tracing::debug!(webhook = %webhook.name, event = %event.id(), "notification delivered");
                return Delivery::Delivered;
            }
            Attempt::Refused(why) => {
                tracing::warn!(
                    webhook = %webhook.name,
                    endpoint = %webhook.origin(),
                    event = event.name(),
                    probe.id = %event.probe_id,
                    target.name = %event.target,
                    error = %why,
                    "webhook refused the notification"
                );
                return Delivery::Failed;
            }
            Attempt::Retry(after, why) => {
                last = why;
                let Some(backoff) = BACKOFF.get(attempt) else {
                    break;
                };
                let wait = after.map_or(*backoff, |a| a.min(MAX_RETRY_AFTER).max(*backoff));
                tracing::debug!(webhook = %webhook.name, error = %last, ?wait, "webhook delivery failed; retrying");
                tokio::time::sleep(wait).await;
            }
        }
    }
    tracing::warn!(
        webhook = %webhook.name,
        endpoint = %webhook.origin(),
        event = event.name(),
        probe.id = %event.probe_id,
        target.name = %event.target,
        attempts = BACKOFF.len() + 1,
        error = %last,
        "webhook notification failed"
    );
    Delivery::Failed
}

async fn attempt_once(client: &reqwest::Client, webhook: &Webhook, body: String) -> Attempt {
    let mut request = client
        .post(webhook.url.expose().clone())
        .timeout(webhook.timeout)
        .header(http::header::CONTENT_TYPE, "application/json");
    for (name, value) in &webhook.headers {
        request = request.header(name, value.expose().clone());
    }
    match request.body(body).send().await {
        Ok(response) => {
            let status = response.status();
            if status.is_success() {
                Attempt::Delivered
            } else if status.is_server_error()
                || status == http::StatusCode::TOO_MANY_REQUESTS
                || status == http::StatusCode::REQUEST_TIMEOUT
            {
                Attempt::Retry(retry_after(response.headers()), format!("HTTP {status}"))
            } else {
                Attempt::Refused(format!("HTTP {status}"))
            }
        }
        // The URL is never part of the message: it may hold the webhook's token.
        Err(e) => Attempt::Retry(None, describe(&e.without_url())),
    }
}

/// A `Retry-After` of a number of seconds (the HTTP-date form is not worth a date parser).
fn retry_after(headers: &http::HeaderMap) -> Option<Duration> {
    let text = headers.get(http::header::RETRY_AFTER)?.to_str().ok()?;
    text.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// A transport error and its causes in one line (`timeout`, `connect: Connection refused`).
fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return "timeout".to_string();
    }
    let mut text = if e.is_connect() {
        "connect".to_string()
    } else {
        "request".to_string()
    };
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Shortens `text` to `max` characters, marking the cut.
fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max.saturating_sub(1)) {
        Some((at, _)) if text[at..].chars().nth(1).is_some() => format!("{}…", &text[..at]),
        _ => text.to_string(),
    }
}

#[cfg(test)]
mod tests;
