//! Keeping configured secrets out of every output.
//!
//! Two layers. [`Secret`] wraps a value resolved from `${env:…}` so that its `Debug` and
//! `Display` never show it; code must call [`Secret::expose`] to send it on the wire. And a
//! [`Redactor`] remembers every secret value so text that came from elsewhere (a response
//! body that echoes a header, an error from a library) can be scrubbed before it is logged,
//! exported or printed.

use std::fmt;
use std::sync::Arc;

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

/// Scrubs known secret values out of arbitrary text.
#[derive(Clone, Default)]
pub struct Redactor {
    secrets: Arc<Vec<String>>,
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Redactor({} secrets)", self.secrets.len())
    }
}

impl Redactor {
    /// Values shorter than this are not scrubbed from free text: replacing every `ab` in a
    /// response would make findings unreadable. They are still never printed directly.
    pub const MIN_SCRUB_LEN: usize = 4;

    /// Remembers a secret value.
    pub fn add(&mut self, value: &str) {
        if value.len() < Self::MIN_SCRUB_LEN {
            return;
        }
        let secrets = Arc::make_mut(&mut self.secrets);
        if !secrets.iter().any(|s| s == value) {
            secrets.push(value.to_string());
            // Longest first, so a secret containing another is replaced whole.
            secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        }
    }

    /// Adds every secret of `other`.
    pub fn merge(&mut self, other: &Redactor) {
        for s in other.secrets.iter() {
            self.add(s);
        }
    }

    /// Replaces every known secret in `text` with [`REDACTED`].
    pub fn scrub(&self, text: &str) -> String {
        let mut out = text.to_string();
        for secret in self.secrets.iter() {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), REDACTED);
            }
        }
        out
    }

    /// True when no secrets are known.
    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let mut r = Redactor::default();
        r.add("token");
        r.add("Bearer token-123");
        r.add("ab");
        assert_eq!(
            r.scrub("got Bearer token-123 and token and ab"),
            "got <redacted> and <redacted> and ab"
        );
    }
}
