//! Redirect checks: where a response's `Location` leads (scheme, same host).

use super::describe::location_terms;
use super::header::header_value;
use super::{Check, finding};
use crate::check::response::Response;
use crate::outcome::Finding;

pub(super) fn evaluate_location(
    check: &Check,
    scheme: Option<&str>,
    same_host: Option<bool>,
    response: &Response,
) -> Option<Finding> {
    let expected = format!("a redirect{}", location_terms(scheme, same_host));
    let Some(to) = response.redirect_target() else {
        let location = header_value(&response.headers, &http::header::LOCATION);
        return Some(finding(
            check,
            expected,
            match location {
                Some(l) if response.status.is_redirection() => {
                    format!(
                        "status {}, Location {l:?} is not a URL",
                        response.status.as_u16()
                    )
                }
                _ => format!("status {}, no redirect", response.status.as_u16()),
            },
        ));
    };
    let mut wrong = Vec::new();
    if let Some(want) = scheme
        && !to.scheme().eq_ignore_ascii_case(want)
    {
        wrong.push(format!("scheme {}", to.scheme()));
    }
    let here = response.url.host_str().unwrap_or_default();
    let there = to.host_str().unwrap_or_default();
    match same_host {
        Some(true) if !there.eq_ignore_ascii_case(here) => {
            wrong.push(format!("host {there}, not {here}"));
        }
        Some(false) if there.eq_ignore_ascii_case(here) => {
            wrong.push(format!("the same host {there}"));
        }
        _ => {}
    }
    (!wrong.is_empty()).then(|| {
        finding(
            check,
            expected,
            format!(
                "status {}, Location {} ({})",
                response.status.as_u16(),
                to,
                wrong.join(", ")
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::super::tests::{evaluate, response, verdict};
    use super::super::*;

    #[test]
    fn location_resolves_against_the_request_and_compares_scheme_and_host() {
        let check = Check::Location {
            scheme: Some("https".into()),
            same_host: Some(true),
        };
        let redirect = |status: u16, location: &str| {
            let mut r = response(&[("location", location)], "");
            r.status = StatusCode::from_u16(status).unwrap();
            r
        };
        for (status, location, want) in [
            (301, "https://127.0.0.1:8443/", "holds"),
            (308, "https://127.0.0.1/a?b", "holds"),
            (302, "https://127.0.0.2/", "fails"),
            (301, "http://127.0.0.1/", "fails"),
            (301, "/login", "fails"),
            (301, "//127.0.0.1/", "fails"),
            (200, "https://127.0.0.1/", "fails"),
        ] {
            assert_eq!(
                verdict(&check, &redirect(status, location)),
                want,
                "{status} {location}"
            );
        }
        let f = evaluate(
            std::slice::from_ref(&check),
            &redirect(302, "https://127.0.0.2/x?token=1"),
        )
        .findings;
        assert_eq!(
            f[0].observed,
            "status 302, Location https://127.0.0.2/x?token=1 (host 127.0.0.2, not 127.0.0.1)"
        );
        assert_eq!(f[0].expected, "a redirect to https:// on the same host");
        let f = evaluate(&[check], &response(&[], "")).findings;
        assert_eq!(f[0].observed, "status 200, no redirect");
        let other = Check::Location {
            scheme: None,
            same_host: Some(false),
        };
        assert_eq!(
            verdict(&other, &redirect(302, "https://evil.invalid/")),
            "holds"
        );
        assert_eq!(verdict(&other, &redirect(302, "/next")), "fails");
    }
}
