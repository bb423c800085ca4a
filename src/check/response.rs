//! The observed response that http checks (picket's and nuclei's) are evaluated over.

use std::time::Duration;

use http::{HeaderMap, HeaderName, StatusCode};
use url::Url;

/// The part of a response that checks look at.
#[derive(Debug, Clone)]
pub struct Response {
    /// Status code of the final response.
    pub status: StatusCode,
    /// Response headers.
    pub headers: HeaderMap,
    /// The body, at most `max_body_bytes` of it.
    pub body: Vec<u8>,
    /// Whether the body was longer than the cap and reading stopped.
    pub truncated: bool,
    /// Time from sending the request to the end of reading the body.
    pub elapsed: Duration,
    /// The URL this response answered (the last one, after redirects followed): relative
    /// `Location`s resolve against it.
    pub url: Url,
}

impl Response {
    /// Where a redirect sends the client: a 3xx with a `Location`, resolved against
    /// [`Response::url`].
    pub fn redirect_target(&self) -> Option<Url> {
        if !self.status.is_redirection() {
            return None;
        }
        let location = self.headers.get(http::header::LOCATION)?.to_str().ok()?;
        self.url.join(location.trim()).ok()
    }

    /// Whether the body is an HTML document, by its Content-Type.
    pub(crate) fn is_html(&self) -> bool {
        self.headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                let essence = v.split(';').next().unwrap_or("").trim();
                essence.eq_ignore_ascii_case("text/html")
                    || essence.eq_ignore_ascii_case("application/xhtml+xml")
            })
            .unwrap_or(false)
    }
}

/// A header name as people write it: `X-Frame-Options`, `Content-Security-Policy`.
pub fn header_display(name: &HeaderName) -> String {
    name.as_str()
        .split('-')
        .map(|part| {
            let mut chars = part.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_ascii_uppercase().to_string() + chars.as_str()
            })
        })
        .collect::<Vec<_>>()
        .join("-")
}
