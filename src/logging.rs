//! What picket's own log on stderr shows: the filter behind `--log`, `PICKET_LOG` and
//! `RUST_LOG`.
//!
//! By default picket's lines show from INFO and its dependencies' from WARN. Some
//! dependencies log, as errors, what picket itself reports better: the platform verifier
//! logs each failed certificate verification (picket reports it as the series' error), and
//! the OpenTelemetry SDK logs each failed export (picket says once that the collector cannot
//! be reached, naming it). Those are [`QUIET`]: off unless a filter names them.

/// Dependencies whose lines stay out of the log unless a filter names them (or `RUST_LOG`
/// is set), with why.
pub const QUIET: [(&str, &str); 5] = [
    (
        "rustls_platform_verifier",
        "a failed certificate verification is the series' error, in picket's findings",
    ),
    (
        "opentelemetry",
        "a failed export is told once by picket, naming the collector",
    ),
    (
        "deadpool",
        "a connection to the state database that broke is told once by picket, with the error",
    ),
    (
        "tokio_postgres",
        "the state database's notices and failures are told by picket, counted in \
         picket.state.errors",
    ),
    (
        "kube_runtime",
        "a failing watch is told once by picket's discovery, with what to do, not at every retry",
    ),
];

/// The default filter: picket at INFO, everything else at WARN.
pub const DEFAULT: &str = "picket=info,warn";

/// The filter to use: `RUST_LOG` as it is when set; otherwise `--log`/`PICKET_LOG`, or else
/// `default`, with the [`QUIET`] dependencies turned off unless it names them.
pub fn filter(rust_log: Option<&str>, flag: Option<&str>, default: &str) -> String {
    if let Some(verbatim) = rust_log.map(str::trim).filter(|f| !f.is_empty()) {
        return verbatim.to_owned();
    }
    let base = flag
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .unwrap_or(default);
    let mut out = base.to_owned();
    for (quiet, _) in QUIET {
        if !names(base, quiet) {
            out.push(',');
            out.push_str(quiet);
            out.push_str("=off");
        }
    }
    out
}

/// Whether a directive of `filter` is about `target` (the target, a module of it, or a
/// prefix of its name, which tracing's filter matches too).
fn names(filter: &str, target: &str) -> bool {
    filter.split(',').any(|directive| {
        let name = directive
            .split(['=', '['])
            .next()
            .unwrap_or_default()
            .trim();
        let is_level = name.parse::<tracing::level_filters::LevelFilter>().is_ok();
        !name.is_empty() && !is_level && (target.starts_with(name) || name.starts_with(target))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_picket_at_info_and_the_noisy_dependencies_off() {
        assert_eq!(
            filter(None, None, DEFAULT),
            "picket=info,warn,rustls_platform_verifier=off,opentelemetry=off,deadpool=off,tokio_postgres=off,kube_runtime=off"
        );
    }

    #[test]
    fn rust_log_is_taken_as_it_is() {
        assert_eq!(filter(Some("debug"), Some("info"), DEFAULT), "debug");
        assert_eq!(
            filter(Some(" "), Some("info"), DEFAULT),
            "info,rustls_platform_verifier=off,opentelemetry=off,deadpool=off,tokio_postgres=off,kube_runtime=off"
        );
    }

    #[test]
    fn a_flag_that_names_a_quiet_dependency_keeps_it() {
        assert_eq!(
            filter(None, Some("warn,opentelemetry_sdk=debug"), DEFAULT),
            "warn,opentelemetry_sdk=debug,rustls_platform_verifier=off,deadpool=off,tokio_postgres=off,kube_runtime=off"
        );
        assert_eq!(
            filter(None, Some("rustls=debug"), DEFAULT),
            "rustls=debug,opentelemetry=off,deadpool=off,tokio_postgres=off,kube_runtime=off"
        );
        // A level alone names nothing.
        assert!(!names("trace", "rustls_platform_verifier"));
        assert!(!names("picket=debug", "opentelemetry"));
    }

    #[test]
    fn every_filter_made_parses() {
        for (flag, default) in [(None, DEFAULT), (Some("picket=debug"), DEFAULT)] {
            let f = filter(None, flag, default);
            assert!(tracing_subscriber::EnvFilter::try_new(&f).is_ok(), "{f}");
        }
    }
}
