//! The raw YAML shapes of a probe file, as serde reads them. Field docs here are the user's
//! reference (they become the JSON Schema's descriptions); [`super::compile`] validates them
//! into a [`super::Probe`]. Keys are grouped by probe kind.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::config::raw::Schedule;
use crate::units::Severity;

// ---- Every kind: the file, its target selector and its check items (one union of every kind's
// keys, as serde reads an item before its kind is known).

/// A probe file.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Probe {
    /// Unique id, lowercase `[a-z0-9-/]+`, e.g. `headers/hsts`.
    #[schemars(with = "String")]
    pub id: Spanned<String>,
    /// Human title.
    #[schemars(with = "String")]
    pub name: Spanned<String>,
    /// info, low, medium, high or critical.
    #[schemars(with = "Severity")]
    pub severity: Spanned<Severity>,
    /// Free tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Why this matters.
    #[serde(default)]
    pub description: Option<String>,
    /// How to fix a failure.
    #[serde(default)]
    pub remediation: Option<String>,
    /// Where the rule comes from (URLs).
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub references: Vec<Spanned<String>>,
    /// Schedule override.
    #[serde(default)]
    #[schemars(with = "Option<Schedule>")]
    pub schedule: Option<Spanned<Schedule>>,
    /// Which targets the probe applies to (default: all).
    #[serde(default)]
    #[schemars(with = "Option<Selector>")]
    pub targets: Option<Spanned<Selector>>,
    /// Override of `defaults.confirm` (1 to 100).
    #[serde(default)]
    #[schemars(with = "Option<u32>", example = 2)]
    pub confirm: Option<Spanned<i64>>,
    /// Override of `defaults.recover` (1 to 100).
    #[serde(default)]
    #[schemars(with = "Option<u32>", example = 1)]
    pub recover: Option<Spanned<i64>>,
    /// Override of `defaults.timeout` (`100ms` to `10m`).
    #[serde(default)]
    #[schemars(with = "Option<crate::units::DurationText>")]
    pub timeout: Option<Spanned<String>>,
    /// Override of `limits.max_body_bytes` for this probe's responses: a number of bytes or
    /// text like `4MiB`, at most `64MiB`. A body longer than the cap is read no further, and
    /// checks that the unread rest could change end the run in an `error`.
    #[serde(default)]
    #[schemars(with = "Option<crate::config::raw::Size>")]
    pub max_body_bytes: Option<Spanned<crate::config::raw::Size>>,
    // The request: exactly one of `http`, `tls`, `tcp`, which names the probe's kind.
    /// The HTTP request.
    #[serde(default)]
    #[schemars(with = "Option<Http>")]
    pub http: Option<Spanned<Http>>,
    /// TLS handshakes with the target's host: protocol versions, cipher suites, the
    /// certificate, mTLS enforcement.
    #[serde(default)]
    #[schemars(with = "Option<Tls>")]
    pub tls: Option<Spanned<Tls>>,
    /// A TCP connection to ports of the target's host (segmentation, banners).
    #[serde(default)]
    #[schemars(with = "Option<Tcp>")]
    pub tcp: Option<Spanned<Tcp>>,
    /// What must hold; each failing check is a finding.
    #[schemars(with = "Vec<Check>")]
    pub checks: Spanned<Vec<Spanned<Check>>>,
}

/// Target selection.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Selector {
    /// Targets with any of these tags.
    #[serde(default)]
    #[schemars(with = "Option<Vec<String>>")]
    pub tags: Option<Vec<Spanned<String>>>,
    /// Targets with these names.
    #[serde(default)]
    #[schemars(with = "Option<Vec<String>>")]
    pub names: Option<Vec<Spanned<String>>>,
    /// Exempts targets carrying any of these tags, whatever `tags` (or no `tags`, every
    /// target) selects: `{ not_tags: [internal-only] }`. `picket list` shows each exempt
    /// pair as skipped, with the tag. Not with `names`.
    #[serde(default)]
    #[schemars(with = "Option<Vec<String>>")]
    pub not_tags: Option<Vec<Spanned<String>>>,
    /// Only targets whose URL has one of these schemes (`http`, `https`).
    #[serde(default)]
    #[schemars(with = "Option<Vec<String>>")]
    pub schemes: Option<Vec<Spanned<String>>>,
}

/// A check item. Exactly one of `status`, `header`, `body`, `json`, `cookies`, `csp`,
/// `location`, `response_time` names its kind; the header modifiers go beside `header`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Check {
    // `http` probes: one kind key (`status` … `not`), with the header modifiers beside
    // `header`.
    /// Status code(s) or class(es).
    #[serde(default)]
    #[schemars(with = "Option<Status>")]
    pub status: Option<Spanned<Status>>,
    /// Header name.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub header: Option<Spanned<String>>,
    /// Header is sent.
    #[serde(default)]
    #[schemars(with = "Option<bool>")]
    pub present: Option<Spanned<bool>>,
    /// Header is not sent.
    #[serde(default)]
    #[schemars(with = "Option<bool>")]
    pub absent: Option<Spanned<bool>>,
    /// Header value equals.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub equals: Option<Spanned<String>>,
    /// Header absent or value differs.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub not_equals: Option<Spanned<String>>,
    /// Header value contains.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub contains: Option<Spanned<String>>,
    /// Header value matches a regex.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub matches: Option<Spanned<String>>,
    /// Regex whose first group is compared with `at_least`/`at_most`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub capture: Option<Spanned<String>>,
    /// Inclusive lower bound for `capture`.
    #[serde(default)]
    #[schemars(with = "Option<f64>", example = 15552000)]
    pub at_least: Option<Spanned<f64>>,
    /// Inclusive upper bound for `capture`.
    #[serde(default)]
    #[schemars(with = "Option<f64>", example = 31536000)]
    pub at_most: Option<Spanned<f64>>,
    /// Body assertion.
    #[serde(default)]
    #[schemars(with = "Option<Body>")]
    pub body: Option<Spanned<Body>>,
    /// JSON assertion.
    #[serde(default)]
    #[schemars(with = "Option<Json>")]
    pub json: Option<Spanned<Json>>,
    /// Cookie assertion.
    #[serde(default)]
    #[schemars(with = "Option<Cookies>")]
    pub cookies: Option<Spanned<Cookies>>,
    /// Latency assertion.
    #[serde(default)]
    #[schemars(with = "Option<ResponseTime>")]
    pub response_time: Option<Spanned<ResponseTime>>,
    /// Header value matches a regex nowhere (or the header is absent).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub not_matches: Option<Spanned<String>>,
    /// With `header`: read the header's comma-separated values as a set, so that a value
    /// repeated (on one line or several, compared case-insensitively) counts once:
    /// `X-Frame-Options: DENY` sent twice reads `DENY`, `DENY` and `SAMEORIGIN` read
    /// `DENY, SAMEORIGIN` (false).
    #[serde(default)]
    #[schemars(with = "Option<bool>")]
    pub distinct: Option<Spanned<bool>>,
    /// Content-Security-Policy assertion, on the policies browsers enforce.
    #[serde(default)]
    #[schemars(with = "Option<Csp>")]
    pub csp: Option<Spanned<Csp>>,
    /// Redirect assertion: the response is a 3xx whose `Location` goes where it should.
    #[serde(default)]
    #[schemars(with = "Option<Location>")]
    pub location: Option<Spanned<Location>>,
    /// Beside `header`: judge only the header's last comma-separated token that is one of
    /// these (case-insensitive), as browsers skip tokens they do not know in list headers
    /// such as `Referrer-Policy`; with none of them, the header counts as absent.
    #[serde(default)]
    #[schemars(with = "Option<Vec<String>>")]
    pub last_token_of: Option<Spanned<Vec<String>>>,
    /// Every inner check holds.
    #[serde(default)]
    #[schemars(with = "Option<Vec<Check>>")]
    pub all_of: Option<Spanned<Vec<Spanned<Check>>>>,
    /// At least one inner check holds.
    #[serde(default)]
    #[schemars(with = "Option<Vec<Check>>")]
    pub any_of: Option<Spanned<Vec<Spanned<Check>>>>,
    /// The inner check does not hold.
    #[serde(default)]
    #[schemars(with = "Option<Check>")]
    pub not: Option<Spanned<Box<Check>>>,
    // `http` and `tcp` probes.
    /// `http` and `tcp` probes: the software the service names (headers, HTML, status JSON,
    /// banners) is supported, or not below a floor.
    #[serde(default)]
    #[schemars(with = "Option<Software>")]
    pub software: Option<Spanned<Software>>,
    // `tcp` probes.
    /// `tcp` probes: whether the port accepts a connection from here.
    #[serde(default)]
    #[schemars(with = "Option<bool>")]
    pub reachable: Option<Spanned<bool>>,
    /// `tcp` probes: an assertion on the first bytes the service sends.
    #[serde(default)]
    #[schemars(with = "Option<Banner>")]
    pub banner: Option<Spanned<Banner>>,
    // `tls` probes.
    /// `tls` probes: protocol versions the server must not accept.
    #[serde(default)]
    #[schemars(with = "Option<Protocols>")]
    pub protocols: Option<Spanned<Protocols>>,
    /// `tls` probes: cipher suite classes the server must not accept.
    #[serde(default)]
    #[schemars(with = "Option<Ciphers>")]
    pub ciphers: Option<Spanned<Ciphers>>,
    /// `tls` probes: what must hold of the server's certificate.
    #[serde(default)]
    #[schemars(with = "Option<Certificate>")]
    pub certificate: Option<Spanned<Certificate>>,
    /// `tls` probes: whether a handshake without a client certificate must fail (mTLS).
    #[serde(default)]
    #[schemars(with = "Option<bool>")]
    pub client_certificate_required: Option<Spanned<bool>>,
    // Any kind, on a top-level check only: how its findings read.
    /// The severity of this check's findings, instead of the probe's: grades one probe's
    /// checks (a certificate expiring in 50 days is medium, an expired one critical). A run
    /// counts at the highest severity among its findings. Only on a top-level check.
    #[serde(default)]
    #[schemars(with = "Option<Severity>")]
    pub severity: Option<Spanned<Severity>>,
    /// The check in the probe's words, shown in findings instead of the derived title
    /// (`/.git/config is not served`). Only on a top-level check.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub title: Option<Spanned<String>>,
    /// What should hold, in the probe's words, shown in findings instead of the derived
    /// expectation (`no Git configuration at /.git/config`). Only on a top-level check.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub expected: Option<Spanned<String>>,
}

/// A `software` check: exactly one of `supported`, `supported_for_at_least`, `not_below`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Software {
    /// `true`: no identified product is past its end of life.
    #[serde(default)]
    #[schemars(with = "Option<bool>")]
    pub supported: Option<Spanned<bool>>,
    /// No identified product ends its life within this long (`90d`).
    #[serde(default)]
    #[schemars(with = "Option<String>", example = "90d")]
    pub supported_for_at_least: Option<Spanned<String>>,
    /// A team's floor per product (endoflife.date ids): `{ nginx: "1.26" }`.
    #[serde(default)]
    #[schemars(with = "Option<BTreeMap<String, String>>")]
    pub not_below: Option<Spanned<BTreeMap<String, Spanned<String>>>>,
    /// Versions a distribution marks (`Debian-2+deb12u3`, `(Ubuntu)`): `judge` them by their
    /// upstream version (the default) or `skip` them (a distribution may backport fixes).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub distro: Option<Spanned<String>>,
}

// ---- `http` probes: the request and the values of its check keys.

/// An HTTP request.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Http {
    /// Method (GET).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub method: Option<Spanned<String>>,
    /// One path, relative to the target URL.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub path: Option<Spanned<String>>,
    /// Several paths; one request each.
    #[serde(default)]
    #[schemars(with = "Option<Vec<String>>")]
    pub paths: Option<Vec<Spanned<String>>>,
    /// Request headers.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, String>")]
    pub headers: BTreeMap<String, Spanned<String>>,
    /// Request body.
    #[serde(default)]
    pub body: Option<String>,
    /// Follow same-origin redirects (false).
    #[serde(default)]
    pub follow_redirects: Option<bool>,
    /// Send the target's configured headers (true).
    #[serde(default)]
    pub use_target_auth: Option<bool>,
    /// What a response that redirects to another origin (scheme, host or port) is:
    /// `evaluate` (default) judges the 3xx itself; `skip` makes the run `skip`, with the
    /// redirect as the reason: a probe of a page's headers does not judge a redirector,
    /// which is not the page.
    #[serde(default)]
    #[schemars(with = "Option<OnRedirect>")]
    pub on_redirect: Option<Spanned<String>>,
    /// Send the request over plain HTTP: to an `http://` target's own URL, or to an
    /// `https://` target's host on the port in its `vars.http_port` (targets without it are
    /// skipped). The target's headers are never sent over it (false).
    #[serde(default)]
    pub plain_http: Option<bool>,
    /// `directories`: after the first path, also request the directories of the same-origin
    /// links and scripts (`href`, `src`) of the page it answered (following a same-origin
    /// redirect to find it), each directory and its parents inside the target URL, at most
    /// 16 new ones, within the run's request cap.
    #[serde(default)]
    #[schemars(with = "Option<Discover>")]
    pub discover: Option<Spanned<String>>,
}

/// `on_redirect:` values.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum OnRedirect {
    /// Judge the redirect response itself.
    Evaluate,
    /// Skip the run: the redirect is not the page.
    Skip,
}

/// `discover:` values.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Discover {
    /// The directories of the links and scripts on the first path's page.
    Directories,
}

/// `status:` takes one entry or a list.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(untagged)]
#[schemars(extend("x-picket-expected" = "a status code such as 200, a class such as 4xx, or a list of them"))]
pub enum Status {
    /// A list.
    Many(Vec<StatusItem>),
    /// One.
    One(StatusItem),
}

/// One status entry: a code or a class like `4xx`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum StatusItem {
    /// `200` (100 to 599).
    Code(#[schemars(with = "u16", example = 200)] i64),
    /// `4xx`.
    Class(String),
}

/// Body assertion: exactly one key.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Body {
    /// Text that must appear.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub contains: Option<Spanned<String>>,
    /// Text that must not appear.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub not_contains: Option<Spanned<String>>,
    /// Regex that must match.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub matches: Option<Spanned<String>>,
    /// Regex that must not match.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub not_matches: Option<Spanned<String>>,
    /// Regex whose first group, at its first match, is read as an RFC 3339 date-time and
    /// compared with now by `after_now`. No match fails.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub capture: Option<Spanned<String>>,
    /// With `capture`: the date must be later than now (`true`) or not (`false`).
    #[serde(default)]
    #[schemars(with = "Option<bool>")]
    pub after_now: Option<Spanned<bool>>,
}

/// JSON assertion.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Json {
    /// RFC 6901 pointer.
    #[schemars(with = "String")]
    pub pointer: Spanned<String>,
    /// Value must equal.
    #[serde(default)]
    #[schemars(with = "Option<serde_json::Value>")]
    pub equals: Option<Spanned<serde_json::Value>>,
    /// Value must be missing or differ.
    #[serde(default)]
    #[schemars(with = "Option<serde_json::Value>")]
    pub not_equals: Option<Spanned<serde_json::Value>>,
    /// Value must exist (true) or not (false).
    #[serde(default)]
    #[schemars(with = "Option<bool>")]
    pub present: Option<Spanned<bool>>,
}

/// Cookie assertion.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Cookies {
    /// Flags every cookie needs: `secure`, `httponly`.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub all_have: Vec<Spanned<String>>,
    /// Minimum SameSite: `none`, `lax`, `strict`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub samesite_at_least: Option<Spanned<String>>,
    /// Judge only cookies whose name looks like a session's (`true`: `sess`, `sid`,
    /// `auth`, `token`, `jwt`, `login`, `remember`… in the name, CSRF tokens excepted; see
    /// the README) or only the others (`false`). Default: every cookie.
    #[serde(default)]
    #[schemars(with = "Option<bool>")]
    pub session_like: Option<Spanned<bool>>,
    /// A SameSite attribute, when present, is `Strict`, `Lax` or `None` (any case), and
    /// `None` comes with `Secure` (browsers reject it otherwise).
    #[serde(default)]
    #[schemars(with = "Option<bool>")]
    pub samesite_valid: Option<Spanned<bool>>,
    /// Cookie name prefixes keep their rules (RFC 6265bis): `__Host-` cookies have
    /// `Secure`, `Path=/` and no `Domain`; `__Secure-` cookies have `Secure`.
    #[serde(default)]
    #[schemars(with = "Option<bool>")]
    pub prefix_rules: Option<Spanned<bool>>,
}

/// Content-Security-Policy assertion: exactly one of `parsable`, `has_directive`,
/// `restricts_framing`, `forbid_script_keywords`, optionally with `meta`. The policies
/// are every `Content-Security-Policy` header line (each a comma-separated list) and, in an
/// HTML body, every `<meta http-equiv="Content-Security-Policy">` in the head; each is
/// parsed as browsers do (CSP3). `Content-Security-Policy-Report-Only` does not count.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Csp {
    /// `true`: there is at least one directive and no token that is not one
    /// (`default-src: 'self'` is not).
    #[serde(default)]
    #[schemars(with = "Option<bool>")]
    pub parsable: Option<Spanned<bool>>,
    /// Some policy has this directive, e.g. `object-src`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub has_directive: Option<Spanned<String>>,
    /// `true`: a header policy's `frame-ancestors` names who may frame the page (`'none'`,
    /// `'self'`, hosts); `*`, a bare scheme (`https:`) or a host of `*` let anyone, and
    /// `<meta>` policies cannot set it.
    #[serde(default)]
    #[schemars(with = "Option<bool>")]
    pub restricts_framing: Option<Spanned<bool>>,
    /// Keywords the policies together must not let through for scripts: `unsafe-inline`
    /// (inline `<script>` and event handlers: `script-src-elem`/`script-src-attr`, then
    /// `script-src`, then `default-src`; ignored next to a nonce, a hash or
    /// `'strict-dynamic'`, as CSP2+ browsers do) and `unsafe-eval` (`script-src`, then
    /// `default-src`). One policy that blocks a keyword blocks it.
    #[serde(default)]
    #[schemars(with = "Option<Vec<String>>")]
    pub forbid_script_keywords: Option<Vec<Spanned<String>>>,
    /// Whether `<meta http-equiv>` policies count (true).
    #[serde(default)]
    #[schemars(with = "Option<bool>")]
    pub meta: Option<Spanned<bool>>,
}

/// Redirect assertion: the response is a 3xx with a `Location` that, resolved against the
/// request URL, has the given scheme and host.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Location {
    /// The scheme it must have, e.g. `https`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub scheme: Option<Spanned<String>>,
    /// `true`: the host of the request (the target's); `false`: another host.
    #[serde(default)]
    #[schemars(with = "Option<bool>")]
    pub same_host: Option<Spanned<bool>>,
}

/// Latency assertion.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ResponseTime {
    /// Upper bound, e.g. `2s`.
    #[schemars(with = "crate::units::DurationText")]
    pub below: Spanned<String>,
}

// ---- `tcp` probes.

/// A TCP connection probe. It connects only to the target's own host.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Tcp {
    /// One port (default: the target URL's port).
    #[serde(default)]
    #[schemars(with = "Option<u16>", example = 6379)]
    pub port: Option<Spanned<i64>>,
    /// Several ports: a list, or `"{{vars.NAME}}"` naming a target's list variable.
    #[serde(default)]
    #[schemars(with = "Option<Ports>")]
    pub ports: Option<Spanned<Ports>>,
    /// Text to send once connected, before reading the banner (`\r\n` escapes allowed in
    /// double-quoted YAML).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub send: Option<Spanned<String>>,
}

/// Ports: a list of numbers or a `{{vars.NAME}}` placeholder.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(untagged)]
#[schemars(extend("x-picket-expected" = "a list of ports such as [5432, 6379], or a placeholder such as \"{{vars.closed_ports}}\""))]
pub enum Ports {
    /// Port numbers.
    List(Vec<i64>),
    /// A placeholder for a target's list variable.
    Var(String),
}

/// Banner assertion: exactly one key, on the first bytes read (at most 4 KiB).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Banner {
    /// Text that must appear.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub contains: Option<Spanned<String>>,
    /// A regex that must match.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub matches: Option<Spanned<String>>,
    /// A regex that must not match.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub not_matches: Option<Spanned<String>>,
}

// ---- `tls` probes.

/// A TLS probe. It connects only to the target's own host.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Tls {
    /// The port (default: the target URL's port).
    #[serde(default)]
    #[schemars(with = "Option<u16>", example = 443)]
    pub port: Option<Spanned<i64>>,
}

/// Protocol versions: `ssl3`, `tls1.0`, `tls1.1`, `tls1.2`, `tls1.3`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Protocols {
    /// Versions the server must not complete a handshake at.
    #[schemars(with = "Vec<String>")]
    pub forbid: Vec<Spanned<String>>,
}

/// Cipher suite classes: `null`, `anonymous`, `export`, `rc4`, `des`, `3des`, `cbc`,
/// `no-forward-secrecy`, `uncommon`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Ciphers {
    /// Classes no accepted suite may belong to.
    #[schemars(with = "Vec<String>")]
    pub forbid: Vec<Spanned<String>>,
}

/// Certificate assertions; each key set is checked.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Certificate {
    /// The leaf stays valid at least this long (`14d`).
    #[serde(default)]
    #[schemars(with = "Option<crate::units::DurationText>")]
    pub valid_for_at_least: Option<Spanned<String>>,
    /// The checked name (the target's `server_name`, else its host) is in the SAN list.
    #[serde(default)]
    #[schemars(with = "Option<bool>")]
    pub hostname_matches: Option<Spanned<bool>>,
    /// The chain verifies to the system roots or the target's `ca_file`.
    #[serde(default)]
    #[schemars(with = "Option<bool>")]
    pub chain_trusted: Option<Spanned<bool>>,
    /// The leaf key has at least this many bits (RSA 2048; EC keys count their curve size).
    #[serde(default)]
    #[schemars(with = "Option<u32>", example = 2048)]
    pub key_bits_at_least: Option<Spanned<i64>>,
    /// Signature hashes the leaf must not use: `sha1`, `md5`.
    #[serde(default)]
    #[schemars(with = "Option<Vec<String>>")]
    pub forbid_signatures: Option<Vec<Spanned<String>>>,
}
