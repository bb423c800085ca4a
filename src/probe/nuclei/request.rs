//! A template's request blocks into the exchanges of an `http` probe: method, paths under
//! the target (`{{BaseURL}}`, `{{RootURL}}`), headers and body, with nuclei's URL placeholders
//! translated into the runner's; each block's matchers become its one check
//! ([`super::matcher`]).

use ::http::{HeaderName, Method};
use serde_saphyr::Spanned;

use super::matcher::{WordBudget, condition, matcher};
use super::raw;
use crate::check::Graded;
use crate::check::http::Check;
use crate::check::nuclei::{Matcher, Matchers};
use crate::probe::http::{Exchange, HttpRequest};
use crate::probe::{Compiling, MAX_REQUESTS_PER_RUN, Template, stays_on_target};

/// One run sends every path of every block: more than [`MAX_REQUESTS_PER_RUN`] in all is
/// refused at the path that crosses the cap. (A nuclei path has no list variables, so each is
/// one request whatever the target.)
pub(super) fn check_request_count(ctx: &mut Compiling<'_>, blocks: &[Spanned<raw::Request>]) {
    let paths = || {
        blocks
            .iter()
            .flat_map(|b| b.value.path.iter().flat_map(|p| p.value.iter()))
    };
    if let Some(crossing) = paths().nth(MAX_REQUESTS_PER_RUN) {
        ctx.err_hint(
            crossing,
            format!(
                "the {} request blocks of this template send {} requests per run; one run sends at most {MAX_REQUESTS_PER_RUN}",
                blocks.len(),
                paths().count()
            ),
            "split the template into several, each under the cap",
        );
    }
}

pub(super) fn exchange(
    ctx: &mut Compiling<'_>,
    budget: &mut WordBudget,
    block: &Spanned<raw::Request>,
) -> Option<Exchange> {
    let before = ctx.diags.len();
    let r = &block.value;
    let method = match &r.method {
        None => Method::GET,
        Some(m) => match Method::from_bytes(m.value.trim().to_ascii_uppercase().as_bytes()) {
            Ok(m) => m,
            Err(_) => {
                ctx.err(m, format!("invalid method `{}`", m.value));
                Method::GET
            }
        },
    };
    let mut paths = Vec::new();
    let mut path_pos = Vec::new();
    match &r.path {
        None => ctx.err_hint(
            block,
            "request has no `path`",
            "add `path: [\"{{BaseURL}}/…\"]`",
        ),
        Some(list) if list.value.is_empty() => ctx.err(list, "`path` is empty"),
        Some(list) => {
            for p in &list.value {
                if let Some(path) = base_relative(ctx, p) {
                    paths.push(path);
                    path_pos.push(Compiling::pos(p));
                }
            }
        }
    }
    let mut headers = Vec::new();
    for (name, value) in &r.headers {
        let template = value_template(ctx, value);
        match HeaderName::from_bytes(name.as_bytes()) {
            Ok(h) => headers.push((h, template)),
            Err(_) => ctx.err(value, format!("invalid header name `{name}`")),
        }
    }
    let body = r.body.as_ref().map(|b| value_template(ctx, b));
    if let Some(m) = &r.max_redirects
        && !(0..=i64::try_from(crate::probe::http::MAX_REDIRECTS).unwrap_or(10)).contains(&m.value)
    {
        ctx.err_hint(
            m,
            format!("`max-redirects: {}`", m.value),
            "picket follows at most 10 redirects, all on the target's origin",
        );
    }
    let condition = condition(ctx, r.matchers_condition.as_ref());
    let matchers: Vec<Matcher> = match &r.matchers {
        None => {
            ctx.err_hint(
                block,
                "request has no `matchers`",
                "a template without matchers reports nothing; picket needs at least one",
            );
            Vec::new()
        }
        Some(list) => list
            .value
            .iter()
            .filter_map(|m| matcher(ctx, budget, m))
            .collect(),
    };
    if ctx.diags.len() > before {
        return None;
    }
    Some(Exchange {
        request: HttpRequest {
            method,
            paths,
            path_pos,
            headers,
            body,
            follow_redirects: r.redirects.unwrap_or(false),
            use_target_auth: false,
            on_redirect: crate::probe::http::OnRedirect::Evaluate,
            plain_http: false,
            discover: None,
        },
        checks: vec![Graded::from(Check::Nuclei(Matchers {
            matchers,
            condition,
        }))],
        stop_at_first_finding: r.stop_at_first_match.unwrap_or(false),
    })
}

/// A nuclei placeholder picket does not evaluate; load errors name it in their text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum Untranslatable {
    /// `{{` without its `}}`.
    #[error("unterminated `{{{{` in `{text}`")]
    Unterminated { text: String },
    /// A helper function or variable, such as `{{randstr}}`.
    #[error("`{{{{{name}}}}}`")]
    Placeholder { name: String },
}

/// Translates nuclei's URL placeholders into the runner's target placeholders
/// ([`crate::probe::http::is_builtin`]); any other `{{…}}` (helper functions, variables) is refused.
fn translate(text: &str) -> Result<Template, Untranslatable> {
    let mut out = String::new();
    let mut vars = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| Untranslatable::Unterminated { text: text.into() })?;
        let name = match after[..end].trim() {
            "BaseURL" => "@base",
            "RootURL" => "@root",
            "Hostname" => "@hostname",
            "Host" => "@host",
            "Port" => "@port",
            "Scheme" => "@scheme",
            other => {
                return Err(Untranslatable::Placeholder { name: other.into() });
            }
        };
        out.push_str(&format!("{{{{vars.{name}}}}}"));
        vars.push(name.to_string());
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(Template::translated(out, vars))
}

/// `{{BaseURL}}/x` → `/x`, a path of the target like any probe's; `{{RootURL}}/x` → `/x`
/// from the root of the target's origin.
fn base_relative(ctx: &mut Compiling<'_>, p: &Spanned<String>) -> Option<Template> {
    let text = p.value.trim();
    let (root, rest) = if let Some(rest) = text.strip_prefix("{{BaseURL}}") {
        (false, rest)
    } else if let Some(rest) = text.strip_prefix("{{RootURL}}") {
        (true, rest)
    } else {
        ctx.err_hint(
            p,
            format!("unsupported path `{text}`"),
            "paths start with `{{BaseURL}}` or `{{RootURL}}`; picket requests only its target",
        );
        return None;
    };
    let rest = match rest.chars().next() {
        None => "/".to_string(),
        Some('/') => rest.to_string(),
        Some('?') => format!("/{rest}"),
        Some(_) => {
            ctx.err_hint(
                p,
                format!("path `{text}` does not continue the base URL with `/`"),
                "write `{{BaseURL}}/path`",
            );
            return None;
        }
    };
    let mut template = match translate(&rest) {
        Ok(t) => t,
        Err(what) => {
            ctx.err_hint(
                p,
                format!("unsupported placeholder {what} in path `{text}`"),
                "helper functions and variables (`{{randstr}}`, `{{paths}}` …) are not evaluated",
            );
            return None;
        }
    };
    if template.vars.iter().any(|v| v == "@base" || v == "@root") {
        ctx.err_hint(
            p,
            format!("path `{text}` names a URL twice"),
            "start the path with `{{BaseURL}}` only",
        );
        return None;
    }
    if let Err(e) = stays_on_target(&template.text) {
        ctx.err_hint(p, e.to_string(), "picket requests only its target");
        return None;
    }
    if root {
        template.text = format!("{{{{vars.@up}}}}{}", template.text);
        template.vars.insert(0, "@up".to_string());
    }
    Some(template)
}

/// A header value or body with nuclei's URL placeholders; other placeholders are refused.
fn value_template(ctx: &mut Compiling<'_>, value: &Spanned<String>) -> Template {
    translate(&value.value).unwrap_or_else(|what| {
        ctx.err_hint(
            value,
            format!("unsupported nuclei placeholder {what}"),
            "helper functions and variables are not evaluated",
        );
        Template::translated(String::new(), Vec::new())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn untranslatable_placeholders_keep_their_wording() {
        let said = |text: &str| translate(text).unwrap_err().to_string();
        assert_eq!(said("/{{randstr}}"), "`{{randstr}}`");
        assert_eq!(said("/{{BaseURL"), "unterminated `{{` in `/{{BaseURL`");
        assert_eq!(
            translate("/{{Hostname}}/x").unwrap().text,
            "/{{vars.@hostname}}/x"
        );
    }
}
