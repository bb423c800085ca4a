//! `${env:…}` references: expanding them, refusing values too short to scrub, and marking
//! every resolved value secret (the config's and the command line's).

use serde_saphyr::Spanned;

use super::Ctx;
use crate::redact::{Redactor, Secret};

/// Looks up environment variables; injected so tests need not touch the process environment.
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

impl Ctx<'_> {
    /// Resolves `${env:NAME}` references. The result is secret when any reference was used.
    ///
    /// Every resolved value is remembered by the config's redactor (and nowhere else:
    /// validating registers nothing with the process). The redactor holds the value itself,
    /// not the expanded text, since a target may echo the value alone. Values shorter than
    /// [`Redactor::MIN_SECRET_LEN`] are refused: they cannot be scrubbed without mangling
    /// every output.
    pub(super) fn resolve(&mut self, value: &Spanned<String>) -> Option<Secret<String>> {
        match resolve_env(&value.value, self.env) {
            Ok((text, used)) => {
                if used.is_empty() {
                    return Some(Secret::plain(text));
                }
                let mut ok = true;
                for (name, resolved) in &used {
                    let chars = resolved.chars().count();
                    if chars < Redactor::MIN_SECRET_LEN {
                        self.err_hint(
                            value,
                            format!(
                                "environment variable `{name}` holds {chars} character(s); values from the environment must have at least {}",
                                Redactor::MIN_SECRET_LEN
                            ),
                            "picket scrubs every `${env:…}` value from its output, which a value this short would mangle; write short non-secret values in the file itself",
                        );
                        ok = false;
                    } else {
                        self.redactor.add(resolved);
                    }
                }
                ok.then(|| Secret::hidden(text))
            }
            Err(EnvError::Missing(name)) => {
                self.err_hint(
                    value,
                    format!("environment variable `{name}` is not set"),
                    "export it before starting picket, or remove the reference",
                );
                None
            }
            Err(EnvError::Syntax(detail)) => {
                self.err_hint(
                    value,
                    detail,
                    "references are written `${env:NAME}`; write `$${` for a literal `${`",
                );
                None
            }
        }
    }
}

#[derive(Debug, PartialEq)]
enum EnvError {
    Missing(String),
    Syntax(String),
}

/// A variable a reference resolved: its name and value.
type Resolved = (String, String);

/// Expands `${env:NAME}` in `text`. Returns the expansion and every variable it used.
fn resolve_env(text: &str, env: EnvLookup<'_>) -> Result<(String, Vec<Resolved>), EnvError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut used = Vec::new();
    while let Some(start) = rest.find('$') {
        out.push_str(&rest[..start]);
        let after = &rest[start..];
        if let Some(tail) = after.strip_prefix("$${") {
            out.push_str("${");
            rest = tail;
        } else if let Some(tail) = after.strip_prefix("${") {
            let end = tail
                .find('}')
                .ok_or_else(|| EnvError::Syntax("unterminated `${` reference".into()))?;
            let inner = &tail[..end];
            let name = inner
                .strip_prefix("env:")
                .ok_or_else(|| EnvError::Syntax(format!("unsupported reference `${{{inner}}}`")))?;
            let valid =
                !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                return Err(EnvError::Syntax(format!(
                    "invalid environment variable name `{name}`"
                )));
            }
            let value = env(name).ok_or_else(|| EnvError::Missing(name.to_string()))?;
            out.push_str(&value);
            used.push((name.to_string(), value));
            rest = &tail[end + 1..];
        } else {
            out.push('$');
            rest = &after[1..];
        }
    }
    out.push_str(rest);
    Ok((out, used))
}

/// Resolves `${env:NAME}` in a value given on the command line (`check --var`), as in a
/// file: a value that used the environment is secret, and is added to `redactor`. The error
/// is a sentence for people.
pub fn resolve_cli_value(
    text: &str,
    env: EnvLookup<'_>,
    redactor: &mut Redactor,
) -> Result<Secret<String>, CliValueError> {
    match resolve_env(text, env) {
        Ok((text, used)) if used.is_empty() => Ok(Secret::plain(text)),
        Ok((text, used)) => {
            for (name, resolved) in &used {
                let chars = resolved.chars().count();
                if chars < Redactor::MIN_SECRET_LEN {
                    return Err(CliValueError::TooShort {
                        name: name.clone(),
                        chars,
                    });
                }
                redactor.add(resolved);
            }
            Ok(Secret::hidden(text))
        }
        Err(EnvError::Missing(name)) => Err(CliValueError::Missing(name)),
        Err(EnvError::Syntax(detail)) => Err(CliValueError::Syntax(detail)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        (name == "TOKEN").then(|| "s3cr3t".to_string())
    }

    #[test]
    fn env_references_resolve() {
        assert_eq!(
            resolve_env("Bearer ${env:TOKEN}", &env),
            Ok((
                "Bearer s3cr3t".into(),
                vec![("TOKEN".into(), "s3cr3t".into())]
            ))
        );
        assert_eq!(resolve_env("plain", &env), Ok(("plain".into(), vec![])));
        assert_eq!(
            resolve_env("a $$${x}", &env),
            Ok(("a $${x}".into(), vec![]))
        );
        assert_eq!(
            resolve_env("${env:NOPE}", &env),
            Err(EnvError::Missing("NOPE".into()))
        );
        assert!(matches!(
            resolve_env("${TOKEN}", &env),
            Err(EnvError::Syntax(_))
        ));
        assert!(matches!(
            resolve_env("${env:TOKEN", &env),
            Err(EnvError::Syntax(_))
        ));
    }
}

/// Why a command-line value could not be resolved ([`resolve_cli_value`]); says it in words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CliValueError {
    /// `${env:NAME}` names a variable that is not set.
    #[error("environment variable `{0}` is not set")]
    Missing(String),
    /// The variable's value is too short to be scrubbed from output.
    #[error(
        "environment variable `{name}` holds {chars} character(s); values from the environment must have at least {}",
        Redactor::MIN_SECRET_LEN
    )]
    TooShort {
        /// The variable.
        name: String,
        /// How many characters it holds.
        chars: usize,
    },
    /// A `${` that is not a reference.
    #[error("{0}; references are written `${{env:NAME}}`")]
    Syntax(String),
}
