//! Request templates: literal text with `{{…}}` placeholders, filled in by the runner.
//!
//! Two placeholders exist. `{{vars.NAME}}` is a target's variable (a list variable expands a
//! path to one request per item, and is joined with `, ` elsewhere), optionally passed through
//! a filter: `{{vars.sample_jwt | jwt_alg_none}}`. `{{vars.NAME?}}` is optional: a target
//! without it is not skipped, and the placeholder stands for nothing (a path with it expands to
//! no request; in a header or a body it is empty text). `{{random}}` is the run's canary: twelve
//! lowercase letters and digits, fresh for every run and the same in every request and check
//! of that run, so a check can look for exactly what was sent.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::Rng as _;

use crate::config::Var;

/// How many characters a run's canary has.
pub const CANARY_LEN: usize = 12;

/// A fresh canary for one run: [`CANARY_LEN`] lowercase ASCII letters and digits, so it fits
/// in a host name label, a header value, a path and a regex without escaping.
pub fn new_canary() -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..CANARY_LEN)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect()
}

/// A text template: literal text with `{{vars.NAME}}`, `{{vars.NAME | FILTER}}` and
/// `{{random}}` placeholders. The text is validated and cut into its [`Part`]s once, when the
/// template is made ([`Template::parse`], [`Template::translated`]): a run renders the parts
/// and the plan reads the variables without parsing anything again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    /// The text as written.
    pub text: String,
    /// Variable names it uses, in order of appearance.
    pub vars: Vec<String>,
    /// The text cut at its placeholders, and the variables only written `{{vars.NAME?}}`.
    cut: Arc<Cut>,
}

/// What [`Template`] knows of its text once made.
#[derive(Debug, PartialEq, Eq)]
struct Cut {
    parts: Result<Vec<Part>, TemplateError>,
    optional: BTreeSet<String>,
}

impl Cut {
    fn of(text: &str, vars: &[String]) -> Cut {
        let parts = parts(text);
        let optional = {
            let cut = parts.as_deref().unwrap_or_default();
            let is = |want: bool, name: &str| {
                cut.iter().any(|p| {
                    matches!(p, Part::Var { name: n, optional, .. } if n == name && *optional == want)
                })
            };
            vars.iter()
                .filter(|n| is(true, n) && !is(false, n))
                .cloned()
                .collect()
        };
        Cut { parts, optional }
    }
}

/// Why a template is not valid, or cannot be rendered for a target. Load errors and a run's
/// error show the text; it never quotes a variable's value (usually a secret).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// `{{` without its `}}`.
    #[error("unterminated `{{{{` in `{text}`")]
    Unterminated {
        /// The whole template text.
        text: String,
    },
    /// `{{random | …}}`.
    #[error("`{{{{{inner}}}}}`: `random` takes no filter")]
    RandomFilter {
        /// The placeholder's inside.
        inner: String,
    },
    /// A placeholder that is neither `vars.NAME` nor `random`.
    #[error(
        "unknown placeholder `{{{{{inner}}}}}`; known are `{{{{vars.NAME}}}}` and `{{{{random}}}}`"
    )]
    UnknownPlaceholder {
        /// The placeholder's inside.
        inner: String,
    },
    /// `vars.` followed by something that is not a variable name.
    #[error("invalid variable name `{name}`")]
    InvalidName {
        /// The name as written.
        name: String,
    },
    /// A filter other than `jwt_alg_none`.
    #[error("unknown filter `{filter}` in `{{{{{inner}}}}}`; known is `jwt_alg_none`")]
    UnknownFilter {
        /// The filter as written.
        filter: String,
        /// The placeholder's inside.
        inner: String,
    },
    /// `{{vars.NAME | a | b}}`.
    #[error("`{{{{{inner}}}}}` has more than one filter")]
    TwoFilters {
        /// The placeholder's inside.
        inner: String,
    },
    /// The target lacks a variable the template needs.
    #[error("target declares no `vars.{name}`")]
    MissingVar {
        /// The variable's name.
        name: String,
    },
    /// `jwt_alg_none` on a value that is not a JWT.
    #[error("`vars.{var}` is not a JWT ({why}), so `jwt_alg_none` cannot apply")]
    NotAJwt {
        /// The variable's name.
        var: String,
        /// What is wrong with it, without quoting it ([`jwt_alg_none`]).
        why: &'static str,
    },
    /// List variables multiply into too many renderings.
    #[error("variables expand to more than {limit} requests")]
    TooMany {
        /// The most renderings allowed.
        limit: usize,
    },
}

/// A piece of a [`Template`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    /// Literal text.
    Text(String),
    /// A target variable, maybe transformed.
    Var {
        /// The variable's name.
        name: String,
        /// The transformation applied to each of its values.
        filter: Option<Filter>,
        /// Written `{{vars.NAME?}}`: a target without it gives no value, not an error.
        optional: bool,
    },
    /// The run's canary.
    Random,
}

/// A transformation of a variable's value (`{{vars.NAME | FILTER}}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Filter {
    /// `jwt_alg_none`: the JWT re-encoded with `"alg":"none"` in its header and an empty
    /// signature, its payload untouched (CWE-347).
    JwtAlgNone,
}

impl Filter {
    fn parse(name: &str) -> Option<Filter> {
        match name {
            "jwt_alg_none" => Some(Filter::JwtAlgNone),
            _ => None,
        }
    }

    fn apply(self, var: &str, value: &str) -> Result<String, TemplateError> {
        match self {
            // The error never holds the value: it is usually a secret.
            Filter::JwtAlgNone => jwt_alg_none(value).map_err(|why| TemplateError::NotAJwt {
                var: var.to_string(),
                why,
            }),
        }
    }
}

impl Template {
    /// Parses placeholders: `{{vars.NAME}}`, `{{vars.NAME | jwt_alg_none}}`, `{{random}}`.
    pub fn parse(text: &str) -> Result<Template, TemplateError> {
        let vars = parts(text)?
            .into_iter()
            .filter_map(|p| match p {
                Part::Var { name, .. } => Some(name),
                _ => None,
            })
            .collect();
        Ok(Template::translated(text.to_string(), vars))
    }

    /// A template another probe source wrote (a nuclei template's placeholders, translated),
    /// with the variables it names. Not validated: a text that does not parse fails each
    /// rendering, with the reason.
    pub fn translated(text: String, vars: Vec<String>) -> Template {
        let cut = Arc::new(Cut::of(&text, &vars));
        Template { text, vars, cut }
    }

    /// The text cut at its placeholders.
    pub fn parts(&self) -> Result<&[Part], TemplateError> {
        self.cut.parts.as_deref().map_err(Clone::clone)
    }

    /// The variables written `{{vars.NAME?}}` (and nowhere without the `?`).
    pub fn optional(&self) -> &BTreeSet<String> {
        &self.cut.optional
    }

    /// The variables a target must declare for this template.
    pub fn required(&self) -> impl Iterator<Item = &str> {
        self.vars
            .iter()
            .map(String::as_str)
            .filter(|n| !self.cut.optional.contains(*n))
    }

    /// Whether the template uses `{{random}}`.
    pub fn uses_random(&self) -> bool {
        self.parts()
            .is_ok_and(|parts| parts.iter().any(|p| matches!(p, Part::Random)))
    }

    /// One rendering for a header or a body: a list variable's items are joined with `, `.
    pub fn render(
        &self,
        vars: &BTreeMap<String, Var>,
        canary: &str,
    ) -> Result<String, TemplateError> {
        let mut out = String::new();
        for part in self.parts()? {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Random => out.push_str(canary),
                Part::Var {
                    name,
                    filter,
                    optional,
                } => {
                    out.push_str(&values(vars, name, *filter, *optional)?.join(", "));
                }
            }
        }
        Ok(out)
    }

    /// Every rendering for a path: one per combination of the items of its list variables.
    /// More than `limit` renderings is an error.
    pub fn expand(
        &self,
        vars: &BTreeMap<String, Var>,
        canary: &str,
        limit: usize,
    ) -> Result<Vec<String>, TemplateError> {
        let mut partial = vec![String::new()];
        for part in self.parts()? {
            match part {
                // One value: appended to every rendering in place (a literal path, the most
                // common, is one string made, not a list and a string per part).
                Part::Text(t) => partial.iter_mut().for_each(|p| p.push_str(t)),
                Part::Random => partial.iter_mut().for_each(|p| p.push_str(canary)),
                Part::Var {
                    name,
                    filter,
                    optional,
                } => {
                    let values = values(vars, name, *filter, *optional)?;
                    partial = partial
                        .iter()
                        .flat_map(|p| values.iter().map(move |v| format!("{p}{v}")))
                        .collect();
                }
            }
            if partial.len() > limit {
                return Err(TemplateError::TooMany { limit });
            }
        }
        Ok(partial)
    }
}

/// `text` cut at its placeholders, each checked.
fn parts(text: &str) -> Result<Vec<Part>, TemplateError> {
    let mut parts = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        if start > 0 {
            parts.push(Part::Text(rest[..start].to_string()));
        }
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| TemplateError::Unterminated { text: text.into() })?;
        let inner = after[..end].trim();
        let mut pipes = inner.split('|').map(str::trim);
        let head = pipes.next().unwrap_or_default();
        let filters: Vec<&str> = pipes.collect();
        if head == "random" {
            if !filters.is_empty() {
                return Err(TemplateError::RandomFilter {
                    inner: inner.into(),
                });
            }
            parts.push(Part::Random);
        } else {
            let (head, optional) = match head.strip_suffix('?') {
                Some(head) => (head.trim_end(), true),
                None => (head, false),
            };
            let name =
                head.strip_prefix("vars.")
                    .ok_or_else(|| TemplateError::UnknownPlaceholder {
                        inner: inner.into(),
                    })?;
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                return Err(TemplateError::InvalidName { name: name.into() });
            }
            let filter = match filters.as_slice() {
                [] => None,
                [one] => Some(
                    Filter::parse(one).ok_or_else(|| TemplateError::UnknownFilter {
                        filter: (*one).into(),
                        inner: inner.into(),
                    })?,
                ),
                _ => {
                    return Err(TemplateError::TwoFilters {
                        inner: inner.into(),
                    });
                }
            };
            parts.push(Part::Var {
                name: name.to_string(),
                filter,
                optional,
            });
        }
        rest = &after[end + 2..];
    }
    if !rest.is_empty() {
        parts.push(Part::Text(rest.to_string()));
    }
    Ok(parts)
}

/// The values of a variable (one, or a list's items), through `filter`.
fn values(
    vars: &BTreeMap<String, Var>,
    name: &str,
    filter: Option<Filter>,
    optional: bool,
) -> Result<Vec<String>, TemplateError> {
    let raw: Vec<&str> = match vars.get(name) {
        Some(Var::One(v)) => vec![v.expose().as_str()],
        Some(Var::List(vs)) => vs.iter().map(|v| v.expose().as_str()).collect(),
        None if optional => Vec::new(),
        None => return Err(TemplateError::MissingVar { name: name.into() }),
    };
    raw.into_iter()
        .map(|v| match filter {
            None => Ok(v.to_string()),
            Some(f) => f.apply(name, v),
        })
        .collect()
}

/// `token` re-encoded with `"alg":"none"` in its header (every other header field kept) and
/// an empty signature: `HEADER.PAYLOAD.`, the payload segment as it was. The error says what
/// is wrong without quoting the token.
pub fn jwt_alg_none(token: &str) -> Result<String, &'static str> {
    let mut segments = token.trim().split('.');
    let (Some(header), Some(payload), Some(_signature), None) = (
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
    ) else {
        return Err("not three dot-separated parts");
    };
    let bytes = URL_SAFE_NO_PAD
        .decode(header.trim_end_matches('='))
        .map_err(|_| "its header is not base64url")?;
    let mut fields: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&bytes).map_err(|_| "its header is not a JSON object")?;
    if payload.is_empty() {
        return Err("its payload is empty");
    }
    fields.insert("alg".into(), serde_json::Value::String("none".into()));
    let header = serde_json::to_vec(&fields).map_err(|_| "its header cannot be re-encoded")?;
    Ok(format!("{}.{payload}.", URL_SAFE_NO_PAD.encode(header)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redact::Secret;

    fn vars(pairs: &[(&str, Var)]) -> BTreeMap<String, Var> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    fn one(v: &str) -> Var {
        Var::One(Secret::hidden(v.to_string()))
    }

    fn list(items: &[&str]) -> Var {
        Var::List(items.iter().map(|v| Secret::plain(v.to_string())).collect())
    }

    #[test]
    fn template_errors_keep_their_wording() {
        let said = |text: &str| Template::parse(text).unwrap_err().to_string();
        assert_eq!(said("/a{{vars.x"), "unterminated `{{` in `/a{{vars.x`");
        assert_eq!(
            said("{{random | jwt_alg_none}}"),
            "`{{random | jwt_alg_none}}`: `random` takes no filter"
        );
        assert_eq!(
            said("{{env.X}}"),
            "unknown placeholder `{{env.X}}`; known are `{{vars.NAME}}` and `{{random}}`"
        );
        assert_eq!(said("{{vars.a b}}"), "invalid variable name `a b`");
        assert_eq!(
            said("{{vars.x | upper}}"),
            "unknown filter `upper` in `{{vars.x | upper}}`; known is `jwt_alg_none`"
        );
        assert_eq!(
            said("{{vars.x | a | b}}"),
            "`{{vars.x | a | b}}` has more than one filter"
        );
    }

    #[test]
    fn placeholders_parse() {
        let t = Template::parse("{{vars.protected_paths}}").unwrap();
        assert_eq!(t.vars, vec!["protected_paths"]);
        let t = Template::parse("Bearer {{ vars.sample_jwt | jwt_alg_none }}").unwrap();
        assert_eq!(t.vars, vec!["sample_jwt"]);
        assert_eq!(
            t.parts().unwrap()[1],
            Part::Var {
                name: "sample_jwt".into(),
                filter: Some(Filter::JwtAlgNone),
                optional: false,
            }
        );
        let t = Template::parse("https://{{random}}.invalid").unwrap();
        assert!(t.uses_random() && t.vars.is_empty());
        for bad in [
            "{{BaseURL}}/x",
            "{{vars.x",
            "{{vars.x | upper}}",
            "{{random | jwt_alg_none}}",
            "{{vars.x | jwt_alg_none | jwt_alg_none}}",
            "{{vars.}}",
        ] {
            assert!(Template::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn optional_variables_stand_for_nothing_when_missing() {
        let t = Template::parse("/a{{vars.dirs?}}").unwrap();
        assert_eq!(t.vars, vec!["dirs"]);
        assert_eq!(t.required().count(), 0);
        let none = BTreeMap::new();
        assert!(t.expand(&none, "c", 10).unwrap().is_empty());
        assert_eq!(t.render(&none, "c").unwrap(), "/a");
        let some = vars(&[("dirs", one("/x/"))]);
        assert_eq!(t.expand(&some, "c", 10).unwrap(), ["/a/x/"]);
        // Written both ways, the variable is required.
        let both = Template::parse("{{vars.d?}}{{vars.d}}").unwrap();
        assert!(both.required().count() > 0 && both.required().all(|n| n == "d"));
        assert!(Template::parse("{{vars.?}}").is_err());
    }

    #[test]
    fn spaces_inside_braces_render_too() {
        let t = Template::parse("/a/{{ vars.x }}/{{ random }}").unwrap();
        let v = vars(&[("x", one("b"))]);
        assert_eq!(t.render(&v, "c4n4ry").unwrap(), "/a/b/c4n4ry");
    }

    #[test]
    fn paths_expand_per_item_and_headers_join() {
        let t = Template::parse("{{vars.p}}?n={{random}}").unwrap();
        let v = vars(&[("p", list(&["/a", "/b"]))]);
        assert_eq!(t.expand(&v, "xyz", 10).unwrap(), ["/a?n=xyz", "/b?n=xyz"]);
        assert_eq!(t.render(&v, "xyz").unwrap(), "/a, /b?n=xyz");
        let t = Template::parse("{{vars.p}}{{vars.p}}").unwrap();
        assert_eq!(t.expand(&v, "", 10).unwrap().len(), 4);
        assert!(t.expand(&v, "", 3).is_err());
        assert_eq!(
            t.render(&BTreeMap::new(), "").unwrap_err().to_string(),
            "target declares no `vars.p`"
        );
    }

    #[test]
    fn canaries_are_fresh_lowercase_alphanumerics() {
        let a = new_canary();
        let b = new_canary();
        assert_ne!(a, b);
        assert_eq!(a.len(), CANARY_LEN);
        assert!(
            a.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        );
    }

    /// jwt.io's example token (HS256, `{"sub":"1234567890","name":"John Doe","iat":1516239022}`).
    const JWT: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.\
        eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.\
        SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";

    #[test]
    fn jwt_alg_none_rewrites_the_header_and_drops_the_signature() {
        let forged = jwt_alg_none(JWT).unwrap();
        let parts: Vec<&str> = forged.split('.').collect();
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[1], JWT.split('.').nth(1).unwrap());
        assert_eq!(parts[2], "");
        let header: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
        assert_eq!(header, serde_json::json!({"alg": "none", "typ": "JWT"}));
    }

    #[test]
    fn a_value_that_is_no_jwt_is_an_error_that_does_not_quote_it() {
        for bad in [
            "not-a-jwt",
            "a.b",
            "a.b.c.d",
            "!!!.eyJ9.sig",
            "eyJub3QganNvbg.eyJ9.sig",
        ] {
            assert!(jwt_alg_none(bad).is_err(), "{bad}");
        }
        let t = Template::parse("Bearer {{vars.jwt | jwt_alg_none}}").unwrap();
        let e = t
            .render(&vars(&[("jwt", one("secret-value.x"))]), "")
            .unwrap_err()
            .to_string();
        assert!(!e.contains("secret-value"), "{e}");
        assert!(e.contains("`vars.jwt` is not a JWT"), "{e}");
        assert!(
            t.render(&vars(&[("jwt", one(JWT))]), "")
                .unwrap()
                .starts_with("Bearer eyJ")
        );
    }
}
