//! Access control for the API (`api.token`): every route but `/healthz` and `/readyz` wants
//! `Authorization: Bearer <token>`.
//!
//! A browser cannot send that header by itself, so `/?token=<token>` is accepted once: picket
//! answers with a redirect to the same page without the token, setting a session cookie
//! (`HttpOnly`, `SameSite=Strict`, `Secure` over TLS). The cookie does not hold the token: it
//! holds an HMAC-SHA256 of a fixed label keyed with the token, so it opens the API the same way
//! but cannot be replayed as the bearer token elsewhere, it stays valid across restarts and
//! replicas, and changing the token ends every session.
//!
//! Comparisons are constant-time (ring's HMAC verification): a presented token is checked as
//! an HMAC tag under a key drawn at startup, so neither its content nor its length leaks
//! through timing.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::hmac;

/// The name of the dashboard's session cookie.
pub const COOKIE: &str = "picket_session";
/// What the cookie value is an HMAC of (keyed with the token).
const COOKIE_LABEL: &[u8] = b"picket dashboard session v1";

/// The API's credentials: the bearer token and the session cookie derived from it.
pub struct Auth {
    /// A random key, and the token's tag under it: a presented token is verified as a tag.
    bearer_key: hmac::Key,
    bearer_tag: hmac::Tag,
    /// The token as an HMAC key: a presented cookie is verified as its tag of [`COOKIE_LABEL`].
    cookie_key: hmac::Key,
    /// The cookie value handed to browsers.
    cookie_value: String,
    /// Whether the API is served over TLS (the cookie is then `Secure`).
    secure: bool,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth").finish_non_exhaustive()
    }
}

impl Auth {
    /// Credentials for `token`. The session cookie value opens the API like the token itself:
    /// whoever holds the token's redactor adds [`Auth::secrets`] to it.
    pub fn new(token: &str, secure: bool) -> Auth {
        let rng = ring::rand::SystemRandom::new();
        // Only fails if the system has no randomness, in which case nothing else works
        // either; a fixed key would still compare in constant time.
        let bearer_key = hmac::Key::generate(hmac::HMAC_SHA256, &rng)
            .unwrap_or_else(|_| hmac::Key::new(hmac::HMAC_SHA256, b"picket"));
        let bearer_tag = hmac::sign(&bearer_key, token.as_bytes());
        let cookie_key = hmac::Key::new(hmac::HMAC_SHA256, token.as_bytes());
        let cookie_value = URL_SAFE_NO_PAD.encode(hmac::sign(&cookie_key, COOKIE_LABEL));
        Auth {
            bearer_key,
            bearer_tag,
            cookie_key,
            cookie_value,
            secure,
        }
    }

    /// The secrets these credentials make besides the token: the session cookie value.
    pub fn secrets(&self) -> crate::redact::Redactor {
        let mut redactor = crate::redact::Redactor::default();
        redactor.add(&self.cookie_value);
        redactor
    }

    /// Whether `presented` is the token, in constant time.
    pub fn token_matches(&self, presented: &str) -> bool {
        hmac::verify(
            &self.bearer_key,
            presented.as_bytes(),
            self.bearer_tag.as_ref(),
        )
        .is_ok()
    }

    /// Whether `presented` is the session cookie's value, in constant time.
    fn cookie_matches(&self, presented: &str) -> bool {
        URL_SAFE_NO_PAD
            .decode(presented)
            .is_ok_and(|tag| hmac::verify(&self.cookie_key, COOKIE_LABEL, &tag).is_ok())
    }

    fn set_cookie(&self) -> String {
        let secure = if self.secure { "; Secure" } else { "" };
        format!(
            "{COOKIE}={}; Path=/; HttpOnly; SameSite=Strict{secure}",
            self.cookie_value
        )
    }
}

/// What a request presented.
enum Presented {
    /// Nothing.
    Nothing,
    /// The right credentials.
    Valid,
    /// A bearer token or a cookie that is not right.
    Invalid,
    /// `?token=` on the dashboard: right or not, and the query without it.
    Query { valid: bool, rest: String },
    /// Something the scheme does not allow (another `Authorization` scheme); named in the 401.
    Unsupported(String),
}

fn presented(auth: &Auth, request: &Request) -> Presented {
    if let Some(value) = request.headers().get(header::AUTHORIZATION) {
        let Ok(text) = value.to_str() else {
            return Presented::Invalid;
        };
        let text = text.trim();
        let (scheme, token) = text.split_once(' ').unwrap_or((text, ""));
        return if !scheme.eq_ignore_ascii_case("bearer") {
            Presented::Unsupported(scheme.to_string())
        } else if auth.token_matches(token.trim()) {
            Presented::Valid
        } else {
            Presented::Invalid
        };
    }
    if request.uri().path() == "/"
        && let Some(query) = request.uri().query()
        && let Some(token) = query_token(query)
    {
        let rest: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(
                url::form_urlencoded::parse(query.as_bytes()).filter(|(k, _)| k != "token"),
            )
            .finish();
        return Presented::Query {
            valid: auth.token_matches(&token),
            rest,
        };
    }
    match cookie(request.headers()) {
        Some(value) if auth.cookie_matches(value) => Presented::Valid,
        Some(_) => Presented::Invalid,
        None => Presented::Nothing,
    }
}

fn query_token(query: &str) -> Option<String> {
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.into_owned())
}

/// The value of the session cookie, if the request carries one.
fn cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            (name == COOKIE).then_some(value)
        })
}

/// Lets through requests with the token (or the session cookie); answers the rest 401.
pub(super) async fn require(
    State(auth): State<Arc<Auth>>,
    request: Request,
    next: Next,
) -> Response {
    match presented(&auth, &request) {
        Presented::Valid => next.run(request).await,
        Presented::Query { valid: true, rest } => {
            let location = if rest.is_empty() {
                "/".to_string()
            } else {
                format!("/?{rest}")
            };
            let mut response = StatusCode::SEE_OTHER.into_response();
            let headers = response.headers_mut();
            if let Ok(v) = HeaderValue::from_str(&location) {
                headers.insert(header::LOCATION, v);
            }
            if let Ok(v) = HeaderValue::from_str(&auth.set_cookie()) {
                headers.insert(header::SET_COOKIE, v);
            }
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            // The address bar held the token: keep it out of any `Referer`.
            headers.insert(
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            );
            response
        }
        Presented::Nothing => unauthorized(false, None),
        Presented::Invalid | Presented::Query { valid: false, .. } => unauthorized(true, None),
        Presented::Unsupported(scheme) => unauthorized(false, Some(&scheme)),
    }
}

/// A 401 with the challenge of RFC 6750 (`error="invalid_token"` when a wrong token was sent)
/// and a one-line explanation.
fn unauthorized(invalid: bool, scheme: Option<&str>) -> Response {
    let challenge = if invalid {
        "Bearer realm=\"picket\", error=\"invalid_token\""
    } else {
        "Bearer realm=\"picket\""
    };
    let body = match (invalid, scheme) {
        (true, _) => "unauthorized: the token is not right\n".to_string(),
        (false, Some(s)) => format!(
            "unauthorized: send `Authorization: Bearer <api.token>`, not `{}`\n",
            crate::term::escape_controls(s)
        ),
        (false, None) => "unauthorized: send `Authorization: Bearer <api.token>`; in a browser, \
                          open /?token=<api.token> once\n"
            .to_string(),
    };
    (
        StatusCode::UNAUTHORIZED,
        [
            (header::WWW_AUTHENTICATE, challenge),
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "0123456789abcdef-token";

    #[test]
    fn tokens_and_cookies_are_checked_exactly() {
        let auth = Auth::new(TOKEN, false);
        assert!(auth.token_matches(TOKEN));
        for wrong in ["", "0123456789abcdef-toke", "0123456789abcdef-tokenx", "x"] {
            assert!(!auth.token_matches(wrong), "{wrong}");
        }
        assert!(auth.cookie_matches(&auth.cookie_value));
        assert!(!auth.cookie_matches(TOKEN));
        assert!(!auth.cookie_matches("not base64!"));
        // Derived from the token, not drawn at random: the same across restarts and replicas.
        assert_eq!(Auth::new(TOKEN, false).cookie_value, auth.cookie_value);
        assert_ne!(
            Auth::new("another-token-0123", false).cookie_value,
            auth.cookie_value
        );
        assert!(!auth.cookie_value.contains(TOKEN));
    }

    #[test]
    fn the_cookie_is_http_only_strict_and_secure_over_tls() {
        let plain = Auth::new(TOKEN, false).set_cookie();
        assert!(plain.starts_with("picket_session="), "{plain}");
        assert!(plain.contains("; HttpOnly; SameSite=Strict"), "{plain}");
        assert!(!plain.contains("Secure"), "{plain}");
        assert!(Auth::new(TOKEN, true).set_cookie().ends_with("; Secure"));
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; picket_session=xyz"),
        );
        assert_eq!(cookie(&headers), Some("xyz"));
        headers.clear();
        headers.append(
            header::COOKIE,
            HeaderValue::from_static("picket_sessionx=1"),
        );
        assert_eq!(cookie(&headers), None);
    }
}
