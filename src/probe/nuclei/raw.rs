//! The raw shape of a template, as far as picket runs it: what serde reads before
//! [`super::compile`] validates it. A key outside these shapes is refused
//! (`unsupported.rs` names it).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_saphyr::Spanned;

/// A template.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Template {
    /// The template id.
    pub id: Spanned<String>,
    /// Its metadata.
    pub info: Spanned<Info>,
    /// HTTP request blocks.
    #[serde(default)]
    pub http: Option<Spanned<Vec<Spanned<Request>>>>,
    /// The legacy name of `http`.
    #[serde(default)]
    pub requests: Option<Spanned<Vec<Spanned<Request>>>>,
    /// picket's own settings for the probe.
    #[serde(default)]
    pub picket: Option<Spanned<PicketBlock>>,
}

/// `info`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Info {
    /// Title.
    pub name: Spanned<String>,
    /// Authors (not used).
    #[serde(default)]
    pub author: Option<serde::de::IgnoredAny>,
    /// `info` … `critical`, or `unknown`.
    pub severity: Spanned<String>,
    /// Comma-separated or a list.
    #[serde(default)]
    pub tags: Option<OneOrMany>,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
    /// References: one or a list.
    #[serde(default)]
    pub reference: Option<OneOrMany>,
    /// Remediation.
    #[serde(default)]
    pub remediation: Option<String>,
    /// Impact (shown with the description).
    #[serde(default)]
    pub impact: Option<String>,
    /// Kept, not interpreted.
    #[serde(default)]
    pub metadata: Option<serde::de::IgnoredAny>,
    /// `cve-id`, `cwe-id`, `cvss-score` … carried into reports.
    #[serde(default)]
    pub classification: Option<BTreeMap<String, Scalar>>,
}

/// A scalar or a list of scalars, as nuclei's metadata fields are written.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Scalar {
    /// Text.
    Text(String),
    /// A number.
    Number(f64),
    /// A list.
    List(Vec<String>),
    /// Nothing.
    Null(()),
}

/// One string or a list of strings.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    /// A list.
    Many(Vec<String>),
    /// One (tags: comma-separated).
    One(String),
}

/// One request block.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    /// The method (GET).
    #[serde(default)]
    pub method: Option<Spanned<String>>,
    /// Paths, each starting with `{{BaseURL}}` or `{{RootURL}}`.
    #[serde(default)]
    pub path: Option<Spanned<Vec<Spanned<String>>>>,
    /// Headers.
    #[serde(default)]
    pub headers: BTreeMap<String, Spanned<String>>,
    /// Body.
    #[serde(default)]
    pub body: Option<Spanned<String>>,
    /// Follow redirects (same-origin only, as every picket probe).
    #[serde(default)]
    pub redirects: Option<bool>,
    /// At most this many redirects (picket follows at most 10).
    #[serde(default, rename = "max-redirects")]
    pub max_redirects: Option<Spanned<i64>>,
    /// Stop trying further paths once one matches.
    #[serde(default, rename = "stop-at-first-match")]
    pub stop_at_first_match: Option<bool>,
    /// `and` or `or` (default).
    #[serde(default, rename = "matchers-condition")]
    pub matchers_condition: Option<Spanned<String>>,
    /// The matchers.
    #[serde(default)]
    pub matchers: Option<Spanned<Vec<Spanned<Matcher>>>>,
}

/// One matcher.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Matcher {
    /// `status`, `word`, `regex` or `size`.
    #[serde(rename = "type")]
    pub kind: Spanned<String>,
    /// The part read.
    #[serde(default)]
    pub part: Option<Spanned<String>>,
    /// `word`: the words.
    #[serde(default)]
    pub words: Option<Vec<Spanned<String>>>,
    /// `regex`: the patterns.
    #[serde(default)]
    pub regex: Option<Vec<Spanned<String>>>,
    /// `status`: the codes.
    #[serde(default)]
    pub status: Option<Vec<Spanned<i64>>>,
    /// `size`: the lengths.
    #[serde(default)]
    pub size: Option<Vec<Spanned<i64>>>,
    /// `and` or `or` (default) over the items.
    #[serde(default)]
    pub condition: Option<Spanned<String>>,
    /// Invert.
    #[serde(default)]
    pub negative: Option<bool>,
    /// `word`: compare lowercased.
    #[serde(default, rename = "case-insensitive")]
    pub case_insensitive: Option<bool>,
    /// Reported name.
    #[serde(default)]
    pub name: Option<String>,
}

/// `picket:` in a template: what a picket probe sets besides its checks.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PicketBlock {
    /// Schedule override.
    #[serde(default)]
    pub schedule: Option<Spanned<crate::config::raw::Schedule>>,
    /// Which targets (default: all).
    #[serde(default)]
    pub targets: Option<Spanned<crate::probe::raw::Selector>>,
    /// Override of `defaults.confirm`.
    #[serde(default)]
    pub confirm: Option<Spanned<i64>>,
    /// Override of `defaults.recover`.
    #[serde(default)]
    pub recover: Option<Spanned<i64>>,
    /// Override of `defaults.timeout`.
    #[serde(default)]
    pub timeout: Option<Spanned<String>>,
}
