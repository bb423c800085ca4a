//! The dashboard (SPEC §8 `GET /`): every series with its state, and a page per series
//! (`GET /series?probe=ID&target=NAME`) with its findings, the probe's advice and the run
//! history.
//!
//! Server-rendered HTML with no script and nothing fetched from elsewhere. Every text that
//! reaches a page goes through [`esc`]: findings quote what targets sent, and nuclei
//! templates bring third-party words and links. The pages refresh themselves every 10 s.
//! Query strings rather than paths name a series, since probe ids contain `/` and target
//! names may contain anything.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;

use super::{Accepted, Entry, View};
use crate::outcome::Finding;
use crate::state::{Mark, Run, State as SeriesStateKind};
use crate::units::{Severity, rfc3339};

/// What the pages may do: show inline styles and submit the filter form to picket itself.
/// No script, no image, no frame, nothing from elsewhere, and no page may frame them.
const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; \
                       base-uri 'none'; frame-ancestors 'none'";

const STYLE: &str = concat!(
    "body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}",
    "a{color:#04b}table{border-collapse:collapse}",
    "td,th{padding:.3em .6em;border-bottom:1px solid #ddd;text-align:left;vertical-align:top}",
    "th{color:#555;font-weight:600;white-space:nowrap}form{margin:1em 0}label{margin-right:.8em}",
    ".regressed{color:#b00;font-weight:bold}.failing{color:#c60}.passing{color:#080}",
    ".accepted{color:#62c;font-weight:600}",
    ".unknown,.zero,small,.none{color:#777}.zero{font-weight:normal}.count{margin-right:.8em}",
    ".t{white-space:nowrap}.findings{max-width:40em;overflow-wrap:anywhere}",
    ".finding{margin-bottom:.4em}.check{font-weight:600}",
    ".h{white-space:nowrap}.h span{display:inline-block;width:6px;height:14px;margin-right:1px}",
    ".h .pass{background:#3a3}.h .fail{background:#c33}.h .error{background:#999}",
    ".h .skip{background:#9bd}.legend{margin:.6em 0}.legend .k{white-space:nowrap;margin-right:.8em}",
    "td.pass{color:#080}td.fail{color:#b00}td.error{color:#777}",
    "dl{display:grid;grid-template-columns:max-content auto;gap:.25em 1em}dt{color:#555}dd{margin:0}",
    ".prose{white-space:pre-line;max-width:50em}pre{white-space:pre-wrap;overflow-wrap:anywhere}",
);

/// Dashboard filters, from the query string. Empty values mean "any".
#[derive(Debug, Default, Deserialize)]
pub(super) struct Filter {
    target: Option<String>,
    tag: Option<String>,
    /// The least severity shown.
    severity: Option<String>,
}

/// Which series a detail page shows.
#[derive(Debug, Default, Deserialize)]
pub(super) struct Which {
    probe: Option<String>,
    target: Option<String>,
}

fn given(value: Option<&String>) -> Option<&str> {
    value.map(String::as_str).filter(|v| !v.is_empty())
}

fn state_rank(s: SeriesStateKind) -> u8 {
    match s {
        SeriesStateKind::Regressed => 0,
        SeriesStateKind::Failing => 1,
        SeriesStateKind::Unknown => 3,
        SeriesStateKind::Passing => 4,
    }
}

/// A series as the dashboard shows it: with the acceptance that holds for it now, if any.
struct Shown<'a> {
    entry: &'a Entry,
    accepted: Option<Accepted>,
}

impl Shown<'_> {
    /// Whether it shows as `accepted`: it fails (or regressed) while an acceptance holds.
    /// A passing series under an acceptance shows as passing.
    fn is_accepted(&self) -> bool {
        self.accepted.is_some()
            && matches!(
                self.entry.state.state,
                SeriesStateKind::Failing | SeriesStateKind::Regressed
            )
    }

    /// Its state badge: the series' state, or `accepted`.
    fn badge(&self) -> &'static str {
        if self.is_accepted() {
            "accepted"
        } else {
            self.entry.state.state.as_str()
        }
    }

    /// Its place in the order: accepted failures after the failing series, before the rest.
    fn rank(&self) -> u8 {
        if self.is_accepted() {
            2
        } else {
            state_rank(self.entry.state.state)
        }
    }
}

const STATES: [SeriesStateKind; 4] = [
    SeriesStateKind::Regressed,
    SeriesStateKind::Failing,
    SeriesStateKind::Unknown,
    SeriesStateKind::Passing,
];

const SEVERITIES: [Severity; 5] = [
    Severity::Info,
    Severity::Low,
    Severity::Medium,
    Severity::High,
    Severity::Critical,
];

/// The dashboard's order: regressions first, newest first; then failing series, the most
/// severe first (critical before high, …), newest first within a severity; then accepted
/// failures; then the rest by state, newest first. Ties go by probe id and target.
fn display_order(a: &Shown<'_>, b: &Shown<'_>) -> std::cmp::Ordering {
    let severity = |s: &Shown<'_>| match s.rank() {
        1 => Some(std::cmp::Reverse(s.entry.severity)),
        _ => None,
    };
    let (ea, eb) = (a.entry, b.entry);
    a.rank()
        .cmp(&b.rank())
        .then(severity(a).cmp(&severity(b)))
        .then(eb.state.since.cmp(&ea.state.since))
        .then((&ea.info.probe.id, &ea.info.target).cmp(&(&eb.info.probe.id, &eb.info.target)))
}

/// `GET /`: every series that passes the filters, regressions first (newest first), then
/// failing series by severity (most severe first).
pub(super) async fn index(State(view): State<Arc<View>>, Query(filter): Query<Filter>) -> Response {
    let target = given(filter.target.as_ref());
    let tag = given(filter.tag.as_ref());
    let least = match given(filter.severity.as_ref()).map(str::parse::<Severity>) {
        None => None,
        Some(Ok(s)) => Some(s),
        Some(Err(_)) => {
            return respond(
                StatusCode::BAD_REQUEST,
                message_page("unknown severity: use info, low, medium, high or critical"),
            );
        }
    };
    view.read_group().await;
    let all = view.entries();
    let now = SystemTime::now();
    let mut shown: Vec<Shown<'_>> = all
        .iter()
        .filter(|e| target.is_none_or(|t| e.info.target == t))
        .filter(|e| tag.is_none_or(|t| e.info.tags.iter().any(|x| x == t)))
        .filter(|e| least.is_none_or(|s| e.severity >= s))
        .map(|entry| Shown {
            entry,
            accepted: entry.accepted(now),
        })
        .collect();
    shown.sort_by(display_order);

    let mut html = String::from("<h1>picket</h1>");
    filter_form(&mut html, &all, target, tag, least);
    counts(&mut html, &shown, all.len());
    html.push_str(
        "<table><tr><th>state</th><th>probe</th><th>target</th><th>severity</th><th>since</th>\
         <th>last run</th><th>history</th><th>findings</th></tr>",
    );
    for s in &shown {
        row(&mut html, s, now);
    }
    if shown.is_empty() {
        html.push_str("<tr><td colspan=\"8\" class=\"none\">no series match</td></tr>");
    }
    html.push_str("</table>");
    legend(&mut html);
    respond(StatusCode::OK, page("picket", &html))
}

fn filter_form(
    html: &mut String,
    all: &[Entry],
    target: Option<&str>,
    tag: Option<&str>,
    least: Option<Severity>,
) {
    let mut targets: Vec<&str> = all.iter().map(|e| e.info.target.as_str()).collect();
    targets.sort_unstable();
    targets.dedup();
    let mut tags: Vec<&str> = all
        .iter()
        .flat_map(|e| e.info.tags.iter().map(String::as_str))
        .collect();
    tags.sort_unstable();
    tags.dedup();
    let severities = SEVERITIES.map(Severity::as_str);
    html.push_str("<form method=\"get\" action=\"./\">");
    select(html, "target", "target", &targets, target);
    select(html, "tag", "tag", &tags, tag);
    select(
        html,
        "severity",
        "severity at least",
        &severities,
        least.map(Severity::as_str),
    );
    html.push_str("<button>filter</button> <a href=\"./\">clear</a></form>");
}

fn select(html: &mut String, name: &str, label: &str, values: &[&str], current: Option<&str>) {
    let _ = write!(
        html,
        "<label>{label} <select name=\"{name}\"><option value=\"\">any</option>"
    );
    for v in values {
        let selected = if current == Some(*v) { " selected" } else { "" };
        let v = esc(v);
        let _ = write!(html, "<option value=\"{v}\"{selected}>{v}</option>");
    }
    html.push_str("</select></label>");
}

/// `N of M series: 1 regressed, …, 1 accepted`; a count is coloured only when it is not
/// zero. Accepted failures are counted as accepted, not as regressed or failing; the
/// accepted count shows when an acceptance holds for a series shown.
fn counts(html: &mut String, shown: &[Shown<'_>], total: usize) {
    let _ = write!(
        html,
        "<p class=\"counts\">{} of {total} series: ",
        shown.len()
    );
    let badges = STATES.map(SeriesStateKind::as_str);
    // The accepted count only where acceptances are in use.
    let accepted: &[&str] = if shown.iter().any(|s| s.accepted.is_some()) {
        &["accepted"]
    } else {
        &[]
    };
    for badge in badges.iter().chain(accepted) {
        let n = shown.iter().filter(|s| s.badge() == *badge).count();
        let class = if n > 0 { badge } else { "zero" };
        let _ = write!(html, "<span class=\"count {class}\">{n} {badge}</span>");
    }
    html.push_str("</p>");
}

/// The state cell of a series: its state, or `accepted` (the acceptance on hover, and the
/// state under it).
fn state_cell(html: &mut String, tag: &str, shown: &Shown<'_>) {
    let accepted = shown.accepted.as_ref().filter(|_| shown.is_accepted());
    badge(html, tag, shown.entry.state.state, accepted);
}

/// A state badge in a `tag` element: `state`, or `accepted` when `accepted` is given.
fn badge(html: &mut String, tag: &str, state: SeriesStateKind, accepted: Option<&Accepted>) {
    let s = state.as_str();
    match accepted {
        Some(a) => {
            let _ = write!(
                html,
                "<{tag} class=\"state accepted\" title=\"{}\">accepted <small>({s})</small></{tag}>",
                esc(&accepted_sentence(a)),
            );
        }
        None => {
            let _ = write!(html, "<{tag} class=\"state {s}\">{s}</{tag}>");
        }
    }
}

/// `accepted until 2027-03-31: CSP rollout, ticket SEC-123`
fn accepted_sentence(a: &Accepted) -> String {
    format!("accepted until {}: {}", a.until, a.reason)
}

fn row(html: &mut String, shown: &Shown<'_>, now: SystemTime) {
    let e = shown.entry;
    html.push_str("<tr class=\"series\">");
    state_cell(html, "td", shown);
    let _ = write!(
        html,
        "<td><a href=\"{}\">{}</a><br><small>{}</small></td>\
         <td class=\"t\"><a href=\"./?target={}\">{}</a></td><td>{}</td><td class=\"t\">",
        esc(&detail_href(e)),
        esc(&e.info.probe.id),
        esc(&e.info.probe.name),
        esc(&query_value(&e.info.target)),
        esc(&e.info.target),
        e.severity,
    );
    time(html, now, e.state.since);
    html.push_str("</td><td class=\"t\">");
    time(html, now, e.state.last_run);
    if e.state.last_run.is_some() {
        let _ = write!(html, "<br><small>{} ms</small>", e.state.last_duration_ms);
    }
    html.push_str("</td><td class=\"h\">");
    for run in &e.state.history {
        let _ = write!(
            html,
            "<span class=\"{}\" title=\"{}\"></span>",
            run.outcome.as_str(),
            esc(&run_summary(run))
        );
    }
    html.push_str("</td><td class=\"findings\">");
    for f in &e.state.findings {
        finding(html, f);
    }
    if let Some(err) = &e.state.last_error {
        let _ = write!(html, "<small>error: {}</small>", esc(err));
    }
    html.push_str("</td></tr>");
}

/// What the history strip's colours mean, one swatch per outcome, drawn as the strip draws
/// them.
fn legend(html: &mut String) {
    html.push_str(
        "<p class=\"legend\"><small>history, oldest to newest (hover a mark for its run):</small> ",
    );
    for (mark, meaning) in [
        (Mark::Pass, "pass: every check held"),
        (Mark::Fail, "fail: a check failed"),
        (
            Mark::Error,
            "error: could not be evaluated (timeout, refused, TLS error)",
        ),
        (Mark::Skip, "skip: nothing the probe applies to"),
    ] {
        let _ = write!(
            html,
            "<span class=\"k\"><span class=\"h\"><span class=\"{}\"></span></span> \
             <small>{meaning}</small></span> ",
            mark.as_str(),
        );
    }
    html.push_str("</p>");
}

/// `GET /series?probe=ID&target=NAME`: one series in full.
pub(super) async fn series(State(view): State<Arc<View>>, Query(which): Query<Which>) -> Response {
    let (Some(probe), Some(target)) = (given(which.probe.as_ref()), given(which.target.as_ref()))
    else {
        return respond(
            StatusCode::BAD_REQUEST,
            message_page("name a series: /series?probe=ID&target=NAME"),
        );
    };
    view.read_group().await;
    let Some(e) = view.entry(probe, target) else {
        return respond(
            StatusCode::NOT_FOUND,
            message_page(&format!("no series of probe {probe} on target {target}")),
        );
    };
    let p = &e.info.probe;
    let now = SystemTime::now();
    let shown = Shown {
        entry: &e,
        accepted: e.accepted(now),
    };
    let mut html = String::from("<p><a href=\"./\">&larr; all series</a></p>");
    let _ = write!(
        html,
        "<h1>{} on {}</h1><p>{}</p><dl><dt>state</dt>",
        esc(&p.id),
        esc(&e.info.target),
        esc(&p.name),
    );
    state_cell(&mut html, "dd", &shown);
    if let Some(a) = &shown.accepted {
        let _ = write!(
            html,
            "<dt>accepted</dt><dd class=\"accepted\">until {}: {}",
            esc(&a.until),
            esc(&a.reason)
        );
        if a.unneeded {
            html.push_str(&format!(
                " <small>(no longer needed: the series passed its last {} runs under it)</small>",
                crate::config::UNNEEDED_AFTER
            ));
        }
        html.push_str("</dd>");
    }
    html.push_str("<dt>since</dt><dd class=\"t\">");
    time(&mut html, now, e.state.since);
    let _ = write!(html, "</dd><dt>severity</dt><dd>{}", e.severity);
    if e.severity != p.severity {
        let _ = write!(
            html,
            " <small>(graded by its findings; the probe's is {})</small>",
            p.severity
        );
    }
    let _ = write!(
        html,
        "</dd><dt>probe tags</dt><dd>{}</dd><dt>target tags</dt><dd>{}</dd>\
         <dt>thresholds</dt><dd>regressed after {} failing runs in a row, \
         recovered after {} passing</dd>",
        esc(&p.tags.join(", ")),
        esc(&e.info.tags.join(", ")),
        p.confirm,
        p.recover,
    );
    for (key, value) in &p.classification {
        let _ = write!(html, "<dt>{}</dt><dd>{}</dd>", esc(key), esc(value));
    }
    if let Some(err) = &e.state.last_error {
        let _ = write!(html, "<dt>last error</dt><dd>{}</dd>", esc(err));
    }
    html.push_str("</dl>");

    if !e.state.findings.is_empty() {
        html.push_str("<h2>Findings</h2><div class=\"findings\">");
        for f in &e.state.findings {
            finding(&mut html, f);
        }
        html.push_str("</div>");
    }
    for (title, text) in [
        ("Description", &p.description),
        ("Remediation", &p.remediation),
    ] {
        if let Some(text) = text {
            let _ = write!(html, "<h2>{title}</h2><p class=\"prose\">{}</p>", esc(text));
        }
    }
    if !p.references.is_empty() {
        html.push_str("<h2>References</h2><ul>");
        for r in &p.references {
            html.push_str("<li>");
            reference(&mut html, r);
            html.push_str("</li>");
        }
        html.push_str("</ul>");
    }
    history(&mut html, &e.state.history, now);
    respond(
        StatusCode::OK,
        page(&format!("{} on {} - picket", p.id, e.info.target), &html),
    )
}

/// The run history, newest first.
fn history(html: &mut String, runs: &std::collections::VecDeque<Run>, now: SystemTime) {
    let _ = write!(
        html,
        "<h2>Runs</h2><p><small>the last {} (at most {})</small></p>\
         <table class=\"runs\"><tr><th>outcome</th><th>started</th><th>duration</th><th>error</th></tr>",
        runs.len(),
        crate::state::HISTORY_LEN
    );
    for run in runs.iter().rev() {
        let o = run.outcome.as_str();
        let _ = write!(html, "<tr><td class=\"{o}\">{o}</td><td class=\"t\">");
        time(html, now, run.started);
        let _ = write!(
            html,
            "</td><td class=\"t\">{} ms</td><td>{}</td></tr>",
            run.duration_ms,
            esc(run.error.as_deref().unwrap_or(""))
        );
    }
    if runs.is_empty() {
        html.push_str("<tr><td colspan=\"4\" class=\"none\">no run yet</td></tr>");
    }
    html.push_str("</table>");
}

/// One finding, with every field a finding has: the only place a page renders one.
fn finding(html: &mut String, f: &Finding) {
    let _ = write!(
        html,
        "<div class=\"finding\"><div class=\"check\">{}</div>\
         <small>expected {}, observed {}</small>",
        esc(&f.check),
        esc(&f.expected),
        esc(&f.observed),
    );
    if let Some(severity) = f.severity {
        let _ = write!(html, "<br><small>severity {severity}</small>");
    }
    if let Some(detail) = &f.detail {
        let _ = write!(
            html,
            "<details><summary><small>detail</small></summary><pre>{}</pre></details>",
            esc(detail)
        );
    }
    html.push_str("</div>");
}

/// A reference as a link when it is a web address; anything else (a nuclei template may say
/// `javascript:…`) stays text.
fn reference(html: &mut String, r: &str) {
    let web = url::Url::parse(r).is_ok_and(|u| matches!(u.scheme(), "http" | "https"));
    if web {
        let _ = write!(html, "<a href=\"{0}\" rel=\"noreferrer\">{0}</a>", esc(r));
    } else {
        html.push_str(&esc(r));
    }
}

/// `outcome · time · duration · error` for a history strip's tooltip.
fn run_summary(run: &Run) -> String {
    let mut text = run.outcome.as_str().to_string();
    if let Some(error) = &run.error {
        let _ = write!(text, " ({error})");
    }
    if let Some(t) = run.started {
        let _ = write!(text, " at {}", rfc3339(t));
    }
    if run.outcome != Mark::Error || run.duration_ms > 0 {
        let _ = write!(text, ", {} ms", run.duration_ms);
    }
    text
}

/// A time as `3 min ago`, with the UTC time in `datetime` and as the tooltip.
fn time(html: &mut String, now: SystemTime, t: Option<SystemTime>) {
    match t {
        Some(t) => {
            let utc = rfc3339(t);
            let _ = write!(
                html,
                "<time datetime=\"{utc}\" title=\"{utc}\">{}</time>",
                ago(now, t)
            );
        }
        None => html.push_str("<span class=\"none\">never</span>"),
    }
}

/// How long before `now` `t` was, in the largest unit that fits.
fn ago(now: SystemTime, t: SystemTime) -> String {
    let (d, past) = match now.duration_since(t) {
        Ok(d) => (d, true),
        Err(e) => (e.duration(), false),
    };
    if d < Duration::from_secs(5) {
        return "just now".to_string();
    }
    let secs = d.as_secs();
    let span = match secs {
        0..60 => format!("{secs} s"),
        60..3_600 => format!("{} min", secs / 60),
        3_600..172_800 => format!("{} h", secs / 3_600),
        _ => format!("{} days", secs / 86_400),
    };
    if past {
        format!("{span} ago")
    } else {
        format!("in {span}")
    }
}

/// The detail page of a series, relative to the dashboard.
fn detail_href(e: &Entry) -> String {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("probe", &e.info.probe.id)
        .append_pair("target", &e.info.target)
        .finish();
    format!("series?{query}")
}

fn query_value(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"refresh\" content=\"10\"><title>{}</title><style>{STYLE}</style>\
         </head><body>{body}</body></html>",
        esc(title)
    )
}

fn message_page(message: &str) -> String {
    page(
        "picket",
        &format!(
            "<p><a href=\"./\">&larr; all series</a></p><p>{}</p>",
            esc(message)
        ),
    )
}

/// A page with the headers picket's probes ask of others.
fn respond(status: StatusCode, html: String) -> Response {
    (
        status,
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::X_FRAME_OPTIONS, "DENY"),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        Html(html),
    )
        .into_response()
}

/// Escapes text for HTML, control characters shown as `\u{1b}` like everywhere else.
fn esc(text: &str) -> String {
    crate::term::escape_controls(text)
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_told_in_the_largest_unit_that_fits() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let before = |secs| now - Duration::from_secs(secs);
        assert_eq!(ago(now, now), "just now");
        assert_eq!(ago(now, before(42)), "42 s ago");
        assert_eq!(ago(now, before(3 * 60 + 59)), "3 min ago");
        assert_eq!(ago(now, before(5 * 3_600)), "5 h ago");
        assert_eq!(ago(now, before(3 * 86_400)), "3 days ago");
        assert_eq!(ago(now, now + Duration::from_secs(120)), "in 2 min");
        let mut html = String::new();
        time(&mut html, now, Some(before(180)));
        assert_eq!(
            html,
            "<time datetime=\"1970-01-12T13:43:40Z\" title=\"1970-01-12T13:43:40Z\">3 min ago</time>"
        );
    }

    #[test]
    fn an_acceptance_is_text_in_its_badge() {
        let mut html = String::new();
        let accepted = Accepted {
            until: "2027-03-31".into(),
            reason: "\"><script>alert(1)</script> & 'x'".into(),
            unneeded: false,
        };
        badge(&mut html, "td", SeriesStateKind::Regressed, Some(&accepted));
        assert_eq!(
            html,
            "<td class=\"state accepted\" title=\"accepted until 2027-03-31: &quot;&gt;\
             &lt;script&gt;alert(1)&lt;/script&gt; &amp; &#39;x&#39;\">accepted \
             <small>(regressed)</small></td>"
        );
        let mut html = String::new();
        badge(&mut html, "dd", SeriesStateKind::Failing, None);
        assert_eq!(html, "<dd class=\"state failing\">failing</dd>");
    }

    #[test]
    fn findings_and_references_are_text_not_markup() {
        let mut html = String::new();
        finding(
            &mut html,
            &Finding {
                check: "<b>check</b>".into(),
                expected: "\"x\"".into(),
                observed: "<script>alert(1)</script>".into(),
                detail: Some("a & b".into()),
                severity: Some(Severity::High),
            },
        );
        assert!(!html.contains("<script") && !html.contains("<b>"), "{html}");
        assert!(
            html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{html}"
        );
        assert!(
            html.contains("a &amp; b") && html.contains("severity high"),
            "{html}"
        );

        let mut html = String::new();
        reference(&mut html, "javascript:alert(1)");
        reference(&mut html, "https://example.com/?a=1&b=\"2\"");
        assert_eq!(
            html,
            "javascript:alert(1)<a href=\"https://example.com/?a=1&amp;b=&quot;2&quot;\" \
             rel=\"noreferrer\">https://example.com/?a=1&amp;b=&quot;2&quot;</a>"
        );
    }
}
