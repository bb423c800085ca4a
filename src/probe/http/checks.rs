//! The `http` kind's check compilers: a raw check item (`status`, `header`, `body`, `json`,
//! `cookies`, `csp`, `location`, `response_time` and the combinators `all_of`, `any_of`, `not`)
//! validated into a [`Check`]. Regexes compile here, at load time, through [`Compiling`]; what the
//! checks mean at run time is `check/http`.

use ::http::HeaderName;
use serde_saphyr::Spanned;

use crate::check::csp;
use crate::check::http::{
    BodyTest, Check, CookieFlag, CspTest, HeaderTest, JsonTest, SameSite, StatusItem, StatusSet,
};
use crate::probe::{Compiling, KindName, other_kind_key, quote, raw};
use crate::units;

fn compile_status(ctx: &mut Compiling<'_>, raw: &Spanned<raw::Status>) -> Option<StatusSet> {
    let items: Vec<&raw::StatusItem> = match &raw.value {
        raw::Status::One(item) => vec![item],
        raw::Status::Many(items) => items.iter().collect(),
    };
    if items.is_empty() {
        ctx.err(raw, "`status` list is empty");
        return None;
    }
    let mut set = Vec::new();
    for item in items {
        match item {
            raw::StatusItem::Code(c) if units::ranges::STATUS.contains(c) => {
                set.push(StatusItem::Code(u16::try_from(*c).unwrap_or(599)));
            }
            raw::StatusItem::Code(c) => {
                ctx.err_hint(
                    raw,
                    format!("status `{c}` is not an HTTP status code"),
                    "codes are 100 to 599",
                );
                return None;
            }
            raw::StatusItem::Class(text) => {
                let t = text.trim().to_ascii_lowercase();
                let class = t
                    .strip_suffix("xx")
                    .and_then(|d| d.parse::<u16>().ok())
                    .filter(|d| (1..=5).contains(d) && t.len() == 3);
                match class {
                    Some(d) => set.push(StatusItem::Class(d)),
                    None => match t.parse::<u16>() {
                        Ok(c) if (100..=599).contains(&c) => set.push(StatusItem::Code(c)),
                        _ => {
                            ctx.err_hint(
                                raw,
                                format!("invalid status `{text}`"),
                                "write a code like `200` or a class like `4xx`",
                            );
                            return None;
                        }
                    },
                }
            }
        }
    }
    Some(StatusSet(set))
}

/// The `http` check keys an item sets (each names a kind of http check).
pub(in crate::probe) fn http_keys(c: &raw::Check) -> Vec<&'static str> {
    [
        c.status.is_some(),
        c.header.is_some(),
        c.body.is_some(),
        c.json.is_some(),
        c.cookies.is_some(),
        c.csp.is_some(),
        c.location.is_some(),
        c.response_time.is_some(),
        c.software.is_some(),
        c.all_of.is_some(),
        c.any_of.is_some(),
        c.not.is_some(),
    ]
    .iter()
    .zip(KINDS)
    .filter_map(|(set, name)| set.then_some(name))
    .collect()
}

const KINDS: [&str; 12] = [
    "status",
    "header",
    "body",
    "json",
    "cookies",
    "csp",
    "location",
    "response_time",
    "software",
    "all_of",
    "any_of",
    "not",
];

/// Refuses `severity:`, `title:` and `expected:` on a check inside `all_of`, `any_of` or `not`: only a whole check
/// yields findings of its own.
fn refuse_inner_labels(ctx: &mut Compiling<'_>, c: &raw::Check) -> bool {
    if let Some(s) = &c.severity {
        ctx.err_hint(
            s,
            "`severity` inside `all_of`, `any_of` or `not`",
            "grade the whole check: put `severity:` beside the combinator",
        );
        return false;
    }
    for (key, words) in [("title", &c.title), ("expected", &c.expected)] {
        if let Some(t) = words {
            ctx.err_hint(
                t,
                format!("`{key}` inside `all_of`, `any_of` or `not`"),
                format!("describe the whole check: put `{key}:` beside the combinator"),
            );
            return false;
        }
    }
    true
}

pub(in crate::probe) fn compile_check(
    ctx: &mut Compiling<'_>,
    item: &Spanned<raw::Check>,
) -> Option<Check> {
    let spanned = Spanned::new(&item.value, item.referenced, item.defined);
    compile_check_ref(ctx, &spanned)
}

fn compile_check_ref(ctx: &mut Compiling<'_>, item: &Spanned<&raw::Check>) -> Option<Check> {
    let c = item.value;
    // A `tls` key is left to "check has no kind" below.
    if let Some((key, kind)) = other_kind_key(c).filter(|(_, k)| match k {
        KindName::Tcp => true,
        KindName::Tls | KindName::Http => false,
    }) {
        ctx.err_hint(
            item,
            format!("`{key}` is a check of `{}` probes", kind.as_str()),
            format!("use it in a probe with a `{}:` block", kind.as_str()),
        );
        return None;
    }
    let kinds = http_keys(c);
    let modifiers: Vec<&str> = [
        ("present", c.present.is_some()),
        ("absent", c.absent.is_some()),
        ("equals", c.equals.is_some()),
        ("not_equals", c.not_equals.is_some()),
        ("contains", c.contains.is_some()),
        ("matches", c.matches.is_some()),
        ("not_matches", c.not_matches.is_some()),
        ("capture", c.capture.is_some()),
    ]
    .iter()
    .filter_map(|(name, set)| set.then_some(*name))
    .collect();

    match kinds.as_slice() {
        [] => {
            ctx.err_hint(
                item,
                "check has no kind",
                "start the check with one of: status, header, body, json, cookies, csp, location, response_time, software, all_of, any_of, not",
            );
            return None;
        }
        [_] => {}
        many => {
            ctx.err_hint(
                item,
                format!("check mixes {}", many.join(" and ")),
                "put each check in its own list item",
            );
            return None;
        }
    }
    if c.header.is_none()
        && (!modifiers.is_empty()
            || c.at_least.is_some()
            || c.at_most.is_some()
            || c.distinct.is_some()
            || c.last_token_of.is_some())
    {
        let what = modifiers
            .first()
            .copied()
            .unwrap_or(if c.distinct.is_some() {
                "distinct"
            } else if c.last_token_of.is_some() {
                "last_token_of"
            } else {
                "at_least"
            });
        ctx.err_hint(
            item,
            format!("`{what}` belongs to a header check"),
            "add `header: NAME` to this item, or move the key under `body:`",
        );
        return None;
    }

    if let Some(status) = &c.status {
        return compile_status(ctx, status).map(Check::Status);
    }
    for (list, make) in [
        (&c.all_of, Check::AllOf as fn(Vec<Check>) -> Check),
        (&c.any_of, Check::AnyOf as fn(Vec<Check>) -> Check),
    ] {
        if let Some(list) = list {
            if list.value.is_empty() {
                ctx.err(list, "combinator has an empty list of checks");
                return None;
            }
            let before = ctx.diags.len();
            let inner: Vec<Check> = list
                .value
                .iter()
                .filter_map(|c| {
                    refuse_inner_labels(ctx, &c.value)
                        .then(|| compile_check(ctx, c))
                        .flatten()
                })
                .collect();
            return (ctx.diags.len() == before).then(|| make(inner));
        }
    }
    if let Some(inner) = &c.not {
        if !refuse_inner_labels(ctx, &inner.value) {
            return None;
        }
        let spanned = Spanned::new(&*inner.value, inner.referenced, inner.defined);
        return compile_check_ref(ctx, &spanned).map(|c| Check::Not(Box::new(c)));
    }
    if let Some(name) = &c.header {
        return compile_header_check(ctx, item, name, &modifiers);
    }
    if let Some(body) = &c.body {
        return compile_body(ctx, body).map(Check::Body);
    }
    if let Some(json) = &c.json {
        return compile_json(ctx, json);
    }
    if let Some(cookies) = &c.cookies {
        return compile_cookies(ctx, cookies);
    }
    if let Some(csp) = &c.csp {
        return compile_csp(ctx, csp);
    }
    if let Some(location) = &c.location {
        return compile_location(ctx, location);
    }
    if let Some(software) = &c.software {
        return crate::probe::software::compile(ctx, software).map(Check::Software);
    }
    if let Some(rt) = &c.response_time {
        let below = &rt.value.below;
        return match units::parse_duration(&below.value) {
            Ok(d) => match units::in_range(
                "below",
                below.value.trim(),
                d,
                &units::ranges::RESPONSE_TIME,
            ) {
                Ok(below) => Some(Check::ResponseTime { below }),
                Err(e) => {
                    ctx.err_hint(below, e, "the slowest acceptable response, e.g. `2s`");
                    None
                }
            },
            Err(_) => {
                ctx.err_hint(
                    below,
                    units::duration_error("below", &below.value),
                    units::DURATION_HINT,
                );
                None
            }
        };
    }
    None
}

fn compile_header_check(
    ctx: &mut Compiling<'_>,
    item: &Spanned<&raw::Check>,
    name: &Spanned<String>,
    modifiers: &[&str],
) -> Option<Check> {
    let c = item.value;
    let Ok(header) = HeaderName::from_bytes(name.value.trim().as_bytes()) else {
        ctx.err(name, format!("invalid header name `{}`", name.value));
        return None;
    };
    if modifiers.len() != 1 {
        let message = if modifiers.is_empty() {
            format!("header check on `{}` asserts nothing", name.value)
        } else {
            format!("header check combines {}", modifiers.join(" and "))
        };
        ctx.err_hint(
            item,
            message,
            "give exactly one of: present, absent, equals, not_equals, contains, matches, not_matches, capture",
        );
        return None;
    }
    if c.capture.is_none() && (c.at_least.is_some() || c.at_most.is_some()) {
        ctx.err_hint(
            item,
            "`at_least`/`at_most` need `capture`",
            "add `capture: 'REGEX'` with one group holding the number",
        );
        return None;
    }
    let test = if let Some(p) = &c.present {
        if p.value {
            HeaderTest::Present
        } else {
            HeaderTest::Absent
        }
    } else if let Some(a) = &c.absent {
        if a.value {
            HeaderTest::Absent
        } else {
            HeaderTest::Present
        }
    } else if let Some(v) = &c.equals {
        HeaderTest::Equals(v.value.clone())
    } else if let Some(v) = &c.not_equals {
        HeaderTest::NotEquals(v.value.clone())
    } else if let Some(v) = &c.contains {
        HeaderTest::Contains(v.value.clone())
    } else if let Some(m) = &c.matches {
        HeaderTest::Matches(ctx.check_regex(m)?)
    } else if let Some(m) = &c.not_matches {
        HeaderTest::NotMatches(ctx.check_regex(m)?)
    } else if let Some(cap) = &c.capture {
        let regex = ctx.check_regex(cap)?;
        if regex.captures_len() < 2 {
            ctx.err_hint(
                cap,
                format!("capture regex {} has no group", quote(&cap.value)),
                "wrap the number in parentheses, e.g. `max-age=(\\d+)`",
            );
            return None;
        }
        if c.at_least.is_none() && c.at_most.is_none() {
            ctx.err_hint(
                cap,
                "`capture` needs `at_least` or `at_most`",
                "add e.g. `at_least: 15552000`",
            );
            return None;
        }
        let mut bound = |name: &str, value: Option<&Spanned<f64>>| -> Result<Option<f64>, ()> {
            let Some(v) = value else { return Ok(None) };
            units::in_range(
                name,
                &units::Shown::shown(&v.value),
                v.value,
                &units::ranges::CAPTURE_BOUND,
            )
            .map(Some)
            .map_err(|e| {
                ctx.err_hint(
                    v,
                    e,
                    "the captured number is compared with this bound; write a plain number",
                );
            })
        };
        let at_least = bound("at_least", c.at_least.as_ref());
        let at_most = bound("at_most", c.at_most.as_ref());
        let (Ok(at_least), Ok(at_most)) = (at_least, at_most) else {
            return None;
        };
        if let (Some(lo), Some(hi), Some(at)) = (at_least, at_most, c.at_most.as_ref())
            && lo > hi
        {
            ctx.err_hint(
                at,
                format!(
                    "`at_most: {}` is below `at_least: {}`: no number satisfies both",
                    units::Shown::shown(&hi),
                    units::Shown::shown(&lo)
                ),
                "swap the bounds",
            );
            return None;
        }
        HeaderTest::Capture {
            regex,
            at_least,
            at_most,
        }
    } else {
        return None;
    };
    let distinct = c.distinct.as_ref().is_some_and(|d| d.value);
    match &c.last_token_of {
        None => Some(Check::Header {
            name: header,
            test,
            distinct,
        }),
        Some(tokens) if distinct => {
            ctx.err_hint(
                tokens,
                "`distinct` and `last_token_of` do not go together",
                "`last_token_of` already reads the header as a list of tokens",
            );
            None
        }
        Some(tokens) => compile_header_token(ctx, tokens, header, test),
    }
}

/// A header check that judges only the last token of the header that is one of `tokens`.
fn compile_header_token(
    ctx: &mut Compiling<'_>,
    tokens: &Spanned<Vec<String>>,
    name: HeaderName,
    test: HeaderTest,
) -> Option<Check> {
    let known: Vec<String> = tokens
        .value
        .iter()
        .map(|t| t.trim().to_ascii_lowercase())
        .collect();
    if known.is_empty() || known.iter().any(|t| t.is_empty() || t.contains(',')) {
        ctx.err_hint(
            tokens,
            "`last_token_of` needs a list of non-empty tokens without commas",
            "list the tokens browsers recognise, e.g. `[no-referrer, same-origin, unsafe-url]`",
        );
        return None;
    }
    Some(Check::HeaderToken { name, known, test })
}

/// Whether exactly one of a `what` check's assertions is `set`; if not, says it asserts
/// nothing or combines several, at the check, with `hint`.
fn exactly_one<T>(
    ctx: &mut Compiling<'_>,
    raw: &Spanned<T>,
    what: &str,
    set: &[bool],
    hint: &str,
) -> bool {
    match set.iter().filter(|s| **s).count() {
        1 => true,
        0 => {
            ctx.err_hint(raw, format!("{what} check asserts nothing"), hint);
            false
        }
        _ => {
            ctx.err_hint(
                raw,
                format!("{what} check combines several assertions"),
                hint,
            );
            false
        }
    }
}

fn compile_csp(ctx: &mut Compiling<'_>, raw: &Spanned<raw::Csp>) -> Option<Check> {
    let c = &raw.value;
    let set = [
        c.parsable.is_some(),
        c.has_directive.is_some(),
        c.restricts_framing.is_some(),
        c.forbid_script_keywords.is_some(),
    ];
    if !exactly_one(
        ctx,
        raw,
        "csp",
        &set,
        "give exactly one of: parsable, has_directive, restricts_framing, forbid_script_keywords",
    ) {
        return None;
    }
    let only_true = |ctx: &mut Compiling<'_>, flag: &Spanned<bool>, key: &str| {
        if !flag.value {
            ctx.err_hint(
                flag,
                format!("`{key}: false` asserts nothing"),
                format!("write `{key}: true`, inside `not:` to assert the opposite"),
            );
        }
        flag.value
    };
    let test = if let Some(p) = &c.parsable {
        only_true(ctx, p, "parsable").then_some(CspTest::Parsable)?
    } else if let Some(r) = &c.restricts_framing {
        only_true(ctx, r, "restricts_framing").then_some(CspTest::RestrictsFraming)?
    } else if let Some(d) = &c.has_directive {
        let name = d.value.trim().to_ascii_lowercase();
        if name.is_empty()
            || !name
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || ch == '-')
        {
            ctx.err_hint(
                d,
                format!("`{}` is not a directive name", d.value),
                "directive names are letters, digits and `-`, e.g. `object-src`",
            );
            return None;
        }
        CspTest::HasDirective(name)
    } else {
        let list = c.forbid_script_keywords.as_deref().unwrap_or_default();
        if list.is_empty() {
            ctx.err_hint(
                raw,
                "`forbid_script_keywords` is empty",
                "list `unsafe-inline`, `unsafe-eval` or both",
            );
            return None;
        }
        let mut keywords = Vec::new();
        for k in list {
            match csp::ScriptKeyword::parse(&k.value) {
                Some(keyword) => keywords.push(keyword),
                None => {
                    ctx.err_hint(
                        k,
                        format!("unknown script keyword `{}`", k.value),
                        "expected `unsafe-inline` or `unsafe-eval`",
                    );
                    return None;
                }
            }
        }
        CspTest::ForbidScriptKeywords(keywords)
    };
    Some(Check::Csp {
        test,
        meta: c.meta.as_ref().is_none_or(|m| m.value),
    })
}

fn compile_location(ctx: &mut Compiling<'_>, raw: &Spanned<raw::Location>) -> Option<Check> {
    let l = &raw.value;
    let scheme = match &l.scheme {
        None => None,
        Some(s) => {
            let scheme = s.value.trim().to_ascii_lowercase();
            let valid = scheme
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic())
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
            if !valid {
                ctx.err_hint(
                    s,
                    format!("`{}` is not a URL scheme", s.value),
                    "write the scheme without `://`, e.g. `https`",
                );
                return None;
            }
            Some(scheme)
        }
    };
    Some(Check::Location {
        scheme,
        same_host: l.same_host.as_ref().map(|s| s.value),
    })
}

fn compile_body(ctx: &mut Compiling<'_>, raw: &Spanned<raw::Body>) -> Option<BodyTest> {
    let b = &raw.value;
    if b.capture.is_some() || b.after_now.is_some() {
        return compile_body_date(ctx, raw);
    }
    let set = [
        b.contains.is_some(),
        b.not_contains.is_some(),
        b.matches.is_some(),
        b.not_matches.is_some(),
    ];
    if !exactly_one(
        ctx,
        raw,
        "body",
        &set,
        "give exactly one of: contains, not_contains, matches, not_matches, capture",
    ) {
        return None;
    }
    if let Some(v) = &b.contains {
        Some(BodyTest::Contains(v.value.clone()))
    } else if let Some(v) = &b.not_contains {
        Some(BodyTest::NotContains(v.value.clone()))
    } else if let Some(m) = &b.matches {
        ctx.check_regex(m).map(BodyTest::Matches)
    } else if let Some(m) = &b.not_matches {
        ctx.check_regex(m).map(BodyTest::NotMatches)
    } else {
        None
    }
}

/// `body: { capture: REGEX, after_now: BOOL }`: a date in the body compared with now.
fn compile_body_date(ctx: &mut Compiling<'_>, raw: &Spanned<raw::Body>) -> Option<BodyTest> {
    let b = &raw.value;
    let others = [&b.contains, &b.not_contains, &b.matches, &b.not_matches];
    let hint = "e.g. `body: { capture: '(?m)^Expires:[ \\t]*(\\S+)', after_now: true }`";
    if others.iter().any(|o| o.is_some()) {
        ctx.err_hint(raw, "body check combines several assertions", hint);
        return None;
    }
    let (Some(cap), Some(after_now)) = (&b.capture, &b.after_now) else {
        let message = if b.capture.is_some() {
            "body `capture` needs `after_now`"
        } else {
            "`after_now` needs `capture`"
        };
        ctx.err_hint(raw, message, hint);
        return None;
    };
    let regex = ctx.check_regex(cap)?;
    if regex.captures_len() < 2 {
        ctx.err_hint(
            cap,
            format!("capture regex {} has no group", quote(&cap.value)),
            "wrap the date in parentheses, e.g. `Expires:[ \\t]*(\\S+)`",
        );
        return None;
    }
    Some(BodyTest::CaptureDate {
        regex,
        after_now: after_now.value,
    })
}

fn compile_json(ctx: &mut Compiling<'_>, raw: &Spanned<raw::Json>) -> Option<Check> {
    let j = &raw.value;
    let pointer = &j.pointer.value;
    if !(pointer.is_empty() || pointer.starts_with('/')) {
        ctx.err_hint(
            &j.pointer,
            format!("JSON pointer `{pointer}` must be empty or start with `/`"),
            "RFC 6901 pointers look like `/debug` or `/items/0/name`",
        );
        return None;
    }
    let test = match (&j.equals, &j.not_equals, &j.present) {
        (Some(v), None, None) => JsonTest::Equals(v.value.clone()),
        (None, Some(v), None) => JsonTest::NotEquals(v.value.clone()),
        (None, None, Some(p)) => JsonTest::Present(p.value),
        _ => {
            ctx.err_hint(
                raw,
                "json check needs exactly one of `equals`, `not_equals`, `present`",
                "e.g. `json: { pointer: /debug, equals: false }`",
            );
            return None;
        }
    };
    Some(Check::Json {
        pointer: pointer.clone(),
        test,
    })
}

fn compile_cookies(ctx: &mut Compiling<'_>, raw: &Spanned<raw::Cookies>) -> Option<Check> {
    let mut all_have = Vec::new();
    for flag in &raw.value.all_have {
        match flag.value.to_ascii_lowercase().as_str() {
            "secure" => all_have.push(CookieFlag::Secure),
            "httponly" => all_have.push(CookieFlag::HttpOnly),
            other => {
                ctx.err_hint(
                    flag,
                    format!("unknown cookie flag `{other}`"),
                    "expected `secure` or `httponly`",
                );
                return None;
            }
        }
    }
    let samesite_at_least = match &raw.value.samesite_at_least {
        None => None,
        Some(s) => match SameSite::parse(&s.value) {
            Some(level) => Some(level),
            None => {
                ctx.err_hint(
                    s,
                    format!("unknown SameSite level `{}`", s.value),
                    "expected `none`, `lax` or `strict`",
                );
                return None;
            }
        },
    };
    let flag = |f: &Option<Spanned<bool>>| f.as_ref().is_some_and(|f| f.value);
    let samesite_valid = flag(&raw.value.samesite_valid);
    let prefix_rules = flag(&raw.value.prefix_rules);
    if all_have.is_empty() && samesite_at_least.is_none() && !samesite_valid && !prefix_rules {
        ctx.err_hint(
            raw,
            "cookies check asserts nothing",
            "add `all_have: [secure, httponly]`, `samesite_at_least: lax`, `samesite_valid: true` or `prefix_rules: true`",
        );
        return None;
    }
    Some(Check::Cookies {
        all_have,
        samesite_at_least,
        session_like: raw.value.session_like.as_ref().map(|s| s.value),
        samesite_valid,
        prefix_rules,
    })
}

#[cfg(test)]
mod tests {
    use crate::check::http::Check;
    use crate::probe::tests::{compile_text, http_probe};

    #[test]
    fn new_check_keys_are_validated() {
        for (checks, message) in [
            (
                "  - status: 200\n    last_token_of: [a]\n",
                "`last_token_of` belongs to a header check",
            ),
            (
                "  - header: referrer-policy\n    last_token_of: []\n    present: true\n",
                "`last_token_of` needs a list",
            ),
            (
                "  - body: { capture: '(\\S+)' }\n",
                "body `capture` needs `after_now`",
            ),
            (
                "  - body: { after_now: true }\n",
                "`after_now` needs `capture`",
            ),
            (
                "  - body: { capture: 'x', after_now: true }\n",
                "capture regex `x` has no group",
            ),
            (
                "  - body: { capture: '(x)', after_now: true, contains: y }\n",
                "body check combines several assertions",
            ),
            (
                "  - cookies: { session_like: true }\n",
                "cookies check asserts nothing",
            ),
        ] {
            let e = compile_text(&http_probe("", checks)).unwrap_err();
            assert!(e[0].starts_with(message), "{checks}: {e:?}");
        }
        let p = compile_text(&http_probe(
            "",
            "  - cookies: { session_like: true, all_have: [secure], samesite_valid: true, prefix_rules: true }\n  - header: referrer-policy\n    last_token_of: [No-Referrer, unsafe-url]\n    not_equals: unsafe-url\n",
        ))
        .unwrap();
        let checks = p.kind.checks();
        assert!(matches!(
            &checks[0].check,
            Check::Cookies {
                session_like: Some(true),
                samesite_valid: true,
                prefix_rules: true,
                ..
            }
        ));
        assert!(
            matches!(&checks[1].check, Check::HeaderToken { known, .. } if known == &["no-referrer", "unsafe-url"])
        );
    }

    #[test]
    fn random_in_a_check_regex_compiles_with_the_sentinel() {
        let p = compile_text(&http_probe(
            "",
            "  - header: location\n    matches: '^https://{{random}}\\.invalid/'\n",
        ))
        .unwrap();
        assert!(crate::check::canary::uses_random(&p.kind.checks()[0].check));
    }
}
