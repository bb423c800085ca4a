//! Keeping configured secrets out of every output.
//!
//! Two layers. [`Secret`] wraps a value resolved from `${env:…}` so that its `Debug` and
//! `Display` never show it; code must call [`Secret::expose`] to send it on the wire. And a
//! [`Redactor`] remembers every resolved secret *value* so that text that came from elsewhere
//! (a response that echoes a header, an error from a library, another crate's log line) can
//! be scrubbed before it leaves the process.
//!
//! A target can reflect a secret in many spellings, so the redactor matches each value in
//! every form it is commonly re-encoded in: as-is and ASCII case-folded, percent-encoded
//! (path, query, component and form sets), JSON-, Debug- and HTML-escaped, and base64 at
//! every byte alignment. Scrubbing must happen **before** any clipping or excerpting, or a
//! cut secret escapes as a fragment: [`Redactor::scrub_excerpt`] cuts an excerpt only after
//! widening it over any secret that overlaps it.
//!
//! # Who owns which redactor
//!
//! No check, notifier, API or telemetry processor reads a process global: each is given the
//! redactor it scrubs with.
//!
//! - **A configuration** owns one: [`crate::config::Config::redactor`] holds every secret its
//!   loading resolved (the file's, its `targets_from` files', `check --var`'s). Loading only
//!   fills it; it registers nothing anywhere, so `picket validate` and a reload that fails
//!   leave the process as they found it. What a failed load reports is scrubbed with it
//!   before it is returned ([`crate::load::load`]).
//! - **The runner** ([`crate::run::Runner`]) holds its configuration's redactor and hands it
//!   to check evaluation ([`crate::check::http::evaluate`]), which cuts body excerpts with
//!   it, and scrubs every finding with it.
//! - **The service** (`picket run`) keeps one [`SharedRedactor`]: the union of the secrets
//!   of every configuration it accepted (at start and at each successful reload), never
//!   fewer, so a reload that drops a target cannot make its old secret printable. It is
//!   created by the telemetry ([`crate::telemetry::Telemetry::secrets`]), which scrubs spans
//!   and log records with it, and given to the notifier and the API.
//! - **The process** keeps one [`global`] set, for its log writer ([`ScrubbedStderr`]) and
//!   `main`'s error lines only: lines from other crates (hyper, reqwest, rustls) come with no
//!   config at hand. Only what the process accepted is [`register`]ed there: by the service,
//!   once per accepted configuration, and by `picket check` for the configuration it runs.
//!   Secrets are never removed from it.

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;
use std::sync::{Arc, LazyLock, OnceLock, PoisonError, RwLock};

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use base64::Engine as _;
use percent_encoding::{AsciiSet, CONTROLS, NON_ALPHANUMERIC, utf8_percent_encode};

/// What replaces a secret in any output.
pub const REDACTED: &str = "<redacted>";

/// A value that may be secret. Secret values never print.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret<T> {
    value: T,
    secret: bool,
}

impl<T> Secret<T> {
    /// A value that came from the environment and must not be shown.
    pub fn hidden(value: T) -> Self {
        Secret {
            value,
            secret: true,
        }
    }

    /// A value written in the config file itself; fine to show.
    pub fn plain(value: T) -> Self {
        Secret {
            value,
            secret: false,
        }
    }

    /// The value, for sending on the wire. Never log the result.
    pub fn expose(&self) -> &T {
        &self.value
    }

    /// Whether the value is secret.
    pub fn is_secret(&self) -> bool {
        self.secret
    }

    /// Transforms the value, keeping its secrecy.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Secret<U> {
        Secret {
            value: f(self.value),
            secret: self.secret,
        }
    }
}

impl Secret<String> {
    /// The value for messages: itself when plain, [`REDACTED`] when secret.
    pub fn shown(&self) -> &str {
        if self.secret { REDACTED } else { &self.value }
    }
}

impl<T: fmt::Debug> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.secret {
            f.write_str(REDACTED)
        } else {
            self.value.fmt(f)
        }
    }
}

impl<T: fmt::Display> fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.secret {
            f.write_str(REDACTED)
        } else {
            self.value.fmt(f)
        }
    }
}

/// Scrubs known secret values, in all their encodings, out of arbitrary text.
///
/// Cheap to clone (one `Arc`); the matcher is built once, on first use after a change.
#[derive(Clone, Default)]
pub struct Redactor {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    secrets: Vec<String>,
    matcher: OnceLock<Option<Matcher>>,
}

/// Every form of every secret in one automaton.
struct Matcher {
    automaton: AhoCorasick,
    /// Length in bytes of the longest form: how far an excerpt must look past its edges.
    longest: usize,
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Redactor({} secrets)", self.inner.secrets.len())
    }
}

impl Redactor {
    /// The shortest secret picket accepts. Scrubbing every `ab` from a response would leave
    /// findings unreadable, so shorter `${env:…}` values are refused at load.
    pub const MIN_SECRET_LEN: usize = 4;

    /// Remembers a secret value. Values shorter than [`Redactor::MIN_SECRET_LEN`] are ignored
    /// here: the loader refuses them with a located error before they get this far. A value
    /// that is a JWT brings its pieces along (see [`jwt_pieces`]).
    pub fn add(&mut self, value: &str) {
        self.add_one(value);
        for piece in jwt_pieces(value) {
            self.add_one(&piece);
        }
    }

    fn add_one(&mut self, value: &str) {
        if value.chars().count() < Self::MIN_SECRET_LEN
            || self.inner.secrets.iter().any(|s| s == value)
        {
            return;
        }
        let mut secrets = self.inner.secrets.clone();
        secrets.push(value.to_string());
        self.inner = Arc::new(Inner {
            secrets,
            matcher: OnceLock::new(),
        });
    }

    /// Adds every secret of `other`.
    pub fn merge(&mut self, other: &Redactor) {
        for s in &other.inner.secrets {
            self.add(s);
        }
    }

    /// True when no secrets are known.
    pub fn is_empty(&self) -> bool {
        self.inner.secrets.is_empty()
    }

    /// How many secret values are known.
    pub fn len(&self) -> usize {
        self.inner.secrets.len()
    }

    fn matcher(&self) -> Option<&Matcher> {
        self.inner
            .matcher
            .get_or_init(|| build_matcher(&self.inner.secrets))
            .as_ref()
    }

    /// Replaces every known secret, in any of its forms, with [`REDACTED`].
    pub fn scrub<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let Some(m) = self.matcher() else {
            return Cow::Borrowed(text);
        };
        let mut found = m.automaton.find_iter(text).peekable();
        if found.peek().is_none() {
            return Cow::Borrowed(text);
        }
        let mut out = String::with_capacity(text.len());
        let mut last = 0;
        for hit in found {
            out.push_str(&text[last..hit.start()]);
            out.push_str(REDACTED);
            last = hit.end();
        }
        out.push_str(&text[last..]);
        Cow::Owned(out)
    }

    /// `range` of the bytes `text`, widened over every secret (in any of its forms) that
    /// overlaps its edges, so that cutting there leaves no fragment of one behind. For
    /// excerpts of bytes that are not all UTF-8 (a nuclei matcher's part); scrub what is cut.
    pub fn widen(&self, text: &[u8], range: Range<usize>) -> Range<usize> {
        let mut end = range.end.min(text.len());
        let mut start = range.start.min(end);
        let Some(m) = self.matcher() else {
            return start..end;
        };
        let window_start = start.saturating_sub(m.longest);
        let window_end = end.saturating_add(m.longest).min(text.len());
        for hit in m.automaton.find_iter(&text[window_start..window_end]) {
            let (s, e) = (window_start + hit.start(), window_start + hit.end());
            if s < end && e > start {
                start = start.min(s);
                end = end.max(e);
            }
        }
        start..end
    }

    /// The scrubbed text of `text[range]`, widened first over any secret that overlaps the
    /// range's edges, so cutting an excerpt never leaves a fragment of a secret behind.
    /// `range` is in bytes and is moved to character boundaries.
    pub fn scrub_excerpt(&self, text: &str, range: Range<usize>) -> String {
        let mut start = floor_char(text, range.start.min(text.len()));
        let mut end = ceil_char(text, range.end.min(text.len()).max(start));
        let Some(m) = self.matcher() else {
            return text[start..end].to_string();
        };
        // Any secret overlapping [start, end) lies within `longest` bytes of it.
        let window_start = floor_char(text, start.saturating_sub(m.longest));
        let window_end = ceil_char(text, end.saturating_add(m.longest).min(text.len()));
        for hit in m.automaton.find_iter(&text[window_start..window_end]) {
            let (s, e) = (window_start + hit.start(), window_start + hit.end());
            if s < end && e > start {
                start = start.min(s);
                end = end.max(e);
            }
        }
        self.scrub(&text[start..end]).into_owned()
    }
}

/// The pieces of a JWT that can travel without the rest of it, each a secret of its own: a
/// probe's `jwt_alg_none` filter sends the payload segment under a new header with no
/// signature, and a target may echo that, or the payload decoded. So for a value of three
/// dot-separated base64url segments whose first is a JSON object (a JWS in compact form):
/// `header.payload`, the payload segment, the signature segment and the decoded payload text.
/// Anything else yields nothing: a dotted host name is not cut into words.
pub fn jwt_pieces(value: &str) -> Vec<String> {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let segments: Vec<&str> = value.trim().split('.').collect();
    let base64url = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    let [header, payload, signature] = segments.as_slice() else {
        return Vec::new();
    };
    if !base64url(header) || !base64url(payload) {
        return Vec::new();
    }
    let is_object = URL_SAFE_NO_PAD.decode(header).ok().is_some_and(|h| {
        serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&h).is_ok()
    });
    if !is_object {
        return Vec::new();
    }
    let mut pieces = vec![format!("{header}.{payload}"), (*payload).to_string()];
    if !signature.is_empty() {
        pieces.push((*signature).to_string());
    }
    if let Some(text) = URL_SAFE_NO_PAD
        .decode(payload)
        .ok()
        .and_then(|p| String::from_utf8(p).ok())
    {
        pieces.push(text);
    }
    pieces
}

fn floor_char(text: &str, mut at: usize) -> usize {
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

fn ceil_char(text: &str, mut at: usize) -> usize {
    while !text.is_char_boundary(at) {
        at += 1;
    }
    at
}

fn build_matcher(secrets: &[String]) -> Option<Matcher> {
    let mut patterns: Vec<String> = secrets.iter().flat_map(|s| forms(s)).collect();
    patterns.sort();
    patterns.dedup();
    if patterns.is_empty() {
        return None;
    }
    let longest = patterns.iter().map(String::len).max().unwrap_or(0);
    let automaton = AhoCorasickBuilder::new()
        .ascii_case_insensitive(true)
        .match_kind(MatchKind::LeftmostLongest)
        .build(&patterns)
        .ok()?;
    Some(Matcher { automaton, longest })
}

/// Characters a URL path keeps as they are (the `url` crate's path set).
const PATH: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}');
/// The `url` crate's query set for special schemes.
const QUERY: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'<')
    .add(b'>')
    .add(b'\'');
/// What JavaScript's `encodeURIComponent` encodes.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'!')
    .remove(b'~')
    .remove(b'*')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')');

/// Every spelling of `secret` that picket scrubs (case is folded when matching).
pub fn forms(secret: &str) -> Vec<String> {
    let mut out = vec![secret.to_string()];
    for set in [NON_ALPHANUMERIC, PATH, QUERY, COMPONENT] {
        out.push(utf8_percent_encode(secret, set).to_string());
    }
    out.push(url::form_urlencoded::byte_serialize(secret.as_bytes()).collect());

    let json = json_escape(secret, JsonStyle::Plain);
    out.push(json_escape(&json, JsonStyle::Plain)); // JSON inside a JSON string
    out.push(json);
    out.push(json_escape(secret, JsonStyle::Ascii));
    out.push(json_escape(secret, JsonStyle::HtmlSafe));
    out.push(json_escape(secret, JsonStyle::Ascii).replace('/', "\\/"));
    let debug = format!("{secret:?}");
    out.push(debug[1..debug.len() - 1].to_string());
    out.push(html_escape(secret, "&#39;"));
    out.push(html_escape(secret, "&#x27;"));

    let bytes = secret.as_bytes();
    for engine in [
        base64::engine::general_purpose::STANDARD_NO_PAD,
        base64::engine::general_purpose::URL_SAFE_NO_PAD,
    ] {
        // Inside a longer base64 text the secret can start at any of three byte offsets;
        // keep the characters that only the secret's bits decide.
        for offset in 0..3usize {
            let mut padded = vec![0u8; offset];
            padded.extend_from_slice(bytes);
            let encoded = engine.encode(&padded);
            let first = (offset * 8).div_ceil(6);
            let last = ((offset + bytes.len()) * 8) / 6;
            if last > first {
                out.push(encoded[first..last.min(encoded.len())].to_string());
            }
        }
    }
    out.retain(|f| f.len() >= Redactor::MIN_SECRET_LEN);
    out
}

#[derive(Clone, Copy)]
enum JsonStyle {
    /// serde_json, Go without HTML escaping, JavaScript.
    Plain,
    /// Python's `json.dumps` (non-ASCII as `\uXXXX`).
    Ascii,
    /// Go's `encoding/json` (also `<`, `>`, `&` as `\u00XX`).
    HtmlSafe,
}

fn json_escape(text: &str, style: JsonStyle) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' if matches!(style, JsonStyle::HtmlSafe) => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c if !c.is_ascii() && !matches!(style, JsonStyle::Plain) => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out
}

/// `text` with `& < > "` escaped as HTML/XML entities and `'` as `apostrophe`.
pub(crate) fn html_escape(text: &str, apostrophe: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str(apostrophe),
            c => out.push(c),
        }
    }
    out
}

/// A redactor shared by parts that outlive one configuration, and that every accepted
/// configuration adds its secrets to: the service's (see the module docs), and the process's
/// [`global`] one. Cheap to clone; clones share the same set. Secrets are only ever added.
#[derive(Clone, Default)]
pub struct SharedRedactor {
    inner: Arc<RwLock<Redactor>>,
}

impl fmt::Debug for SharedRedactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SharedRedactor({} secrets)", self.current().len())
    }
}

impl SharedRedactor {
    /// The secrets as they are now (a cheap clone: one `Arc`).
    pub fn current(&self) -> Redactor {
        self.inner
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Adds every secret of `redactor`; clones see them from now on.
    pub fn add(&self, redactor: &Redactor) {
        if redactor.is_empty() {
            return;
        }
        self.inner
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .merge(redactor);
    }
}

static GLOBAL: LazyLock<SharedRedactor> = LazyLock::new(SharedRedactor::default);

/// Adds every secret of `redactor` to the process-wide set, for the log writer (see the
/// module docs for who may).
pub fn register(redactor: &Redactor) {
    GLOBAL.add(redactor);
}

/// The process-wide redactor: every secret the process accepted ([`register`]). For the log
/// writer and `main`'s error lines only.
pub fn global() -> Redactor {
    GLOBAL.current()
}

/// Scrubs `text` with the process-wide redactor, for lines the process writes to stderr
/// itself (`main`'s error lines).
pub fn scrub_global(text: &str) -> String {
    global().scrub(text).into_owned()
}

/// A log writer for `tracing-subscriber` that scrubs every event with the process-wide
/// redactor before it reaches stderr, then shows control characters from targets escaped:
/// events from other crates (hyper, reqwest, rustls) are covered too, with no care needed at
/// each call site.
#[derive(Debug, Clone, Copy, Default)]
pub struct ScrubbedStderr {
    format: LogLines,
}

/// What the log lines are, for escaping control characters without breaking them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LogLines {
    /// Plain text: every control character but `\n` and `\t` is escaped.
    #[default]
    Text,
    /// Text coloured with ANSI codes: ESC is kept (`tracing-subscriber` escapes it in values).
    Coloured,
    /// JSON: DEL and C1 escaped as `\u00XX` (serde already escapes C0).
    Json,
}

impl ScrubbedStderr {
    /// A writer for log lines of `format`.
    pub fn new(format: LogLines) -> Self {
        ScrubbedStderr { format }
    }
}

/// One event's bytes, held until the event is complete so a secret is never split across
/// writes, then scrubbed and written to stderr in one piece.
#[derive(Debug, Default)]
pub struct ScrubbedEvent {
    buf: Vec<u8>,
    format: LogLines,
}

impl std::io::Write for ScrubbedEvent {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for ScrubbedEvent {
    fn drop(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        let text = String::from_utf8_lossy(&self.buf);
        let clean = global().scrub(&text);
        let safe = match self.format {
            LogLines::Text => crate::term::escape_controls(&clean),
            LogLines::Coloured => crate::term::escape_controls_but_colours(&clean),
            LogLines::Json => crate::term::escape_json(&clean),
        };
        let _ = std::io::Write::write_all(&mut std::io::stderr().lock(), safe.as_bytes());
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for ScrubbedStderr {
    type Writer = ScrubbedEvent;

    fn make_writer(&'a self) -> Self::Writer {
        ScrubbedEvent {
            buf: Vec::new(),
            format: self.format,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redactor(secrets: &[&str]) -> Redactor {
        let mut r = Redactor::default();
        for s in secrets {
            r.add(s);
        }
        r
    }

    #[test]
    fn secrets_do_not_print() {
        let s = Secret::hidden("hunter22".to_string());
        assert_eq!(format!("{s}"), REDACTED);
        assert_eq!(format!("{s:?}"), REDACTED);
        assert_eq!(s.expose(), "hunter22");
        assert_eq!(format!("{}", Secret::plain("ok")), "ok");
    }

    #[test]
    fn redactor_scrubs_longest_first() {
        let r = redactor(&["token", "Bearer token-123", "ab"]);
        assert_eq!(
            r.scrub("got Bearer token-123 and token and ab"),
            "got <redacted> and <redacted> and ab"
        );
    }

    #[test]
    fn every_encoding_is_scrubbed() {
        let secret = "s3cr\"et/\\tok én+x y";
        let r = redactor(&[secret]);
        let encoded = [
            secret.to_string(),
            secret.to_ascii_uppercase(),
            utf8_percent_encode(secret, NON_ALPHANUMERIC).to_string(),
            utf8_percent_encode(secret, NON_ALPHANUMERIC)
                .to_string()
                .to_ascii_lowercase(),
            serde_json::to_string(secret).unwrap(),
            serde_json::to_string(&serde_json::to_string(secret).unwrap()).unwrap(),
            format!("{secret:?}"),
            base64::engine::general_purpose::STANDARD.encode(format!("user:{secret}")),
            base64::engine::general_purpose::STANDARD.encode(secret),
            base64::engine::general_purpose::URL_SAFE.encode(format!("ab{secret}")),
        ];
        for text in encoded {
            let out = r.scrub(&text);
            assert!(out.contains(REDACTED), "{text} -> {out}");
            assert!(!out.contains("tok"), "{text} -> {out}");
        }
        // As the URL parser writes it in a path (without a backslash: URL parsers read it as
        // a separator, and picket refuses it in paths).
        let secret = "s3cr\"et/tok én+x y{}";
        let url = url::Url::parse(&format!("http://127.0.0.1/a/{secret}?q={secret}")).unwrap();
        let out = redactor(&[secret]).scrub(url.as_str()).into_owned();
        assert_eq!(out, "http://127.0.0.1/a/<redacted>?q=<redacted>");
    }

    #[test]
    fn excerpts_widen_over_secrets_at_their_edges() {
        let r = redactor(&["0123456789abcdef"]);
        let text = "aaaa 0123456789abcdef bbbb";
        // A cut through the middle of the secret still removes all of it.
        let cut = r.scrub_excerpt(text, 0..12);
        assert_eq!(cut, "aaaa <redacted>");
        let cut = r.scrub_excerpt(text, 10..26);
        assert_eq!(cut, "<redacted> bbbb");
        assert_eq!(r.scrub_excerpt("héllo wörld", 2..8), "éllo w");
    }

    #[test]
    fn a_jwt_secret_scrubs_its_payload_wherever_it_travels() {
        let jwt = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.\
                   eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.\
                   SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";
        let r = redactor(&[jwt]);
        let forged = crate::probe::template::jwt_alg_none(jwt).unwrap();
        let payload = jwt.split('.').nth(1).unwrap();
        let sent = format!("got Bearer {forged}");
        let out = r.scrub(&sent);
        assert!(!out.contains(payload), "{out}");
        assert!(out.ends_with(".<redacted>."), "{out}");
        // The claims decoded, as a target might quote them.
        let out = r.scrub(r#"bad token {"sub":"1234567890","name":"John Doe","iat":1516239022}"#);
        assert_eq!(out, "bad token <redacted>");
        // Dotted values that are no JWT are not cut up.
        assert!(jwt_pieces("api.example.com").is_empty());
        assert!(jwt_pieces("YWJj.ZGVm.Z2hp").is_empty());
    }

    #[test]
    fn byte_ranges_widen_over_secrets_at_their_edges() {
        let r = redactor(&["0123456789abcdef"]);
        let text = b"aa\xff 0123456789ABCDEF \xfe bb";
        assert_eq!(
            r.widen(text, 0..8),
            0..20,
            "a cut in the secret reaches its end"
        );
        assert_eq!(r.widen(text, 10..24), 4..24, "and its start");
        assert_eq!(
            r.widen(text, 0..3),
            0..3,
            "no secret at the edges: as it was"
        );
        assert_eq!(r.widen(text, 20..99), 20..25, "clamped to the text");
        assert_eq!(Redactor::default().widen(text, 5..9), 5..9);
    }

    #[test]
    fn short_values_are_not_scrubbed() {
        let r = redactor(&["ab"]);
        assert!(r.is_empty());
        assert_eq!(r.scrub("ab"), "ab");
    }
}
