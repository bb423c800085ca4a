//! `Set-Cookie` checks: parsing cookies, flags and SameSite, session-like names, name prefixes.

use http::HeaderMap;

use super::{Check, CookieFlag, SameSite};
use crate::check::list_words;
use crate::outcome::Finding;

/// A parsed `Set-Cookie` header: the name and the attributes that matter here.
struct SetCookie {
    name: String,
    secure: bool,
    http_only: bool,
    same_site: Option<Result<SameSite, String>>,
    /// The last `Path` attribute's value.
    path: Option<String>,
    /// The last non-empty `Domain` attribute's value (user agents ignore an empty one).
    domain: Option<String>,
}

fn parse_set_cookie(header: &str) -> SetCookie {
    let mut parts = header.split(';');
    let name = parts
        .next()
        .and_then(|nv| nv.split_once('=').map(|(n, _)| n))
        .unwrap_or_default()
        .trim()
        .to_string();
    let mut cookie = SetCookie {
        name,
        secure: false,
        http_only: false,
        same_site: None,
        path: None,
        domain: None,
    };
    for attr in parts {
        let (key, value) = attr.split_once('=').unwrap_or((attr, ""));
        match key.trim().to_ascii_lowercase().as_str() {
            "secure" => cookie.secure = true,
            "httponly" => cookie.http_only = true,
            "samesite" => {
                cookie.same_site =
                    Some(SameSite::parse(value).ok_or_else(|| value.trim().to_string()))
            }
            "path" => cookie.path = Some(value.trim().to_string()),
            "domain" if !value.trim().is_empty() => cookie.domain = Some(value.trim().to_string()),
            _ => {}
        }
    }
    cookie
}

/// Parts of cookie names that mark a session or credential cookie (compared
/// case-insensitively): `PHPSESSID`, `JSESSIONID`, `ASP.NET_SessionId`, `laravel_session`,
/// `_session_id` (sess), `connect.sid`, `SID`, `APISID` (sid), `.ASPXAUTH` (auth),
/// `access_token`, `CFTOKEN` (token), `jwt`, `login`, `logged_in`, `remember_token`,
/// `KEYCLOAK_IDENTITY` (identity).
const SESSION_WORDS: [&str; 8] = [
    "sess",
    "auth",
    "token",
    "jwt",
    "login",
    "logged_in",
    "remember",
    "identity",
];

/// Whether a cookie name looks like a session's: it has one of [`SESSION_WORDS`], or `sid`
/// not followed by a letter (`connect.sid`, `SID`, `sid_v2`, but not `sidebar`), or is
/// ColdFusion's `CFID`. CSRF tokens (`csrf`, `xsrf` in the name) are not: scripts must read
/// them for the double-submit pattern.
pub fn session_like(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    if lower.contains("csrf") || lower.contains("xsrf") {
        return false;
    }
    let sid = lower.match_indices("sid").any(|(at, _)| {
        !lower[at + 3..]
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic())
    });
    sid || lower == "cfid" || SESSION_WORDS.iter().any(|w| lower.contains(w))
}

pub(super) fn evaluate_cookies(check: &Check, headers: &HeaderMap) -> Vec<Finding> {
    let Check::Cookies {
        all_have,
        samesite_at_least,
        session_like: only,
        samesite_valid,
        prefix_rules,
    } = check
    else {
        return Vec::new();
    };
    let mut findings = Vec::new();
    for value in headers.get_all(http::header::SET_COOKIE) {
        let cookie = parse_set_cookie(&String::from_utf8_lossy(value.as_bytes()));
        if only.is_some_and(|want| session_like(&cookie.name) != want) {
            continue;
        }
        // The name and the SameSite value come from the target: `Finding::redacted` scrubs
        // and clips them like any observation.
        let label = format!("cookie {}", cookie.name);
        let set = format!("Set-Cookie {}", cookie.name);
        let mut push = |check: String, expected: String, observed: String| {
            findings.push(Finding {
                check,
                expected,
                observed,
                detail: None,
                severity: None,
            });
        };
        for flag in all_have {
            let (has, flag_name) = match flag {
                CookieFlag::Secure => (cookie.secure, "Secure"),
                CookieFlag::HttpOnly => (cookie.http_only, "HttpOnly"),
            };
            if !has {
                push(
                    format!("{label} has the {flag_name} flag"),
                    format!("{set} with {flag_name}"),
                    format!("{set} without {flag_name}"),
                );
            }
        }
        if let Some(min) = *samesite_at_least {
            // Browsers treat a missing SameSite as Lax.
            let observed = match &cookie.same_site {
                None => Ok(SameSite::Lax),
                Some(s) => s.clone(),
            };
            let weak = match &observed {
                Ok(level) => *level < min,
                Err(_) => true,
            };
            if weak {
                push(
                    format!("{label} has SameSite {} or stricter", min.name()),
                    format!("{set} with SameSite={} or stricter", min.name()),
                    match observed {
                        Ok(level) if cookie.same_site.is_none() => {
                            format!("{set} without SameSite (treated as {})", level.name())
                        }
                        Ok(level) => format!("{set} with SameSite={}", level.name()),
                        Err(raw) => format!("{set} with an invalid SameSite {raw:?}"),
                    },
                );
            }
        }
        if *samesite_valid {
            let observed = match &cookie.same_site {
                Some(Err(raw)) => Some(format!("{set} with an invalid SameSite {raw:?}")),
                // Browsers reject a SameSite=None cookie without Secure.
                Some(Ok(SameSite::None)) if !cookie.secure => {
                    Some(format!("{set} with SameSite=None but without Secure"))
                }
                _ => None,
            };
            if let Some(observed) = observed {
                push(
                    format!("{label} has a valid SameSite"),
                    format!("{set} with SameSite Strict, Lax, or None with Secure"),
                    observed,
                );
            }
        }
        if *prefix_rules && let Some((prefix, expected, broken)) = prefix_violations(&cookie) {
            push(
                format!("{label} keeps the {prefix} prefix rules"),
                format!("{set} with {expected}"),
                format!("{set} {}", list_words(&broken, "and")),
            );
        }
    }
    findings
}

/// The rules of RFC 6265bis cookie name prefixes (matched case-insensitively, as current
/// browsers do) that `cookie` breaks: `__Secure-` needs `Secure`; `__Host-` needs `Secure`,
/// `Path=/` and no `Domain`. `None` when the name has no prefix or keeps its rules.
fn prefix_violations(cookie: &SetCookie) -> Option<(&'static str, &'static str, Vec<String>)> {
    let lower = cookie.name.to_ascii_lowercase();
    let mut broken = Vec::new();
    if !cookie.secure {
        broken.push("without Secure".to_string());
    }
    let (prefix, expected) = if lower.starts_with("__host-") {
        match cookie.path.as_deref() {
            Some("/") => {}
            Some(path) => broken.push(format!("with Path {path:?}")),
            None => broken.push("without Path".to_string()),
        }
        if let Some(domain) = &cookie.domain {
            broken.push(format!("with Domain {domain:?}"));
        }
        ("__Host-", "Secure, Path=/ and no Domain")
    } else if lower.starts_with("__secure-") {
        ("__Secure-", "Secure")
    } else {
        return None;
    };
    (!broken.is_empty()).then_some((prefix, expected, broken))
}

#[cfg(test)]
mod tests {
    use super::super::tests::{evaluate, response};
    use super::super::*;
    use crate::check::MAX_OBSERVED_CHARS;
    use crate::redact::Redactor;

    #[test]
    fn cookies_flags_and_samesite() {
        let check = Check::Cookies {
            all_have: vec![CookieFlag::Secure, CookieFlag::HttpOnly],
            samesite_at_least: Some(SameSite::Lax),
            session_like: None,
            samesite_valid: false,
            prefix_rules: false,
        };
        let good = response(
            &[("set-cookie", "sid=1; Secure; HttpOnly; SameSite=Strict")],
            "",
        );
        assert!(
            evaluate(std::slice::from_ref(&check), &good)
                .findings
                .is_empty()
        );
        let bad = response(&[("set-cookie", "sid=1; HttpOnly; SameSite=None")], "");
        let f = evaluate(&[check], &bad).findings;
        assert_eq!(f.len(), 2);
        assert_eq!(f[0].check, "cookie sid has the Secure flag");
        assert_eq!(f[1].observed, "Set-Cookie sid with SameSite=None");
    }

    #[test]
    fn a_long_invalid_samesite_is_clipped() {
        let check = Check::Cookies {
            all_have: vec![],
            samesite_at_least: Some(SameSite::None),
            session_like: None,
            samesite_valid: false,
            prefix_rules: false,
        };
        let long = format!("sid=1; SameSite={}", "x\t".repeat(500));
        let f: Vec<Finding> = evaluate(&[check], &response(&[("set-cookie", &long)], ""))
            .findings
            .iter()
            .map(|f| f.redacted(&Redactor::default()))
            .collect();
        assert_eq!(f.len(), 1);
        assert!(
            f[0].observed
                .starts_with("Set-Cookie sid with an invalid SameSite \"x\\t"),
            "{}",
            f[0].observed
        );
        assert!(f[0].observed.chars().count() <= MAX_OBSERVED_CHARS + 1);
    }

    fn cookie_check(
        all_have: Vec<CookieFlag>,
        session_like: Option<bool>,
        samesite_valid: bool,
        prefix_rules: bool,
    ) -> Check {
        Check::Cookies {
            all_have,
            samesite_at_least: None,
            session_like,
            samesite_valid,
            prefix_rules,
        }
    }

    /// (check, observed) of every finding of `check` on these `Set-Cookie` values.
    fn cookie_findings(check: &Check, values: &[&str]) -> Vec<(String, String)> {
        let headers: Vec<(&str, &str)> = values.iter().map(|v| ("set-cookie", *v)).collect();
        evaluate(std::slice::from_ref(check), &response(&headers, ""))
            .findings
            .into_iter()
            .map(|f| (f.check, f.observed))
            .collect()
    }

    #[test]
    fn session_like_cookie_names() {
        for name in [
            "PHPSESSID",
            "JSESSIONID",
            "ASP.NET_SessionId",
            "connect.sid",
            "laravel_session",
            "_session_id",
            "_shop_session",
            "sessionid",
            "SID",
            "APISID",
            "sid_v2",
            ".ASPXAUTH",
            "access_token",
            "CFID",
            "CFTOKEN",
            "jwt",
            "remember_web_59ba36",
            "wordpress_logged_in_abc",
            "KEYCLOAK_IDENTITY",
            "__Host-next-auth.session-token",
        ] {
            assert!(session_like(name), "{name}");
        }
        for name in [
            "theme",
            "lang",
            "sidebar_state",
            "_ga",
            "csrftoken",
            "XSRF-TOKEN",
            "__Host-csrf",
            "consent",
            "",
        ] {
            assert!(!session_like(name), "{name}");
        }
    }

    #[test]
    fn cookies_select_session_like_names() {
        let set = ["sid=1; Path=/", "theme=dark; Path=/"];
        let session = cookie_check(vec![CookieFlag::HttpOnly], Some(true), false, false);
        assert_eq!(
            cookie_findings(&session, &set),
            [(
                "cookie sid has the HttpOnly flag".into(),
                "Set-Cookie sid without HttpOnly".into()
            )]
        );
        let others = cookie_check(vec![CookieFlag::HttpOnly], Some(false), false, false);
        assert_eq!(
            cookie_findings(&others, &set),
            [(
                "cookie theme has the HttpOnly flag".into(),
                "Set-Cookie theme without HttpOnly".into()
            )]
        );
        let all = cookie_check(vec![CookieFlag::HttpOnly], None, false, false);
        assert_eq!(cookie_findings(&all, &set).len(), 2);
    }

    #[test]
    fn samesite_must_be_known_and_none_needs_secure() {
        let check = cookie_check(vec![], None, true, false);
        for good in [
            "a=1",
            "a=1; SameSite=Lax",
            "a=1; samesite=STRICT",
            "a=1; SameSite=None; Secure",
        ] {
            assert!(cookie_findings(&check, &[good]).is_empty(), "{good}");
        }
        assert_eq!(
            cookie_findings(&check, &["a=1; SameSite=None"]),
            [(
                "cookie a has a valid SameSite".into(),
                "Set-Cookie a with SameSite=None but without Secure".into()
            )]
        );
        assert_eq!(
            cookie_findings(&check, &["a=1; Secure; SameSite=Lenient"])[0].1,
            "Set-Cookie a with an invalid SameSite \"Lenient\""
        );
    }

    #[test]
    fn cookie_prefixes_keep_their_rules() {
        let check = cookie_check(vec![], None, false, true);
        for good in [
            "plain=1",
            "__Host-id=1; Secure; Path=/",
            "__host-id=1; secure; path=/; SameSite=Lax",
            "__Host-id=1; Secure; Path=/; Domain=",
            "__Secure-id=1; Secure; Domain=example.com; Path=/app",
            // No prefix: the rules do not apply.
            "_Host-id=1",
        ] {
            assert!(cookie_findings(&check, &[good]).is_empty(), "{good}");
        }
        let cases: &[(&str, &str)] = &[
            ("__Host-id=1; Path=/", "Set-Cookie __Host-id without Secure"),
            ("__Host-id=1; Secure", "Set-Cookie __Host-id without Path"),
            (
                "__Host-id=1; Secure; Path=/app",
                "Set-Cookie __Host-id with Path \"/app\"",
            ),
            (
                "__Host-id=1; Secure; Path=/; Domain=example.com",
                "Set-Cookie __Host-id with Domain \"example.com\"",
            ),
            (
                "__HOST-id=1; Domain=example.com",
                "Set-Cookie __HOST-id without Secure, without Path and with Domain \"example.com\"",
            ),
            (
                "__Secure-id=1; HttpOnly",
                "Set-Cookie __Secure-id without Secure",
            ),
        ];
        for (value, observed) in cases {
            let f = cookie_findings(&check, &[value]);
            assert_eq!(f.len(), 1, "{value}");
            assert_eq!(f[0].1, *observed, "{value}");
            assert!(f[0].0.ends_with("prefix rules"), "{}", f[0].0);
        }
    }
}
