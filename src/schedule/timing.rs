//! When a series is due: the wall [`Clock`] on tokio's time, the stable phase of an `every`
//! schedule, the next cron occurrence, and the jitter window and delay.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, Utc};
use rand::Rng;
use tokio::time::Instant;

use crate::units::Schedule;

/// Wall time derived from tokio's monotonic clock.
///
/// Production anchors it once at start ([`Clock::system`]); tests anchor it at a chosen wall
/// time ([`Clock::at`]) under a paused tokio clock, so every due time is exact. Being monotonic,
/// it does not follow later steps of the system clock; a restart re-anchors it.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    base_wall: SystemTime,
    base: Instant,
}

impl Clock {
    /// The system's wall time, now.
    pub fn system() -> Clock {
        Clock::at(SystemTime::now())
    }

    /// A clock that reads `wall` at tokio's current instant.
    pub fn at(wall: SystemTime) -> Clock {
        Clock {
            base_wall: wall,
            base: Instant::now(),
        }
    }

    /// The wall time now.
    pub fn now_wall(&self) -> SystemTime {
        self.wall_at(Instant::now())
    }

    /// The wall time at a tokio instant.
    pub fn wall_at(&self, instant: Instant) -> SystemTime {
        if instant >= self.base {
            let ahead = instant - self.base;
            self.base_wall.checked_add(ahead).unwrap_or(self.base_wall)
        } else {
            let behind = self.base - instant;
            self.base_wall.checked_sub(behind).unwrap_or(self.base_wall)
        }
    }

    /// The tokio instant at a wall time, or `None` if it cannot be represented.
    pub fn instant_at(&self, wall: SystemTime) -> Option<Instant> {
        match wall.duration_since(self.base_wall) {
            Ok(ahead) => self.base.checked_add(ahead),
            Err(behind) => Some(
                self.base
                    .checked_sub(behind.duration())
                    .unwrap_or(self.base),
            ),
        }
    }
}

/// The interval in whole milliseconds, at least 1 so that no arithmetic divides by zero.
fn interval_ms(interval: Duration) -> u64 {
    u64::try_from(interval.as_millis())
        .unwrap_or(u64::MAX)
        .max(1)
}

/// The stable phase of a series on an `every` schedule: `hash % interval`, in milliseconds.
pub fn phase(interval: Duration, hash: u64) -> Duration {
    Duration::from_millis(hash % interval_ms(interval))
}

/// The first due time strictly after `after`, without jitter; `None` if there is none (a cron
/// expression that never matches again, or a time beyond what the system can represent).
pub fn next_due(schedule: &Schedule, hash: u64, after: SystemTime) -> Option<SystemTime> {
    match schedule {
        Schedule::Every { interval, .. } => next_every(*interval, hash, after),
        Schedule::Cron { cron, .. } => next_cron(cron, after),
    }
}

fn next_every(interval: Duration, hash: u64, after: SystemTime) -> Option<SystemTime> {
    let period = u128::from(interval_ms(interval));
    let phase = u128::from(hash) % period;
    // Before 1970 nothing is due; count from the epoch.
    let after_ms = after
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let due_ms = if after_ms < phase {
        phase
    } else {
        phase + ((after_ms - phase) / period + 1) * period
    };
    let due = UNIX_EPOCH.checked_add(Duration::from_millis(u64::try_from(due_ms).ok()?))?;
    (due > after).then_some(due)
}

fn next_cron(cron: &croner::Cron, after: SystemTime) -> Option<SystemTime> {
    let after_ms = i64::try_from(after.duration_since(UNIX_EPOCH).ok()?.as_millis()).ok()?;
    let mut start: DateTime<Utc> = DateTime::from_timestamp_millis(after_ms)?;
    // croner works in whole seconds; guard against an answer that is not strictly later.
    for _ in 0..4 {
        let next = cron.find_next_occurrence(&start, false).ok()?;
        let next_ms = u64::try_from(next.timestamp_millis()).ok()?;
        let due = UNIX_EPOCH.checked_add(Duration::from_millis(next_ms))?;
        if due > after {
            return Some(due);
        }
        start = next;
    }
    None
}

/// A jitter fraction as configured, made safe: `[0, 1]`, and 0 for NaN.
fn clamp_fraction(fraction: f64) -> f64 {
    if fraction.is_finite() {
        fraction.clamp(0.0, 1.0)
    } else {
        0.0
    }
}

/// The width of the random delay window for the tick due at `due`: `jitter × interval`, or
/// `jitter × gap to the following occurrence` for cron.
pub fn jitter_window(schedule: &Schedule, due: SystemTime) -> Duration {
    let (span, fraction) = match schedule {
        Schedule::Every { interval, jitter } => {
            (Duration::from_millis(interval_ms(*interval)), *jitter)
        }
        Schedule::Cron { cron, jitter, .. } => {
            if clamp_fraction(*jitter) == 0.0 {
                return Duration::ZERO;
            }
            let gap = next_cron(cron, due)
                .and_then(|next| next.duration_since(due).ok())
                .unwrap_or(Duration::ZERO);
            (gap, *jitter)
        }
    };
    let ms = span.as_millis() as f64 * clamp_fraction(fraction);
    // `as` saturates for floats; the window is at most the span.
    Duration::from_millis(ms as u64)
}

/// A random delay in `[0, window)`, in whole milliseconds.
pub(super) fn random_delay(window: Duration) -> Duration {
    let ms = u64::try_from(window.as_millis()).unwrap_or(u64::MAX);
    if ms == 0 {
        Duration::ZERO
    } else {
        Duration::from_millis(rand::rng().random_range(0..ms))
    }
}

/// Whether two schedules fire at the same times with the same jitter.
pub(super) fn same_schedule(a: &Schedule, b: &Schedule) -> bool {
    match (a, b) {
        (
            Schedule::Every {
                interval: ia,
                jitter: ja,
            },
            Schedule::Every {
                interval: ib,
                jitter: jb,
            },
        ) => interval_ms(*ia) == interval_ms(*ib) && ja.to_bits() == jb.to_bits(),
        (
            Schedule::Cron {
                expression: ea,
                jitter: ja,
                ..
            },
            Schedule::Cron {
                expression: eb,
                jitter: jb,
                ..
            },
        ) => ea == eb && ja.to_bits() == jb.to_bits(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::stable_hash;
    use crate::schedule::tests::{cron, every, keys, wall_ms};

    #[test]
    fn every_is_aligned_to_the_epoch_at_the_phase() {
        let s = every(10, 0.0);
        let hash = 1234; // phase 1.234 s
        assert_eq!(next_due(&s, hash, wall_ms(1_000)), Some(wall_ms(1_234)));
        assert_eq!(next_due(&s, hash, wall_ms(5_000)), Some(wall_ms(11_234)));
        // Strictly after: a tick at `after` is not due again.
        assert_eq!(next_due(&s, hash, wall_ms(11_234)), Some(wall_ms(21_234)));
        let just_before = wall_ms(11_233) + Duration::from_micros(500);
        assert_eq!(next_due(&s, hash, just_before), Some(wall_ms(11_234)));
        assert_eq!(
            phase(Duration::from_secs(10), hash),
            Duration::from_millis(1234)
        );
    }

    #[test]
    fn odd_input_does_not_panic() {
        // A zero interval is treated as 1 ms.
        let zero = Schedule::Every {
            interval: Duration::ZERO,
            jitter: 0.0,
        };
        assert_eq!(next_due(&zero, 99, wall_ms(5_000)), Some(wall_ms(5_001)));
        assert_eq!(phase(Duration::ZERO, 99), Duration::ZERO);
        // Huge intervals, times before the epoch, far-future times.
        let huge = Schedule::Every {
            interval: Duration::MAX,
            jitter: f64::NAN,
        };
        let _ = next_due(&huge, u64::MAX, wall_ms(5_000));
        let _ = jitter_window(&huge, wall_ms(5_000));
        let before_epoch = UNIX_EPOCH - Duration::from_secs(10);
        assert!(next_due(&every(10, 0.0), 7, before_epoch).is_some_and(|t| t > before_epoch));
        let _ = next_due(&cron("* * * * * *"), 7, before_epoch);
        let far = UNIX_EPOCH + Duration::from_secs(1 << 40);
        let _ = next_due(&every(10, 0.0), u64::MAX, far);
        let _ = next_due(&cron("* * * * * *"), 7, far);
        // The clock too.
        let clock = Clock {
            base_wall: UNIX_EPOCH,
            base: Instant::now(),
        };
        let _ = clock.instant_at(far);
        assert!(
            clock
                .instant_at(before_epoch)
                .is_some_and(|i| i <= clock.base)
        );
    }

    #[test]
    fn cron_next_is_the_following_matching_second_in_utc() {
        let s = cron("*/5 * * * * *");
        // 2024-01-01T00:00:02.500Z
        let start = 1_704_067_202_500;
        assert_eq!(
            next_due(&s, 0, wall_ms(start)),
            Some(wall_ms(1_704_067_205_000))
        );
        assert_eq!(
            next_due(&s, 0, wall_ms(1_704_067_205_000)),
            Some(wall_ms(1_704_067_210_000))
        );
        // Five fields: every minute, at second 0.
        let minutely = cron("* * * * *");
        assert_eq!(
            next_due(&minutely, 0, wall_ms(start)),
            Some(wall_ms(1_704_067_260_000))
        );
        // Cron ignores the hash: no phase.
        assert_eq!(
            next_due(&s, 0, wall_ms(start)),
            next_due(&s, 77, wall_ms(start))
        );
    }

    #[test]
    fn jitter_window_is_a_fraction_of_the_interval_or_gap() {
        let due = wall_ms(1_704_067_205_000);
        assert_eq!(jitter_window(&every(10, 0.1), due), Duration::from_secs(1));
        assert_eq!(jitter_window(&every(10, 0.0), due), Duration::ZERO);
        assert_eq!(jitter_window(&every(10, f64::NAN), due), Duration::ZERO);
        assert_eq!(jitter_window(&every(10, -1.0), due), Duration::ZERO);
        assert_eq!(jitter_window(&every(10, 7.0), due), Duration::from_secs(10));
        let Schedule::Cron {
            expression, cron, ..
        } = cron("*/5 * * * * *")
        else {
            unreachable!()
        };
        let jittered = Schedule::Cron {
            expression,
            cron,
            jitter: 0.5,
        };
        assert_eq!(jitter_window(&jittered, due), Duration::from_millis(2_500));
        for _ in 0..1_000 {
            assert!(random_delay(Duration::from_millis(3)) < Duration::from_millis(3));
        }
        assert_eq!(random_delay(Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn ten_thousand_phases_spread_evenly_over_five_minutes() {
        let interval = Duration::from_secs(300);
        let mut buckets = [0u32; 10];
        for key in keys(10_000) {
            let p = phase(interval, stable_hash(&key)).as_millis();
            buckets[usize::try_from(p * 10 / interval.as_millis()).expect("bucket")] += 1;
        }
        for count in buckets {
            assert!((900..=1_100).contains(&count), "{buckets:?}");
        }
    }

    #[test]
    fn schedules_compare_by_what_they_fire() {
        assert!(same_schedule(&every(10, 0.1), &every(10, 0.1)));
        assert!(!same_schedule(&every(10, 0.1), &every(10, 0.2)));
        assert!(!same_schedule(&every(10, 0.0), &every(20, 0.0)));
        assert!(same_schedule(
            &cron("*/5 * * * * *"),
            &cron("*/5 * * * * *")
        ));
        assert!(!same_schedule(
            &cron("*/5 * * * * *"),
            &cron("*/6 * * * * *")
        ));
        assert!(!same_schedule(&cron("*/5 * * * * *"), &every(5, 0.0)));
    }
}
