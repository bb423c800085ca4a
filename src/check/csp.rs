//! Content-Security-Policy as browsers read it, for the `csp` http check.
//!
//! A response carries a list of policies, every one enforced: each `Content-Security-Policy`
//! header line is a comma-separated list of serialized policies, and each
//! `<meta http-equiv="Content-Security-Policy" content="…">` in the head of an HTML document is
//! one more (CSP3 §3.1, §3.3). A serialized policy is parsed as CSP3 §2.2.1 says: `;`-separated
//! tokens, empty ones skipped, a directive name of letters, digits and `-` (lowercased), a
//! repeated directive ignored (the first wins), the value split on whitespace. A token whose
//! name is not a directive name is ignored by browsers; here it also makes the policy
//! *malformed*, which the `parsable` assertion reports. Policies from `<meta>` lose
//! `frame-ancestors`, `report-uri` and `sandbox`, which browsers ignore there.
//!
//! Evaluation is pure and three-valued like every http check: a body cut before the end of its
//! `<head>` may hold a `<meta>` policy not yet read, and what such a policy could change is
//! undecided.

use std::sync::LazyLock;

use regex::Regex;

/// One directive: its lowercase name, its source list, and the text as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive {
    /// The name, lowercase (`script-src`).
    pub name: String,
    /// The value split on whitespace (`'self'`, `https:`), as written.
    pub sources: Vec<String>,
    /// The directive as written, for findings (`SCRIPT-SRC 'self' 'unsafe-inline'`).
    pub text: String,
}

/// One policy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    /// Its directives, the first of each name only.
    pub directives: Vec<Directive>,
    /// Tokens that are not directives (`default-src: 'self'`, `'self'`), as written.
    pub malformed: Vec<String>,
    /// The serialized policy as written.
    pub text: String,
}

impl Policy {
    /// The directive of that (lowercase) name.
    pub fn get(&self, name: &str) -> Option<&Directive> {
        self.directives.iter().find(|d| d.name == name)
    }
}

/// Parses one serialized policy (CSP3 §2.2.1).
pub fn parse(text: &str) -> Policy {
    let mut policy = Policy {
        text: text.trim().to_string(),
        ..Policy::default()
    };
    // Names seen, so that a policy of many directives is read in one pass, not compared
    // with every directive before it.
    let mut names = std::collections::HashSet::new();
    for token in text.split(';') {
        let token = token.trim_matches(is_ascii_whitespace);
        if token.is_empty() {
            continue;
        }
        let (name, value) = token.split_once(is_ascii_whitespace).unwrap_or((token, ""));
        let value_ok = value
            .chars()
            .all(|c| is_ascii_whitespace(c) || matches!(c, '\x21'..='\x7e'));
        if name.is_empty()
            || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            || !value_ok
        {
            policy.malformed.push(token.to_string());
            continue;
        }
        let name = name.to_ascii_lowercase();
        if !names.insert(name.clone()) {
            continue;
        }
        policy.directives.push(Directive {
            name,
            sources: value
                .split(is_ascii_whitespace)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
            text: token.to_string(),
        });
    }
    policy
}

fn is_ascii_whitespace(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\x0c' | '\r' | ' ')
}

/// The policies of `Content-Security-Policy` header lines: each line is a comma-separated
/// list of policies.
pub fn header_policies<'a>(lines: impl IntoIterator<Item = &'a str>) -> Vec<Policy> {
    lines
        .into_iter()
        .flat_map(|line| line.split(','))
        .map(parse)
        .collect()
}

/// The `<meta http-equiv="Content-Security-Policy">` policies of an HTML document, or `None`
/// when the text read (`complete` false: a truncated body) ends before the head does, so a
/// policy could still follow.
pub fn meta_policies(html: &str, complete: bool) -> Option<Vec<Policy>> {
    static HEAD_END: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(?i)</head\s*>|<body[\s>]").expect("a constant pattern compiles")
    });
    static META: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"(?i)<meta\b([^>]*)>").expect("a constant pattern compiles"));
    static ATTR: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r#"([A-Za-z_:][-A-Za-z0-9_:.]*)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+))"#)
            .expect("a constant pattern compiles")
    });
    let head = match HEAD_END.find(html) {
        Some(end) => &html[..end.start()],
        None if complete => html,
        None => return None,
    };
    let mut policies = Vec::new();
    for tag in META.captures_iter(head) {
        let mut equiv = false;
        let mut content = None;
        for attr in ATTR.captures_iter(&tag[1]) {
            let value = attr
                .get(2)
                .or_else(|| attr.get(3))
                .or_else(|| attr.get(4))
                .map_or("", |m| m.as_str());
            match attr[1].to_ascii_lowercase().as_str() {
                "http-equiv" => {
                    equiv = value.trim().eq_ignore_ascii_case("content-security-policy");
                }
                "content" => content = Some(decode_entities(value)),
                _ => {}
            }
        }
        if let (true, Some(content)) = (equiv, content) {
            let mut policy = parse(&content);
            policy
                .directives
                .retain(|d| !META_IGNORED.contains(&d.name.as_str()));
            policies.push(policy);
        }
    }
    Some(policies)
}

/// Directives browsers ignore in a `<meta>` policy (CSP3 §3.3).
pub const META_IGNORED: [&str; 3] = ["frame-ancestors", "report-uri", "sandbox"];

/// The character references a policy in an attribute is likely to use.
fn decode_entities(text: &str) -> String {
    if !text.contains('&') {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        // A reference is at most 10 bytes before its `;`: look no further, or a value of
        // many `&` without `;` would be scanned to its end once per `&`.
        let end = rest.as_bytes()[..rest.len().min(11)]
            .iter()
            .position(|&b| b == b';');
        let decoded = end.and_then(|e| {
            let name = &rest[1..e];
            let c = match name {
                "quot" => Some('"'),
                "apos" => Some('\''),
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                _ => name
                    .strip_prefix("#x")
                    .or_else(|| name.strip_prefix("#X"))
                    .and_then(|h| u32::from_str_radix(h, 16).ok())
                    .or_else(|| name.strip_prefix('#').and_then(|d| d.parse().ok()))
                    .and_then(char::from_u32),
            }?;
            Some((c, e + 1))
        });
        match decoded {
            Some((c, len)) => {
                out.push(c);
                rest = &rest[len..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Whether a `frame-ancestors` source lets any site frame the page: `*`, a bare scheme
/// (`https:`), or a host of `*` (`https://*`, `*:443`).
pub fn allows_any_ancestor(source: &str) -> bool {
    let s = source.to_ascii_lowercase();
    if s == "*" || s == "*:" {
        return true;
    }
    let is_scheme = |t: &str| {
        let mut chars = t.chars();
        chars.next().is_some_and(|c| c.is_ascii_alphabetic())
            && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    };
    if let Some(scheme) = s.strip_suffix(':')
        && is_scheme(scheme)
    {
        return true;
    }
    let host_part = match s.split_once("://") {
        Some((scheme, rest)) if is_scheme(scheme) => rest,
        _ => &s,
    };
    let host = host_part.split([':', '/']).next().unwrap_or_default();
    host == "*"
}

/// A keyword a probe can forbid as a script source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScriptKeyword {
    /// `'unsafe-inline'`: inline `<script>` and event handler attributes.
    UnsafeInline,
    /// `'unsafe-eval'`: `eval()` and its relatives.
    UnsafeEval,
}

impl ScriptKeyword {
    /// Parses `unsafe-inline` or `unsafe-eval`, with or without quotes, any case.
    pub fn parse(text: &str) -> Option<ScriptKeyword> {
        match text.trim().trim_matches('\'').to_ascii_lowercase().as_str() {
            "unsafe-inline" => Some(ScriptKeyword::UnsafeInline),
            "unsafe-eval" => Some(ScriptKeyword::UnsafeEval),
            _ => None,
        }
    }

    /// The keyword as a source expression, with its quotes.
    pub fn as_source(self) -> &'static str {
        match self {
            ScriptKeyword::UnsafeInline => "'unsafe-inline'",
            ScriptKeyword::UnsafeEval => "'unsafe-eval'",
        }
    }

    /// The directives that decide it, each a fallback list (CSP3 §6.8.3): inline script
    /// elements, inline event handlers, or `eval`.
    fn chains(self) -> &'static [&'static [&'static str]] {
        match self {
            ScriptKeyword::UnsafeInline => &[
                &["script-src-elem", "script-src", "default-src"],
                &["script-src-attr", "script-src", "default-src"],
            ],
            ScriptKeyword::UnsafeEval => &[&["script-src", "default-src"]],
        }
    }
}

/// What one policy says about a script keyword along one fallback list.
enum Allows {
    /// No directive of the list: the policy does not restrict scripts at all.
    Unrestricted,
    /// The governing directive lists the keyword, and nothing makes browsers ignore it.
    Literally(String),
    /// The governing directive does not let it through.
    Blocks,
}

fn allows(policy: &Policy, keyword: ScriptKeyword, chain: &[&str]) -> Allows {
    let Some(directive) = chain.iter().find_map(|name| policy.get(name)) else {
        return Allows::Unrestricted;
    };
    let has = |s: &str| directive.sources.iter().any(|x| x.eq_ignore_ascii_case(s));
    if !has(keyword.as_source()) {
        return Allows::Blocks;
    }
    // CSP2+: `'unsafe-inline'` is ignored next to a nonce or a hash, and CSP3 also ignores it
    // next to `'strict-dynamic'`.
    let neutralized = keyword == ScriptKeyword::UnsafeInline
        && directive.sources.iter().any(|s| {
            let s = s.to_ascii_lowercase();
            ["'nonce-", "'sha256-", "'sha384-", "'sha512-"]
                .iter()
                .any(|p| s.starts_with(p))
                || s == "'strict-dynamic'"
        });
    if neutralized {
        Allows::Blocks
    } else {
        Allows::Literally(directive.text.clone())
    }
}

/// What the enforced policies do with a script keyword.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeywordVerdict {
    /// Not let through (some policy blocks it, or none names it).
    Blocked,
    /// Every policy lets it through, and this directive (as written) names it.
    Allowed(String),
    /// Policies not yet read (a cut `<head>`) could still block it or name it.
    Open,
}

/// The verdict on a script keyword over every enforced policy; `open` when more policies may
/// follow. A browser runs a script only if every policy allows it, so one blocking policy is
/// enough; a keyword is a finding only when some policy names it and none blocks it.
pub fn script_keyword(policies: &[Policy], open: bool, keyword: ScriptKeyword) -> KeywordVerdict {
    let mut undecided = false;
    for chain in keyword.chains() {
        let mut literal = None;
        let mut blocked = false;
        for policy in policies {
            match allows(policy, keyword, chain) {
                Allows::Unrestricted => {}
                Allows::Literally(text) => {
                    literal.get_or_insert(text);
                }
                Allows::Blocks => blocked = true,
            }
        }
        if blocked {
            continue;
        }
        if open {
            // A policy still unread could block it, or name it.
            undecided = true;
            continue;
        }
        if let Some(text) = literal {
            return KeywordVerdict::Allowed(text);
        }
    }
    if undecided {
        KeywordVerdict::Open
    } else {
        KeywordVerdict::Blocked
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(csp: &[&str], keyword: ScriptKeyword) -> Option<String> {
        match script_keyword(&header_policies(csp.iter().copied()), false, keyword) {
            KeywordVerdict::Allowed(text) => Some(text),
            KeywordVerdict::Blocked => None,
            KeywordVerdict::Open => panic!("open without unread policies"),
        }
    }

    #[test]
    fn a_policy_parses_as_browsers_do() {
        let p = parse(" Default-Src 'self'; ; script-src https: ;default-src 'none' ");
        let names: Vec<&str> = p.directives.iter().map(|d| d.name.as_str()).collect();
        // The repeated default-src is ignored: the first wins.
        assert_eq!(names, ["default-src", "script-src"]);
        assert_eq!(p.directives[0].sources, ["'self'"]);
        assert_eq!(p.directives[0].text, "Default-Src 'self'");
        assert!(p.malformed.is_empty());
        for bad in [
            "default-src: 'self'",
            "'self'",
            "script-src='self'",
            "{\"a\": 1}",
        ] {
            assert!(!parse(bad).malformed.is_empty(), "{bad}");
        }
        assert!(parse("upgrade-insecure-requests").malformed.is_empty());
        assert!(parse("").directives.is_empty());
        // A header line is a list of policies.
        assert_eq!(header_policies(["a 1, b 2", "c"]).len(), 3);
    }

    #[test]
    fn meta_policies_come_from_the_head_only() {
        let html = "<html><head><META HTTP-EQUIV='content-security-policy' \
                    content=\"script-src &#39;self&#39;; frame-ancestors 'none'\">\
                    </head><body><meta http-equiv=\"Content-Security-Policy\" content=\"x\"></body>";
        let found = meta_policies(html, true).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].directives.len(), 1, "frame-ancestors is dropped");
        assert_eq!(found[0].directives[0].sources, ["'self'"]);
        // Other meta tags are not policies.
        let other =
            "<head><meta name=\"csp\" content=\"default-src *\"><meta charset=utf-8></head>";
        assert_eq!(meta_policies(other, true).unwrap().len(), 0);
        // A cut before the end of the head leaves it open; a complete document without a head
        // end is read whole.
        assert!(meta_policies("<html><head><title>x", false).is_none());
        assert_eq!(
            meta_policies("<html><head><title>x", true).unwrap().len(),
            0
        );
        assert_eq!(
            meta_policies("<head></head><body>…", false).unwrap().len(),
            0
        );
    }

    #[test]
    fn entities_in_attributes_are_decoded() {
        assert_eq!(
            decode_entities("a &amp; &quot;b&quot; &#x27;c&#39; &zz; &"),
            "a & \"b\" 'c' &zz; &"
        );
    }

    #[test]
    fn frame_ancestors_that_allow_anyone() {
        for any in [
            "*",
            "https:",
            "http:",
            "HTTPS:",
            "*:",
            "https://*",
            "*:443",
            "wss:",
        ] {
            assert!(allows_any_ancestor(any), "{any}");
        }
        for restricted in [
            "'none'",
            "'self'",
            "https://app.example",
            "*.example.com",
            "https://*.example.com",
            "app.example:443",
        ] {
            assert!(!allows_any_ancestor(restricted), "{restricted}");
        }
    }

    #[test]
    fn unsafe_inline_next_to_a_nonce_hash_or_strict_dynamic_is_ignored() {
        use ScriptKeyword::*;
        assert_eq!(
            verdict(&["script-src 'self' 'unsafe-inline'"], UnsafeInline).as_deref(),
            Some("script-src 'self' 'unsafe-inline'")
        );
        for neutral in [
            "script-src 'nonce-r4nd0m' 'strict-dynamic' 'unsafe-inline'",
            "script-src 'sha256-abc=' 'unsafe-inline'",
            "script-src 'strict-dynamic' 'unsafe-inline' https:",
            "script-src 'NONCE-x' 'unsafe-inline'",
        ] {
            assert_eq!(verdict(&[neutral], UnsafeInline), None, "{neutral}");
        }
        // A nonce does not neutralize 'unsafe-eval'.
        assert!(verdict(&["script-src 'nonce-x' 'unsafe-eval'"], UnsafeEval).is_some());
    }

    #[test]
    fn directives_fall_back_and_every_policy_must_allow() {
        use ScriptKeyword::*;
        // script-src wins over default-src.
        assert_eq!(
            verdict(
                &["default-src 'unsafe-inline'; script-src 'self'"],
                UnsafeInline
            ),
            None
        );
        // Event handlers fall back to default-src when only script-src-elem is set.
        assert!(
            verdict(
                &["default-src 'unsafe-inline'; script-src-elem 'self'"],
                UnsafeInline
            )
            .is_some()
        );
        // A second policy that blocks inline script wins; one that does not restrict scripts
        // leaves the first in force.
        assert_eq!(
            verdict(
                &["script-src 'unsafe-inline'", "default-src 'self'"],
                UnsafeInline
            ),
            None
        );
        assert!(
            verdict(
                &["script-src 'unsafe-inline'", "frame-ancestors 'none'"],
                UnsafeInline
            )
            .is_some()
        );
        // No policy names the keyword: nothing to report here.
        assert_eq!(verdict(&["frame-ancestors 'none'"], UnsafeInline), None);
        assert_eq!(verdict(&[], UnsafeEval), None);
    }

    #[test]
    fn unread_meta_policies_leave_open_only_what_they_could_change() {
        use ScriptKeyword::*;
        let blocking = header_policies(["default-src 'self'"]);
        assert_eq!(
            script_keyword(&blocking, true, UnsafeInline),
            KeywordVerdict::Blocked
        );
        let allowing = header_policies(["script-src 'unsafe-inline'"]);
        assert_eq!(
            script_keyword(&allowing, true, UnsafeInline),
            KeywordVerdict::Open
        );
        assert_eq!(script_keyword(&[], true, UnsafeEval), KeywordVerdict::Open);
    }
}
