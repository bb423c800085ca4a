//! Content-Security-Policy checks: gathering a response's policies (headers and `<meta>`) and
//! testing them through [`crate::check::csp`].

use super::body::body_text;
use super::{Check, CspTest, Verdict, finding};
use crate::check::csp;
use crate::check::response::Response;

/// The response's enforced policies: the header's, then (for an HTML body, when `meta`) those
/// of `<meta http-equiv>`; `open` when a truncated body may still hold a `<meta>` policy.
fn csp_policies(response: &Response, meta: bool) -> (Vec<csp::Policy>, bool) {
    let lines: Vec<String> = response
        .headers
        .get_all(http::header::CONTENT_SECURITY_POLICY)
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .collect();
    let mut policies = csp::header_policies(lines.iter().map(String::as_str));
    let mut open = false;
    if meta && response.is_html() {
        match csp::meta_policies(&body_text(response), !response.truncated) {
            Some(found) => policies.extend(found),
            None => open = true,
        }
    }
    (policies, open)
}

/// The policies as written, for findings.
fn csp_text(policies: &[csp::Policy]) -> String {
    policies
        .iter()
        .map(|p| format!("{:?}", p.text))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(super) fn evaluate_csp(
    check: &Check,
    test: &CspTest,
    meta: bool,
    response: &Response,
) -> Verdict {
    const NONE: &str = "no Content-Security-Policy";
    let fails =
        |expected: &str, observed: String| Verdict::Fails(vec![finding(check, expected, observed)]);
    match test {
        CspTest::Parsable => {
            let expected = "a Content-Security-Policy of well-formed directives";
            let (policies, open) = csp_policies(response, meta);
            let malformed: Vec<&str> = policies
                .iter()
                .flat_map(|p| p.malformed.iter().map(String::as_str))
                .collect();
            let directives = policies.iter().any(|p| !p.directives.is_empty());
            if let Some(bad) = malformed.first() {
                fails(
                    expected,
                    format!("{:?} is not a directive, in {}", bad, csp_text(&policies)),
                )
            } else if directives {
                Verdict::Holds
            } else if open {
                Verdict::Undecided
            } else if policies.is_empty() {
                fails(expected, NONE.to_string())
            } else {
                fails(
                    expected,
                    format!(
                        "Content-Security-Policy {} has no directive",
                        csp_text(&policies)
                    ),
                )
            }
        }
        CspTest::HasDirective(name) => {
            let from_meta = meta && !csp::META_IGNORED.contains(&name.as_str());
            let (policies, open) = csp_policies(response, from_meta);
            if policies.iter().any(|p| p.get(name).is_some()) {
                Verdict::Holds
            } else if open {
                Verdict::Undecided
            } else if policies.is_empty() {
                fails(
                    &format!("a Content-Security-Policy with {name}"),
                    NONE.to_string(),
                )
            } else {
                fails(
                    &format!("a Content-Security-Policy with {name}"),
                    format!("no {name} in {}", csp_text(&policies)),
                )
            }
        }
        CspTest::RestrictsFraming => {
            // `<meta>` policies cannot set frame-ancestors.
            let (policies, _) = csp_policies(response, false);
            let expected =
                "CSP frame-ancestors naming who may frame the page ('none', 'self', hosts)";
            let framing: Vec<&csp::Directive> = policies
                .iter()
                .filter_map(|p| p.get("frame-ancestors"))
                .collect();
            let restricts =
                |d: &&csp::Directive| !d.sources.iter().any(|s| csp::allows_any_ancestor(s));
            if framing.iter().any(restricts) {
                Verdict::Holds
            } else if let Some(open) = framing.first() {
                fails(
                    expected,
                    format!("{:?} lets any site frame the page", open.text),
                )
            } else if policies.is_empty() {
                fails(expected, NONE.to_string())
            } else {
                fails(
                    expected,
                    format!("no frame-ancestors in {}", csp_text(&policies)),
                )
            }
        }
        CspTest::ForbidScriptKeywords(keywords) => {
            let (policies, open) = csp_policies(response, meta);
            let mut findings = Vec::new();
            let mut undecided = false;
            for keyword in keywords {
                match csp::script_keyword(&policies, open, *keyword) {
                    csp::KeywordVerdict::Blocked => {}
                    csp::KeywordVerdict::Allowed(directive) => findings.push(finding(
                        check,
                        format!("no {} for scripts", keyword.as_source()),
                        format!("{directive:?} allows {}", keyword.as_source()),
                    )),
                    csp::KeywordVerdict::Open => undecided = true,
                }
            }
            if !findings.is_empty() {
                Verdict::Fails(findings)
            } else if undecided {
                Verdict::Undecided
            } else {
                Verdict::Holds
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{cut, evaluate, response, verdict};
    use super::super::*;

    fn csp(test: CspTest) -> Check {
        Check::Csp { test, meta: true }
    }

    #[test]
    fn csp_parsable_reads_headers_and_meta_of_html_only() {
        let check = csp(CspTest::Parsable);
        let html = |csp: &str| {
            format!(
                "<html><head><meta http-equiv=\"Content-Security-Policy\" content=\"{csp}\"></head><body>x</body></html>"
            )
        };
        let cases: Vec<(Response, &str)> = vec![
            (
                response(&[("content-security-policy", "default-src 'self'")], ""),
                "holds",
            ),
            (response(&[], ""), "fails"),
            (
                response(&[("content-security-policy", "default-src: 'self'")], ""),
                "fails",
            ),
            (response(&[("content-security-policy", "")], ""), "fails"),
            (
                response(
                    &[("content-type", "text/html")],
                    &html("default-src 'self'"),
                ),
                "holds",
            ),
            (
                response(&[("content-type", "text/html")], &html("'self'")),
                "fails",
            ),
            // A meta tag in a JSON body is not a policy.
            (
                response(
                    &[("content-type", "application/json")],
                    &html("default-src 'self'"),
                ),
                "fails",
            ),
        ];
        for (r, want) in cases {
            assert_eq!(
                verdict(&check, &r),
                want,
                "{:?} {:?}",
                r.headers,
                r.body.len()
            );
        }
        let meta_off = Check::Csp {
            test: CspTest::Parsable,
            meta: false,
        };
        let r = response(
            &[("content-type", "text/html")],
            &html("default-src 'self'"),
        );
        assert_eq!(verdict(&meta_off, &r), "fails");
        let f = evaluate(&[check], &response(&[], "")).findings;
        assert_eq!(f[0].observed, "no Content-Security-Policy");
        assert_eq!(f[0].check, "a Content-Security-Policy is enforced");
    }

    #[test]
    fn csp_on_a_cut_head_is_undecided_until_a_header_decides() {
        let mut r = cut(b"<html><head><title>x</title>");
        r.headers
            .insert(http::header::CONTENT_TYPE, "text/html".parse().unwrap());
        assert_eq!(verdict(&csp(CspTest::Parsable), &r), "undecided");
        let keywords = csp(CspTest::ForbidScriptKeywords(vec![
            ScriptKeyword::UnsafeInline,
        ]));
        assert_eq!(verdict(&keywords, &r), "undecided");
        r.headers.insert(
            http::header::CONTENT_SECURITY_POLICY,
            "default-src 'self'".parse().unwrap(),
        );
        assert_eq!(verdict(&csp(CspTest::Parsable), &r), "holds");
        assert_eq!(verdict(&keywords, &r), "holds");
        // Framing never reads meta policies, so a cut head does not matter.
        assert_eq!(verdict(&csp(CspTest::RestrictsFraming), &r), "fails");
        // Once the head has ended, what it lacks is decided.
        let mut done = cut(b"<html><head></head><body>");
        done.headers
            .insert(http::header::CONTENT_TYPE, "text/html".parse().unwrap());
        assert_eq!(verdict(&csp(CspTest::Parsable), &done), "fails");
    }

    #[test]
    fn csp_framing_needs_a_restrictive_frame_ancestors_in_a_header() {
        let check = csp(CspTest::RestrictsFraming);
        for (value, want) in [
            ("frame-ancestors 'none'", "holds"),
            (
                "default-src 'self'; frame-ancestors 'self' https://app.example",
                "holds",
            ),
            ("frame-ancestors *", "fails"),
            ("frame-ancestors https:", "fails"),
            ("frame-ancestors 'self' http:", "fails"),
            ("frame-ancestors *:", "fails"),
            ("default-src 'self'", "fails"),
        ] {
            let r = response(&[("content-security-policy", value)], "");
            assert_eq!(verdict(&check, &r), want, "{value}");
        }
        // One restrictive policy among several is enough: each is enforced.
        let two = response(
            &[
                ("content-security-policy", "frame-ancestors *"),
                ("content-security-policy", "frame-ancestors 'none'"),
            ],
            "",
        );
        assert_eq!(verdict(&check, &two), "holds");
        let f = evaluate(
            &[check],
            &response(&[("content-security-policy", "frame-ancestors https:")], ""),
        )
        .findings;
        assert_eq!(
            f[0].observed,
            "\"frame-ancestors https:\" lets any site frame the page"
        );
        // has_directive sees frame-ancestors only in a header.
        let has = csp(CspTest::HasDirective("frame-ancestors".into()));
        let meta = response(
            &[("content-type", "text/html")],
            "<head><meta http-equiv=Content-Security-Policy content=\"frame-ancestors 'none'\"></head>",
        );
        assert_eq!(verdict(&has, &meta), "fails");
        let object = csp(CspTest::HasDirective("object-src".into()));
        let meta = response(
            &[("content-type", "text/html")],
            "<head><meta http-equiv=Content-Security-Policy content=\"object-src 'none'\"></head>",
        );
        assert_eq!(verdict(&object, &meta), "holds");
    }

    #[test]
    fn csp_script_keywords_name_the_directive_that_allows_them() {
        let check = csp(CspTest::ForbidScriptKeywords(vec![
            ScriptKeyword::UnsafeInline,
            ScriptKeyword::UnsafeEval,
        ]));
        let r = response(
            &[(
                "content-security-policy",
                "SCRIPT-SRC 'self' 'UNSAFE-INLINE' 'unsafe-eval'",
            )],
            "",
        );
        let f = evaluate(std::slice::from_ref(&check), &r).findings;
        assert_eq!(f.len(), 2);
        assert_eq!(
            f[0].observed,
            "\"SCRIPT-SRC 'self' 'UNSAFE-INLINE' 'unsafe-eval'\" allows 'unsafe-inline'"
        );
        assert_eq!(f[1].expected, "no 'unsafe-eval' for scripts");
        let nonce = response(
            &[(
                "content-security-policy",
                "script-src 'nonce-abc' 'strict-dynamic' 'unsafe-inline'",
            )],
            "",
        );
        assert_eq!(verdict(&check, &nonce), "holds");
    }
}
