//! The OTLP instruments: counters and histograms recorded on the caller's path, and the
//! observable gauges that read series states and certificates at each export.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, RwLock, Weak};
use std::time::SystemTime;

use opentelemetry::KeyValue;
use opentelemetry::metrics::{
    Counter, Histogram, MeterProvider as _, ObservableCounter, ObservableGauge,
};
use opentelemetry_sdk::metrics::SdkMeterProvider;

use super::bounded::Losses;
use super::labels::SeriesLabels;
use super::names::{
    API_CONNECTIONS_SHED, CLUSTER_MEMBERS, CONFIG_RELOADS, DISCOVERY_ERRORS, DISCOVERY_TARGETS,
    NOTIFY_DELIVERIES, PROBE_ACCEPTED, PROBE_DURATION, PROBE_REGRESSED, PROBE_RUNS, PROBE_STATUS,
    RECOVERIES, REGRESSIONS, SCHEDULE_LATENESS, SCHEDULE_SKIPPED, SOFTWARE_EOL, STATE_ERRORS,
    TELEMETRY_DROPPED, TLS_CERTIFICATE_EXPIRY,
};
use super::scope;
use crate::state::{State, Tracker};

/// Most attribute sets per instrument. 10,000 series × 4 outcomes fit; past the limit the SDK
/// folds new series into one overflow series instead of growing.
pub const CARDINALITY_LIMIT: usize = 50_000;
/// Histogram buckets for run durations, in seconds (as OpenTelemetry's HTTP client
/// conventions use).
const DURATION_BOUNDS: [f64; 16] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 30.0, 60.0,
];
/// Histogram buckets for schedule lateness, in seconds.
const LATENESS_BOUNDS: [f64; 14] = [
    0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];

pub(super) struct Instruments {
    pub(super) runs: Counter<u64>,
    pub(super) duration: Histogram<f64>,
    pub(super) regressions: Counter<u64>,
    pub(super) recoveries: Counter<u64>,
    pub(super) lateness: Histogram<f64>,
    pub(super) reloads: Counter<u64>,
    pub(super) skipped: Counter<u64>,
    pub(super) deliveries: Counter<u64>,
    pub(super) api_shed: Counter<u64>,
    pub(super) discovery_errors: Counter<u64>,
    // Observable instruments report through callbacks; the handles are kept so the
    // registration plainly lives as long as the telemetry.
    // `None` without an exporter: the SDK logs an error for observable instruments that no
    // reader will ever collect.
    _status: Option<ObservableGauge<u64>>,
    _regressed: Option<ObservableGauge<u64>>,
    _accepted: Option<ObservableGauge<u64>>,
    _expiry: Option<ObservableGauge<f64>>,
    _software_eol: Option<ObservableGauge<f64>>,
    _dropped: Option<ObservableCounter<u64>>,
    _discovered: Option<ObservableGauge<u64>>,
    _members: Option<ObservableGauge<u64>>,
    _state_errors: Option<ObservableCounter<u64>>,
}

impl Instruments {
    pub(super) fn new(
        provider: &SdkMeterProvider,
        states: &Arc<Observed>,
        losses: &Arc<Losses>,
        observable: bool,
    ) -> Self {
        let meter = provider.meter_with_scope(scope());
        let status_states = states.clone();
        let regressed_states = states.clone();
        let accepted_states = states.clone();
        let expiry_states = states.clone();
        let software_states = states.clone();
        let discovered = states.clone();
        let members = states.clone();
        let state_errors = states.clone();
        let losses = losses.clone();
        Instruments {
            runs: meter
                .u64_counter(PROBE_RUNS)
                .with_unit("{run}")
                .with_description("Runs of a series, by outcome")
                .build(),
            duration: meter
                .f64_histogram(PROBE_DURATION)
                .with_unit("s")
                .with_description("How long runs took, waits for rate slots included")
                .with_boundaries(DURATION_BOUNDS.to_vec())
                .build(),
            regressions: meter
                .u64_counter(REGRESSIONS)
                .with_unit("{regression}")
                .with_description("Regressions declared")
                .build(),
            recoveries: meter
                .u64_counter(RECOVERIES)
                .with_unit("{recovery}")
                .with_description("Recoveries declared")
                .build(),
            lateness: meter
                .f64_histogram(SCHEDULE_LATENESS)
                .with_unit("s")
                .with_description("How late runs fired against their schedule")
                .with_boundaries(LATENESS_BOUNDS.to_vec())
                .build(),
            // No unit where SPEC §7 gives none: OTLP-to-Prometheus translation turns units
            // into name suffixes (`1` into `_ratio`), and dashboards depend on the names.
            reloads: meter
                .u64_counter(CONFIG_RELOADS)
                .with_description("Config reloads, by outcome")
                .build(),
            skipped: meter
                .u64_counter(SCHEDULE_SKIPPED)
                .with_unit("{run}")
                .with_description("Ticks skipped because the previous run was still in flight")
                .build(),
            deliveries: meter
                .u64_counter(NOTIFY_DELIVERIES)
                .with_unit("{delivery}")
                .with_description("Webhook notifications, by webhook and outcome")
                .build(),
            api_shed: meter
                .u64_counter(API_CONNECTIONS_SHED)
                .with_unit("{connection}")
                .with_description("API connections closed at the connection limit, by reason")
                .build(),
            discovery_errors: meter
                .u64_counter(DISCOVERY_ERRORS)
                .with_description("Errors of each discovery source")
                .build(),
            _discovered: observable.then(|| {
                meter
                    .u64_observable_gauge(DISCOVERY_TARGETS)
                    .with_unit("{target}")
                    .with_description("Live targets of each discovery source")
                    .with_callback(move |observer| {
                        for (source, n) in discovered.discovered() {
                            observer.observe(n, &[KeyValue::new("discovery.source", source)]);
                        }
                    })
                    .build()
            }),
            _status: observable.then(|| {
                meter
                    .u64_observable_gauge(PROBE_STATUS)
                    .with_description("1 while a series passes, 0 while it fails or is regressed")
                    .with_callback(move |observer| {
                        status_states.each(|attrs, state| {
                            observer.observe(u64::from(state == State::Passing), attrs);
                        });
                    })
                    .build()
            }),
            _regressed: observable.then(|| {
                meter
                    .u64_observable_gauge(PROBE_REGRESSED)
                    .with_description("1 while a series is regressed, else 0")
                    .with_callback(move |observer| {
                        regressed_states.each(|attrs, state| {
                            observer.observe(u64::from(state == State::Regressed), attrs);
                        });
                    })
                    .build()
            }),
            _accepted: observable.then(|| {
                meter
                    .u64_observable_gauge(PROBE_ACCEPTED)
                    .with_description(
                        "1 while an acceptance holds for a series, 0 once it has ended (series \
                         an acceptance covers)",
                    )
                    .with_callback(move |observer| {
                        accepted_states.each_accepted(|attrs, holds| {
                            observer.observe(u64::from(holds), attrs);
                        });
                    })
                    .build()
            }),
            _expiry: observable.then(|| {
                meter
                    .f64_observable_gauge(TLS_CERTIFICATE_EXPIRY)
                    .with_unit("s")
                    .with_description(
                        "Seconds until the leaf certificate's notAfter (negative once expired)",
                    )
                    .with_callback(move |observer| {
                        expiry_states
                            .each_certificate(|attrs, seconds| observer.observe(seconds, attrs));
                    })
                    .build()
            }),
            _members: observable.then(|| {
                meter
                    .u64_observable_gauge(CLUSTER_MEMBERS)
                    .with_description(
                        "Members of the group with a live lease (with state.postgres; 0 while \
                         this member holds none)",
                    )
                    .with_callback(move |observer| {
                        if let Some(group) = members.group() {
                            observer.observe(group.members() as u64, &[]);
                        }
                    })
                    .build()
            }),
            _state_errors: observable.then(|| {
                meter
                    .u64_observable_counter(STATE_ERRORS)
                    .with_description("Failed calls to the state store or database")
                    .with_callback(move |observer| {
                        if let Some(tracker) = state_errors.tracker() {
                            observer.observe(tracker.store_errors(), &[]);
                        }
                    })
                    .build()
            }),
            _software_eol: observable.then(|| {
                meter
                    .f64_observable_gauge(SOFTWARE_EOL)
                    .with_unit("s")
                    .with_description(
                        "Seconds until the end of life of the release a target runs (negative \
                         once past), from software checks",
                    )
                    .with_callback(move |observer| {
                        software_states
                            .each_software(|attrs, seconds| observer.observe(seconds, attrs));
                    })
                    .build()
            }),
            _dropped: observable.then(|| {
                meter
                    .u64_observable_counter(TELEMETRY_DROPPED)
                    .with_unit("{item}")
                    .with_description("Telemetry that could not be delivered, by signal")
                    .with_callback(move |observer| {
                        let dropped = losses.snapshot();
                        observer.observe(dropped.spans, &[KeyValue::new("signal", "traces")]);
                        observer.observe(dropped.logs, &[KeyValue::new("signal", "logs")]);
                        observer
                            .observe(dropped.metric_points, &[KeyValue::new("signal", "metrics")]);
                    })
                    .build()
            }),
        }
    }
}

/// What the observable gauges read at each export: the tracker (series states, owned there)
/// and the last certificate seen per target and server address.
#[derive(Debug, Default)]
pub(super) struct Observed {
    /// The one owner of series state, once the service has one ([`Telemetry::observe_states`](super::Telemetry::observe_states)).
    pub(super) tracker: RwLock<Weak<Tracker>>,
    /// Certificate expiry by (target, server address), with the probe of the series that saw
    /// it last.
    certificates: Mutex<HashMap<(String, String), (SystemTime, String)>>,
    /// Live targets by discovery source.
    discovered: Mutex<std::collections::BTreeMap<String, u64>>,
    /// End of life by (target, product, version), with the probe of the series that saw it
    /// last: the latest run of that series replaces what it saw before.
    software: Mutex<HashMap<Release, (SystemTime, String)>>,
}

/// A release a target runs: target name, product id, version.
type Release = (String, String, String);

impl Observed {
    /// Sets (`Some`) or forgets (`None`) the live targets of a discovery source.
    pub(super) fn set_discovered(&self, source: &str, count: Option<u64>) {
        let mut map = self
            .discovered
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match count {
            Some(n) => {
                map.insert(source.to_owned(), n);
            }
            None => {
                map.remove(source);
            }
        }
    }

    fn discovered(&self) -> Vec<(String, u64)> {
        self.discovered
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(s, n)| (s.clone(), *n))
            .collect()
    }

    /// The (probe, target) of every series the tracker runs, when there is a tracker: what
    /// the per-series gauges keep, forgetting series a reload removed.
    fn tracked_series(&self) -> Option<std::collections::HashSet<(String, String)>> {
        self.tracker().map(|tracker| {
            let mut tracked = std::collections::HashSet::new();
            tracker.each(|info, _| {
                tracked.insert((info.probe.id.clone(), info.target.clone()));
            });
            tracked
        })
    }

    /// The group of a tracker on the shared store.
    fn group(&self) -> Option<Arc<crate::state::Group>> {
        self.tracker().and_then(|t| t.group().cloned())
    }

    fn tracker(&self) -> Option<Arc<Tracker>> {
        self.tracker
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .upgrade()
    }

    pub(super) fn set_certificate(
        &self,
        labels: &SeriesLabels,
        address: &str,
        not_after: SystemTime,
    ) {
        self.certificates
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(
                (labels.target_name.to_owned(), address.to_owned()),
                (not_after, labels.probe_id.to_owned()),
            );
    }

    /// What a run with software checks identified: replaces what the same series saw before
    /// (a downgrade or an upgrade shows at once, not beside the old version).
    pub(super) fn set_software(
        &self,
        labels: &SeriesLabels,
        seen: &[crate::outcome::SoftwareSeen],
    ) {
        let mut software = self.software.lock().unwrap_or_else(PoisonError::into_inner);
        software.retain(|(target, _, _), (_, probe)| {
            !(target == labels.target_name && probe == labels.probe_id)
        });
        for s in seen.iter().take(crate::software::identify::MAX_IDENTIFIED) {
            if let Some(eol) = s.eol {
                software.insert(
                    (
                        labels.target_name.to_owned(),
                        s.name.clone(),
                        s.version.clone(),
                    ),
                    (eol, labels.probe_id.to_owned()),
                );
            }
        }
    }

    /// Calls `f` with the attributes and seconds to end of life of every release seen. With
    /// a tracker, one whose series a reload removed is forgotten.
    fn each_software(&self, mut f: impl FnMut(&[KeyValue], f64)) {
        let tracked = self.tracked_series();
        let now = SystemTime::now();
        let mut software = self.software.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(tracked) = tracked {
            software.retain(|(target, _, _), (_, probe)| {
                tracked.contains(&(probe.clone(), target.clone()))
            });
        }
        for ((target, name, version), (eol, _)) in software.iter() {
            let seconds = seconds_until(*eol, now);
            let attrs = [
                KeyValue::new("target.name", target.clone()),
                KeyValue::new("software.name", name.clone()),
                KeyValue::new("software.version", version.clone()),
            ];
            f(&attrs, seconds);
        }
    }

    /// Calls `f` with the attributes and seconds left of every certificate. With a tracker,
    /// a certificate whose series a reload removed is forgotten.
    fn each_certificate(&self, mut f: impl FnMut(&[KeyValue], f64)) {
        let tracked = self.tracked_series();
        let now = SystemTime::now();
        let mut certificates = self
            .certificates
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(tracked) = tracked {
            certificates.retain(|(target, _), (_, probe)| {
                tracked.contains(&(probe.clone(), target.clone()))
            });
        }
        for ((target, address), (not_after, _)) in certificates.iter() {
            let seconds = seconds_until(*not_after, now);
            let attrs = [
                KeyValue::new("target.name", target.clone()),
                KeyValue::new("server.address", address.clone()),
            ];
            f(&attrs, seconds);
        }
    }

    /// Calls `f` with the probe and target of every tracked series an acceptance covers, and
    /// whether it holds now.
    fn each_accepted(&self, mut f: impl FnMut(&[KeyValue], bool)) {
        let Some(tracker) = self.tracker() else {
            return;
        };
        let now = SystemTime::now();
        tracker.each(|info, _| {
            if let Some(a) = &info.acceptance {
                let attrs = [
                    KeyValue::new("probe.id", info.probe.id.clone()),
                    KeyValue::new("target.name", info.target.clone()),
                ];
                f(&attrs, a.holds(now));
            }
        });
    }

    /// Calls `f` with the attributes and state of every tracked series that has one (not
    /// `unknown`), read from the tracker now.
    fn each(&self, mut f: impl FnMut(&[KeyValue], State)) {
        let Some(tracker) = self.tracker() else {
            return;
        };
        tracker.each(|info, state| {
            if state.state == State::Unknown {
                return;
            }
            let attrs = [
                KeyValue::new("probe.id", info.probe.id.clone()),
                KeyValue::new("target.name", info.target.clone()),
                KeyValue::new(
                    "probe.severity",
                    state.severity(info.probe.severity).as_str(),
                ),
            ];
            f(&attrs, state.state);
        });
    }
}

/// Seconds from `now` until `t`, negative once `t` is past.
fn seconds_until(t: SystemTime, now: SystemTime) -> f64 {
    match t.duration_since(now) {
        Ok(d) => d.as_secs_f64(),
        Err(e) => -e.duration().as_secs_f64(),
    }
}
