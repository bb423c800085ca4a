//! Which targets a probe applies to: the `targets:` selector (`tags`, `names`, `not_tags`)
//! and its `schemes` filter, compiled from [`raw::Selector`], and the questions the planner
//! asks of them ([`Probe::applies_to`], [`Probe::exempted_by`]).

use std::collections::BTreeSet;

use serde_saphyr::Spanned;

use super::{Compiling, Probe, raw};
use crate::config::{self, Target};

/// Which targets a probe applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    /// Every target.
    All,
    /// Targets carrying any of these tags.
    Tags(BTreeSet<String>),
    /// Targets with these names.
    Names(BTreeSet<String>),
    /// The targets the inner selector picks, except those carrying any of these tags
    /// (`not_tags`).
    Except(Box<Selector>, BTreeSet<String>),
}

impl Selector {
    /// Whether this selector picks `target`.
    pub fn selects(&self, target: &Target) -> bool {
        match self {
            Selector::All => true,
            Selector::Tags(tags) => tags.iter().any(|t| target.tags.contains(t)),
            Selector::Names(names) => names.contains(&target.name),
            Selector::Except(inner, not_tags) => {
                inner.selects(target) && !not_tags.iter().any(|t| target.tags.contains(t))
            }
        }
    }

    /// The `not_tags` tag that keeps a target the selector would otherwise pick out.
    pub fn exempting_tag(&self, target: &Target) -> Option<&str> {
        match self {
            Selector::Except(inner, not_tags) if inner.selects(target) => not_tags
                .iter()
                .find(|t| target.tags.contains(*t))
                .map(String::as_str),
            _ => None,
        }
    }
}

impl Probe {
    /// Whether this probe applies to `target`: its selector picks it and its scheme is one
    /// the probe allows.
    pub fn applies_to(&self, target: &Target) -> bool {
        self.targets.selects(target)
            && (self.schemes.is_empty() || self.schemes.contains(target.url.scheme()))
    }

    /// The tag by which `target` is exempt from this probe (`targets: { not_tags: [...] }`),
    /// when it is otherwise selected: such a pair is shown as skipped, with the tag.
    pub fn exempted_by(&self, target: &Target) -> Option<&str> {
        if !self.schemes.is_empty() && !self.schemes.contains(target.url.scheme()) {
            return None;
        }
        self.targets.exempting_tag(target)
    }
}

pub(super) fn compile_selector(
    ctx: &mut Compiling<'_>,
    raw: Option<&Spanned<raw::Selector>>,
) -> Selector {
    let Some(sel) = raw else {
        return Selector::All;
    };
    let Some(not_tags) = &sel.value.not_tags else {
        return compile_inclusion(ctx, sel);
    };
    if sel.value.names.is_some() {
        ctx.err_hint(
            sel,
            "`targets` takes `not_tags` with `tags` or alone, not with `names`",
            "`names` already lists exactly the targets; drop the ones to exempt",
        );
        return Selector::All;
    }
    if not_tags.is_empty() {
        ctx.err_hint(
            sel,
            "`not_tags` is empty",
            "list the tags whose targets the probe exempts, e.g. `not_tags: [internal-only]`",
        );
        return Selector::All;
    }
    let inner = if sel.value.tags.is_some() {
        compile_inclusion(ctx, sel)
    } else {
        Selector::All
    };
    Selector::Except(
        Box::new(inner),
        not_tags.iter().map(|t| t.value.clone()).collect(),
    )
}

/// The `tags` or `names` part of a selector.
fn compile_inclusion(ctx: &mut Compiling<'_>, sel: &Spanned<raw::Selector>) -> Selector {
    match (&sel.value.tags, &sel.value.names) {
        (Some(_), Some(_)) => {
            ctx.err_hint(
                sel,
                "`targets` takes `tags` or `names`, not both",
                "remove one of them",
            );
            Selector::All
        }
        (Some(tags), None) => Selector::Tags(tags.iter().map(|t| t.value.clone()).collect()),
        (None, Some(names)) => {
            for n in names {
                if !config::valid_target_name(&n.value) {
                    ctx.err(n, format!("invalid target name `{}`", n.value));
                }
            }
            Selector::Names(names.iter().map(|t| t.value.clone()).collect())
        }
        (None, None) if sel.value.schemes.is_some() || sel.value.not_tags.is_some() => {
            Selector::All
        }
        (None, None) => {
            ctx.err_hint(
                sel,
                "`targets` is empty",
                "write `targets: { tags: [...] }` or `targets: { names: [...] }`, or drop it to select every target",
            );
            Selector::All
        }
    }
}

/// The `schemes` of a selector: only targets whose URL has one of them (empty: any).
pub(super) fn compile_schemes(
    ctx: &mut Compiling<'_>,
    raw: Option<&Spanned<raw::Selector>>,
) -> BTreeSet<String> {
    let mut schemes = BTreeSet::new();
    if let Some(list) = raw.and_then(|t| t.value.schemes.as_ref()) {
        for scheme in list {
            match scheme.value.as_str() {
                "http" | "https" => {
                    schemes.insert(scheme.value.clone());
                }
                other => ctx.err_hint(
                    scheme,
                    format!("unknown scheme `{other}`"),
                    "expected `http` or `https`",
                ),
            }
        }
    }
    schemes
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::Selector;
    use crate::probe::tests::{compile_text, http_probe};

    #[test]
    fn not_tags_exempt_targets_and_refuse_names() {
        let p = compile_text(&http_probe(
            "targets: { tags: [public], not_tags: [internal-only] }\n",
            "  - status: 200\n",
        ))
        .unwrap();
        let Selector::Except(inner, tags) = &p.targets else {
            panic!("{:?}", p.targets)
        };
        assert_eq!(**inner, Selector::Tags(BTreeSet::from(["public".into()])));
        assert_eq!(tags, &BTreeSet::from(["internal-only".to_string()]));
        let alone = compile_text(&http_probe(
            "targets: { not_tags: [internal-only] }\n",
            "  - status: 200\n",
        ))
        .unwrap();
        assert!(matches!(&alone.targets, Selector::Except(inner, _) if **inner == Selector::All));
        let e = compile_text(&http_probe(
            "targets: { names: [a], not_tags: [x] }\n",
            "  - status: 200\n",
        ))
        .unwrap_err();
        assert!(e[0].contains("not with `names`"), "{e:?}");
    }
}
