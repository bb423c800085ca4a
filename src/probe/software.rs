//! `software` checks of `http` and `tcp` probes: `supported`, `supported_for_at_least` or
//! `not_below`, and what to do with distribution-marked versions.

use serde_saphyr::Spanned;

use super::{Compiling, raw};
use crate::check::software::{Rule, SoftwareCheck};
use crate::units;

/// The longest `supported_for_at_least` (ten years).
const MAX_WINDOW: std::time::Duration = std::time::Duration::from_secs(3650 * 86_400);

/// Validates a `software` check. A product in `not_below` must be one picket identifies.
pub(super) fn compile(
    ctx: &mut Compiling<'_>,
    raw: &Spanned<raw::Software>,
) -> Option<SoftwareCheck> {
    let v = &raw.value;
    let set = [
        v.supported.is_some(),
        v.supported_for_at_least.is_some(),
        v.not_below.is_some(),
    ]
    .iter()
    .filter(|s| **s)
    .count();
    if set != 1 {
        ctx.err_hint(
            raw,
            "`software` takes exactly one of `supported`, `supported_for_at_least`, `not_below`",
            "put each software check in its own list item, e.g. `software: { supported: true }`",
        );
        return None;
    }
    let skip_distro = match &v.distro {
        None => false,
        Some(d) => match d.value.trim() {
            "judge" => false,
            "skip" => true,
            other => {
                ctx.err_hint(
                    d,
                    format!("unknown `distro: {other}`"),
                    "`judge` (the default: a distribution's package is judged by its upstream \
                     version) or `skip` (such versions are not judged)",
                );
                return None;
            }
        },
    };
    let rule = if let Some(s) = &v.supported {
        if !s.value {
            ctx.err_hint(
                s,
                "`supported: false` asserts nothing",
                "write `supported: true`, or remove the check",
            );
            return None;
        }
        Rule::Supported
    } else if let Some(d) = &v.supported_for_at_least {
        match units::parse_duration(&d.value) {
            Ok(window)
                if window >= std::time::Duration::from_secs(86_400) && window <= MAX_WINDOW =>
            {
                Rule::SupportedFor(window)
            }
            Ok(_) => {
                ctx.err_hint(
                    d,
                    format!(
                        "supported_for_at_least `{}` is out of range",
                        d.value.trim()
                    ),
                    "between `1d` and `3650d`, e.g. `90d`",
                );
                return None;
            }
            Err(_) => {
                ctx.err_hint(
                    d,
                    units::duration_error("supported_for_at_least", &d.value),
                    "write e.g. `90d`",
                );
                return None;
            }
        }
    } else {
        let floors = v.not_below.as_ref()?;
        if floors.value.is_empty() {
            ctx.err_hint(
                floors,
                "`not_below` names no product",
                "write e.g. `not_below: { nginx: \"1.26\" }`",
            );
            return None;
        }
        let mut out = Vec::new();
        let mut ok = true;
        for (product, version) in &floors.value {
            if !crate::software::identify::PRODUCTS.contains(&product.as_str()) {
                ctx.err_hint(
                    version,
                    format!("unknown product `{product}` in not_below"),
                    format!(
                        "use an endoflife.date id that picket identifies: {}",
                        crate::software::identify::PRODUCTS.join(", ")
                    ),
                );
                ok = false;
                continue;
            }
            let floor = version.value.trim();
            if crate::check::software::compare_versions(floor, floor).is_none() {
                ctx.err_hint(
                    version,
                    format!("`{floor}` is not a version"),
                    "write the lowest acceptable version, e.g. `\"1.26\"`",
                );
                ok = false;
                continue;
            }
            out.push((product.clone(), floor.to_string()));
        }
        if !ok {
            return None;
        }
        Rule::NotBelow(out)
    };
    Some(SoftwareCheck { rule, skip_distro })
}
