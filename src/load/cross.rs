//! Checks across the config and the probes, known only once both are loaded.

use std::sync::Arc;

use crate::config::{self, Config};
use crate::diag::{self, Diagnostic, Diagnostics};
use crate::probe::{self, Probe, Selector};

/// No series may send more than [`probe::MAX_REQUESTS_PER_RUN`] requests in one run: a
/// target's list variables multiply a probe's paths, so this is known only once config and
/// probes are both loaded. Reported at the path that crosses the cap, once per target.
pub(super) fn check_request_caps(config: &Config, probes: &[Arc<Probe>], diags: &mut Diagnostics) {
    let cap = probe::MAX_REQUESTS_PER_RUN;
    for p in probes {
        for target in config.targets.iter().filter(|t| p.applies_to(t)) {
            let Some(over) = p.kind.over_request_cap(&target.vars) else {
                continue;
            };
            let all = over.requests;
            let lists: Vec<String> = over
                .at
                .vars
                .iter()
                .filter_map(|name| match target.vars.get(name) {
                    Some(config::Var::List(items)) => {
                        Some(format!("`vars.{name}` has {} items", items.len()))
                    }
                    _ => None,
                })
                .collect();
            diags.push(
                Diagnostic::new(
                    &p.source,
                    over.pos,
                    format!(
                        "probe `{}` would send {all} requests per run to target `{}`; one run sends at most {cap}",
                        p.id, target.name
                    ),
                )
                .with_hint(if lists.is_empty() {
                    "split the paths across several probes".to_string()
                } else {
                    format!(
                        "target `{}`: {}; shorten the list or split it across several targets",
                        target.name,
                        lists.join(", ")
                    )
                }),
            );
        }
    }
}

/// A probe that names targets must name existing ones.
pub(super) fn check_selectors(config: &Config, probes: &[Arc<Probe>], diags: &mut Diagnostics) {
    let names: Vec<&str> = config.targets.iter().map(|t| t.name.as_str()).collect();
    for p in probes {
        if let Selector::Names(_) = &p.targets {
            for (w, pos) in &p.target_name_pos {
                if !names.contains(&w.as_str()) {
                    let mut d = Diagnostic::new(
                        &p.source,
                        *pos,
                        format!("probe `{}` names unknown target `{w}`", p.id),
                    );
                    d.hint = Some(match diag::did_you_mean(w, &names) {
                        Some(best) => format!("did you mean `{best}`?"),
                        None => format!(
                            "targets in {}: {}",
                            config.source.display(),
                            if names.is_empty() {
                                "(none)".to_string()
                            } else {
                                names.join(", ")
                            }
                        ),
                    });
                    diags.push(d);
                }
            }
        }
    }
}
