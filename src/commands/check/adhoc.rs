//! The ad-hoc `--target URL` of `picket check` (no config file): its URL, the hint when it
//! lacks a scheme, and the facts `--var NAME=VALUE` gives about it.

use std::path::Path;

use url::Url;

use super::CheckOptions;
use crate::commands::DEFAULT_CONFIG;
use crate::config::{EnvLookup, Var};
use crate::term::escape_controls;

/// A `--var` argument that is not `NAME=VALUE`; clap shows the text as its reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidVar {
    /// No `=`.
    #[error("write NAME=VALUE, e.g. `protected_paths=/admin,/api`")]
    NoEquals,
    /// A name with characters other than letters, digits and `_`, or none.
    #[error(
        "`{}` is not a variable name: use letters, digits and `_`, e.g. `protected_paths`",
        escape_controls(.name)
    )]
    BadName {
        /// The name as given (trimmed).
        name: String,
    },
    /// Nothing but commas and blanks after `=`.
    #[error("`{name}` has no value; write e.g. `{name}=/admin` (commas make a list)")]
    NoValue {
        /// The variable's name.
        name: String,
    },
}

/// Parses `--var NAME=VALUE`: a name of letters, digits and `_`, then `=`, then a value.
pub fn parse_var(text: &str) -> Result<(String, String), InvalidVar> {
    let Some((name, value)) = text.split_once('=') else {
        return Err(InvalidVar::NoEquals);
    };
    let name = name.trim();
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(InvalidVar::BadName { name: name.into() });
    }
    if value.split(',').all(|item| item.trim().is_empty()) {
        return Err(InvalidVar::NoValue { name: name.into() });
    }
    Ok((name.to_string(), value.to_string()))
}

/// A `--var` value whose `${env:…}` cannot be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("--var {name}: {reason}")]
pub(super) struct UnresolvedVar {
    /// The variable's name.
    name: String,
    /// Why ([`crate::config::resolve_cli_value`]); part of the message, so not a source.
    reason: crate::config::CliValueError,
}

/// The vars of `--var`: each value split at commas (items trimmed, empty ones dropped), a
/// repeated name adding to its list, and `${env:NAME}` resolved (its value then secret).
pub(super) fn cli_vars(
    given: &[(String, String)],
    env: EnvLookup<'_>,
    redactor: &mut crate::redact::Redactor,
) -> Result<std::collections::BTreeMap<String, Var>, UnresolvedVar> {
    let mut vars = std::collections::BTreeMap::new();
    for (name, value) in given {
        let mut items = Vec::new();
        for item in value.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            items.push(
                crate::config::resolve_cli_value(item, env, redactor).map_err(|reason| {
                    UnresolvedVar {
                        name: name.clone(),
                        reason,
                    }
                })?,
            );
        }
        let var = match (vars.remove(name), items.len(), value.contains(',')) {
            (None, 1, false) => Var::One(items.remove(0)),
            (None, _, _) => Var::List(items),
            (Some(Var::One(first)), _, _) => {
                Var::List(std::iter::once(first).chain(items).collect())
            }
            (Some(Var::List(mut list)), _, _) => {
                list.extend(items);
                Var::List(list)
            }
        };
        vars.insert(name.clone(), var);
    }
    Ok(vars)
}

/// An ad-hoc `--target` without `scheme://`, such as `127.0.0.1:8080` or `example.com`: not
/// a target name, or a host name where there is no config to hold targets.
pub(super) fn missing_scheme(opts: &CheckOptions) -> Option<String> {
    let target = opts.target.as_deref()?;
    if target.contains("://") {
        return None;
    }
    let hostlike = target.contains('.')
        || target.eq_ignore_ascii_case("localhost")
        || target.parse::<std::net::IpAddr>().is_ok();
    let no_config = opts.config.is_none() && !Path::new(DEFAULT_CONFIG).exists();
    if crate::config::valid_target_name(target) && !(no_config && hostlike) {
        return None;
    }
    let scheme = if target.ends_with(":443") {
        "https"
    } else {
        "http"
    };
    // An IPv6 literal goes in brackets in a URL.
    let host = if target.parse::<std::net::Ipv6Addr>().is_ok() {
        format!("[{target}]")
    } else {
        target.to_string()
    };
    let host = escape_controls(&host);
    let shown = escape_controls(target);
    let mut text = format!(
        "error: `{shown}` has no scheme: an ad-hoc --target is a URL starting with http://, https://, tls:// or tcp://"
    );
    if opts.config.is_some() {
        text.push_str(&format!(
            "\n  hint: with -c, --target names a target of the config; to check a URL, leave out -c: `picket check --target {scheme}://{host}`"
        ));
    } else {
        text.push_str(&format!(
            "\n  hint: did you mean `--target {scheme}://{host}`?"
        ));
    }
    Some(text)
}

/// How to write an ad-hoc `--target`, the hint of [`AdhocUrlError`].
const ADHOC_USAGE: &str =
    "write http://HOST[:PORT], https://HOST[:PORT], tls://HOST:PORT or tcp://HOST:PORT";

/// An ad-hoc `--target` that is not a URL picket can check. The text is printed as is: it
/// holds the `error:` line and its hint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(super) enum AdhocUrlError {
    /// A `tls://` or `tcp://` URL without a port.
    #[error(
        "error: `{}` has no port: a {scheme}:// target needs one\n  hint: e.g. `{scheme}://{host}:{}`",
        escape_controls(.text),
        if scheme == "tls" { "443" } else { "6379" }
    )]
    NoPort {
        /// The URL as given.
        text: String,
        /// `tls` or `tcp`.
        scheme: String,
        /// The URL's host.
        host: String,
    },
    /// A URL of another scheme.
    #[error(
        "error: `{}` is not a URL picket can check (scheme `{}`)\n  hint: {ADHOC_USAGE}",
        escape_controls(.text),
        escape_controls(.scheme)
    )]
    Scheme {
        /// The URL as given.
        text: String,
        /// Its scheme.
        scheme: String,
    },
    /// Not a URL, or one without a host.
    #[error(
        "error: `{}` is not a URL picket can check\n  hint: {ADHOC_USAGE}",
        escape_controls(.text)
    )]
    NotAUrl {
        /// The text as given.
        text: String,
        /// Why it does not parse, when it does not.
        #[source]
        source: Option<url::ParseError>,
    },
}

/// Parses the URL of an ad-hoc `--target`: http and https with a host, tls and tcp with a
/// host and a port.
pub(super) fn adhoc_target_url(text: &str) -> Result<Url, AdhocUrlError> {
    match Url::parse(text) {
        Ok(u) if u.host().is_some() && matches!(u.scheme(), "http" | "https") => Ok(u),
        Ok(u) if u.host().is_some() && matches!(u.scheme(), "tls" | "tcp") => {
            if u.port().is_none() {
                Err(AdhocUrlError::NoPort {
                    text: text.into(),
                    scheme: u.scheme().into(),
                    host: u.host_str().unwrap_or("HOST").into(),
                })
            } else {
                Ok(u)
            }
        }
        Ok(u) if u.host().is_some() => Err(AdhocUrlError::Scheme {
            text: text.into(),
            scheme: u.scheme().into(),
        }),
        parsed => Err(AdhocUrlError::NotAUrl {
            text: text.into(),
            source: parsed.err(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(var: &Var) -> Vec<String> {
        match var {
            Var::One(v) => vec![format!("one:{}", v.expose())],
            Var::List(items) => items.iter().map(|v| v.expose().clone()).collect(),
        }
    }

    #[test]
    fn cli_vars_make_lists_from_commas_and_repeats() {
        let given = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect()
        };
        let env = |name: &str| (name == "TOKEN").then(|| "tok-12345".to_string());
        let mut redactor = crate::redact::Redactor::default();
        let vars = cli_vars(
            &given(&[
                ("one", "/admin"),
                ("list", "/a, /b,,"),
                ("single_list", "/x,"),
                ("repeat", "1"),
                ("repeat", "2,3"),
                ("secret", "${env:TOKEN}"),
            ]),
            &env,
            &mut redactor,
        )
        .unwrap();
        assert_eq!(shown(&vars["one"]), ["one:/admin"]);
        assert_eq!(shown(&vars["list"]), ["/a", "/b"]);
        assert_eq!(shown(&vars["single_list"]), ["/x"]);
        assert!(matches!(vars["single_list"], Var::List(_)));
        assert_eq!(shown(&vars["repeat"]), ["1", "2", "3"]);
        assert_eq!(shown(&vars["secret"]), ["one:tok-12345"]);
        assert!(!redactor.scrub("a tok-12345 b").contains("tok-12345"));
        let missing = cli_vars(&given(&[("x", "${env:NOPE}")]), &env, &mut redactor);
        assert!(
            missing
                .unwrap_err()
                .to_string()
                .contains("`NOPE` is not set")
        );
    }

    #[test]
    fn var_arguments_need_a_name_and_a_value() {
        assert_eq!(
            parse_var("protected_paths=/admin,/api").unwrap(),
            ("protected_paths".into(), "/admin,/api".into())
        );
        // Only the first `=` splits.
        assert_eq!(parse_var("q=a=b").unwrap().1, "a=b");
        for bad in ["nothing", "=x", "a b=x", "x=", "x= , "] {
            assert!(parse_var(bad).is_err(), "{bad}");
        }
    }
}
