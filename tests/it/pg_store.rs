//! The shared state store (`state.postgres`) against a real PostgreSQL, one layer below the
//! replicas: two trackers that both believe they run a series (a handover) announce each
//! transition once; a member that takes a series keeps its state; members that migrate at
//! the same instant migrate once; an orphaned transition is announced by the member that runs
//! its series; a database that is down fails calls within the deadline and counts them.

use std::sync::Arc;
use std::time::Duration;

use picket::outcome::{Finding, Outcome, RunResult};
use picket::state::{Postgres as Store, SeriesInfo, State, Tracker, Transition};

use crate::pg::Postgres;

fn probe() -> Arc<picket::probe::Probe> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("p.yaml");
    std::fs::write(
        &file,
        "id: p\nname: the root answers 200\nseverity: high\nconfirm: 1\nrecover: 1\n\
         http:\n  path: /\nchecks:\n  - status: 200\n",
    )
    .unwrap();
    let loaded = picket::load::load_probe_paths(&[file], &Default::default())
        .unwrap_or_else(|d| panic!("{d}"));
    loaded.into_iter().next().expect("one probe")
}

fn planned(probe: &Arc<picket::probe::Probe>, targets: &[&str]) -> Vec<(String, SeriesInfo)> {
    targets
        .iter()
        .map(|t| {
            (
                format!("p@{t}"),
                SeriesInfo {
                    probe: Arc::clone(probe),
                    target: (*t).to_owned(),
                    tags: Vec::new(),
                    acceptance: None,
                },
            )
        })
        .collect()
}

fn run(outcome: Outcome) -> RunResult {
    RunResult {
        duration: Duration::from_millis(3),
        ..RunResult::new("p", "web", outcome)
    }
}

fn fail() -> Outcome {
    Outcome::Fail(vec![Finding {
        check: "status".into(),
        expected: "the status is 200".into(),
        observed: "the status is 500".into(),
        detail: None,
        severity: None,
    }])
}

async fn member(pg: &Postgres, id: &str) -> Arc<Tracker> {
    let store = Store::new(&pg.url(), Duration::from_secs(5), id.into()).unwrap();
    store.migrate().await.unwrap();
    store.heartbeat("127.0.0.1:0").await.unwrap();
    Arc::new(Tracker::shared(store))
}

/// Transitions published by a tracker so far.
fn transitions(
    changes: &mut tokio::sync::broadcast::Receiver<Arc<picket::state::Change>>,
) -> Vec<Transition> {
    std::iter::from_fn(|| changes.try_recv().ok())
        .filter_map(|c| c.transition)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_members_running_one_series_announce_each_transition_once() {
    let pg = Postgres::start();
    let a = member(&pg, "member-a").await;
    let b = member(&pg, "member-b").await;
    let probe = probe();
    a.track_owned(planned(&probe, &["web"]), &|_| true)
        .await
        .unwrap();
    b.track_owned(planned(&probe, &["web"]), &|_| true)
        .await
        .unwrap();
    let mut seen_a = a.subscribe();
    let mut seen_b = b.subscribe();

    // Both run the series during a handover. A writes first; B's write of a state it read
    // before A's lost the race: B takes what the store holds, and announces nothing.
    a.record("p@web", &run(Outcome::Pass))
        .await
        .expect("unknown -> passing");
    assert!(b.record("p@web", &run(Outcome::Pass)).await.is_none());
    assert_eq!(b.get("p@web").unwrap().state.state, State::Passing);
    // B now holds the newest version: its failure is the regression.
    let regression = b.record("p@web", &run(fail())).await.expect("a regression");
    assert_eq!(regression.transition, Some(Transition::Regression));
    // A's failure, computed from the state it had, loses: no second regression.
    assert!(a.record("p@web", &run(fail())).await.is_none());
    assert_eq!(a.get("p@web").unwrap().state.state, State::Regressed);
    // A, up to date again, sees the recovery; B's own recovery loses.
    let recovery = a
        .record("p@web", &run(Outcome::Pass))
        .await
        .expect("a recovery");
    assert_eq!(recovery.transition, Some(Transition::Recovery));
    assert!(b.record("p@web", &run(Outcome::Pass)).await.is_none());

    let all: Vec<Transition> = [transitions(&mut seen_a), transitions(&mut seen_b)].concat();
    assert_eq!(all.len(), 2, "{all:?}");
    assert!(all.contains(&Transition::Regression) && all.contains(&Transition::Recovery));
    a.sync().await.unwrap();
    b.sync().await.unwrap();
    // Not marked sent until the service confirms that the records are out: a member killed
    // before that leaves them to the next owner.
    let unsent = pg.psql("SELECT count(*) FROM picket_transitions WHERE sent IS NULL");
    assert_eq!(String::from_utf8_lossy(&unsent.stdout).trim(), "2");
    b.confirm_announced(&[(
        "p@web".into(),
        Transition::Regression,
        regression.since_ms(),
    )]);
    a.confirm_announced(&[("p@web".into(), Transition::Recovery, recovery.since_ms())]);
    // Wait for the announced marks (sent with the next batch).
    let mut rows = String::new();
    for _ in 0..100 {
        let out = pg.psql(
            "SELECT transition || ' ' || recorded_by || ' ' || (sent IS NOT NULL) \
             FROM picket_transitions ORDER BY recorded",
        );
        rows = String::from_utf8_lossy(&out.stdout).into_owned();
        if rows.lines().count() == 2 && !rows.contains("false") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        rows.lines().collect::<Vec<_>>(),
        ["regression member-b true", "recovery member-a true"],
        "one outbox row per transition, by the member that recorded it, marked sent"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_that_takes_a_series_keeps_its_state_and_never_announces_it_again() {
    let pg = Postgres::start();
    let a = member(&pg, "member-a").await;
    let probe = probe();
    a.track_owned(planned(&probe, &["web", "api"]), &|_| true)
        .await
        .unwrap();
    a.record("p@web", &run(Outcome::Pass)).await;
    a.record("p@web", &run(fail())).await.expect("regressed");
    a.record("p@api", &run(fail()))
        .await
        .expect("failing from the start");
    a.sync().await.unwrap();

    // B joins and takes `web`; `api` stays A's, and B shows it as the store holds it.
    let b = member(&pg, "member-b").await;
    let mut seen_b = b.subscribe();
    b.track_owned(planned(&probe, &["web", "api"]), &|k| k == "p@web")
        .await
        .unwrap();
    let web = b.get("p@web").unwrap();
    assert_eq!(
        web.state.state,
        State::Regressed,
        "not unknown after the move"
    );
    assert_eq!(web.state.findings.len(), 1);
    assert_eq!(web.state.history.len(), 2, "the history moves too");
    b.read_group().await;
    assert_eq!(b.get("p@api").unwrap().state.state, State::Failing);
    // A later read brings the rows written since (at most once a second).
    a.record("p@api", &run(Outcome::Pass))
        .await
        .expect("a recovery");
    a.sync().await.unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    b.read_group().await;
    assert_eq!(b.get("p@api").unwrap().state.state, State::Passing);
    assert_eq!(b.store_errors(), 0, "no call failed");
    let mut owned = Vec::new();
    b.each(|info, _| owned.push(info.target.clone()));
    assert_eq!(
        owned,
        ["web"],
        "telemetry's gauges count only the series it runs"
    );

    assert!(
        b.record("p@web", &run(fail())).await.is_none(),
        "still regressed"
    );
    assert!(
        b.record("p@api", &run(Outcome::Pass)).await.is_none(),
        "not B's to run"
    );
    let recovery = b.record("p@web", &run(Outcome::Pass)).await.unwrap();
    assert_eq!(recovery.transition, Some(Transition::Recovery));
    assert_eq!(transitions(&mut seen_b), [Transition::Recovery]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_that_start_at_the_same_instant_migrate_once() {
    let pg = Postgres::start();
    let stores: Vec<Store> = (0..4)
        .map(|i| Store::new(&pg.url(), Duration::from_secs(5), format!("member-{i}")).unwrap())
        .collect();
    let results = futures_util::future::join_all(stores.iter().map(Store::migrate)).await;
    let applied: Vec<i32> = results
        .into_iter()
        .flat_map(|r| r.unwrap().applied)
        .collect();
    assert_eq!(
        applied,
        [1],
        "one member applied version 1, the others found it done"
    );
    let out = pg.psql("SELECT count(*) FROM picket_schema_migrations");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1");
    // A member that starts later finds nothing to do.
    assert!(stores[0].migrate().await.unwrap().applied.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transition_of_a_member_that_died_is_claimed_once() {
    let pg = Postgres::start();
    let a = member(&pg, "member-a").await;
    let probe = probe();
    a.track_owned(planned(&probe, &["web"]), &|_| true)
        .await
        .unwrap();
    a.record("p@web", &run(Outcome::Pass)).await;
    a.record("p@web", &run(fail())).await.expect("regressed");
    a.sync().await.unwrap();
    // As if A died between recording and announcing: unsent, and A's lease is over.
    let out = pg.psql(
        "UPDATE picket_transitions SET sent = NULL; \
         UPDATE picket_members SET expires = now() - interval '1 second' WHERE id = 'member-a'",
    );
    assert!(out.status.success(), "{out:?}");

    let b_store = Store::new(&pg.url(), Duration::from_secs(5), "member-b".into()).unwrap();
    b_store.heartbeat("127.0.0.1:0").await.unwrap();
    let c_store = Store::new(&pg.url(), Duration::from_secs(5), "member-c".into()).unwrap();
    let orphans = b_store.orphans().await.unwrap();
    assert_eq!(orphans.len(), 1, "{orphans:?}");
    assert_eq!(orphans[0].recorded_by, "member-a");
    let claimed = b_store
        .claim(&orphans[0])
        .await
        .unwrap()
        .expect("B claims it");
    assert_eq!(claimed.transition, Transition::Regression);
    assert_eq!(claimed.recorded.state.state, State::Regressed);
    assert!(
        c_store.claim(&orphans[0]).await.unwrap().is_none(),
        "a second claim of the same row finds it taken"
    );
    let b = Arc::new(Tracker::shared(b_store));
    b.track_owned(planned(&probe, &["web"]), &|_| true)
        .await
        .unwrap();
    let mut seen = b.subscribe();
    let since_ms = claimed.since_ms;
    assert!(b.announce(claimed));
    assert_eq!(transitions(&mut seen), [Transition::Regression]);
    b.confirm_announced(&[("p@web".into(), Transition::Regression, since_ms)]);
    b.sync().await.unwrap();
    let mut sent = String::new();
    for _ in 0..100 {
        sent = String::from_utf8_lossy(
            &pg.psql("SELECT recorded_by || ' ' || (sent IS NOT NULL) FROM picket_transitions")
                .stdout,
        )
        .trim()
        .to_owned();
        if sent.ends_with("true") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(sent, "member-b true");

    // B's own transition whose commit answer was lost (B announced nothing) is found again
    // after 10 s; one B announced already is only marked again, not announced twice.
    b.record("p@web", &run(Outcome::Pass))
        .await
        .expect("a recovery");
    b.sync().await.unwrap();
    let out = pg.psql(
        "UPDATE picket_transitions SET sent = NULL, recorded = now() - interval '11 seconds' \
         WHERE transition = 'recovery'",
    );
    assert!(out.status.success(), "{out:?}");
    let b_store = b.shared_store().unwrap();
    let own = b_store.orphans().await.unwrap();
    assert_eq!(own.len(), 1, "{own:?}");
    assert_eq!(own[0].recorded_by, "member-b");
    let claimed = b_store.claim(&own[0]).await.unwrap().expect("its own row");
    let mut seen = b.subscribe();
    assert!(b.announce(claimed));
    assert!(transitions(&mut seen).is_empty(), "announced once already");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_that_is_down_fails_calls_within_the_deadline_and_counts_them() {
    let port = crate::helpers::closed_port();
    let store = Store::new(
        &format!("postgres://picket@127.0.0.1:{port}/postgres"),
        Duration::from_secs(2),
        "member-a".into(),
    )
    .unwrap();
    let group = Arc::clone(store.group());
    assert!(store.migrate().await.is_err());
    assert!(store.heartbeat("127.0.0.1:0").await.is_err());
    assert!(!group.holds_lease());
    assert_eq!(group.members(), 0);
    let tracker = Tracker::shared(store);
    tracker
        .track_owned(planned(&probe(), &["web"]), &|_| false)
        .await
        .unwrap();
    // A series it cannot read is not taken: the error says why.
    let taken = tracker
        .track_owned(planned(&probe(), &["web"]), &|_| true)
        .await;
    assert!(taken.is_err());
    assert!(group.errors() >= 3, "{}", group.errors());
}

/// A member exports `picket.cluster.members` (members with a live lease; 0 once its own
/// lease has ended) and `picket.state.errors`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_exports_the_members_of_its_group_and_its_store_errors() {
    use picket::config::{OtlpProtocol, Telemetry as TelemetryConfig};
    let pg = Postgres::start();
    let receiver = crate::otlp::Receiver::grpc().await;
    let telemetry = picket::telemetry::Telemetry::init(
        &TelemetryConfig {
            endpoint: Some(receiver.endpoint().parse().unwrap()),
            protocol: OtlpProtocol::Grpc,
            export_interval: Duration::from_millis(200),
        },
        None,
    )
    .unwrap();
    let a = member(&pg, "member-a").await;
    let _b = member(&pg, "member-b").await;
    // A renews after B joined: two live members.
    a.shared_store()
        .unwrap()
        .heartbeat("127.0.0.1:0")
        .await
        .unwrap();
    telemetry.observe_states(&a);
    let members = |r: &crate::otlp::Receiver| {
        r.metric_points(picket::telemetry::CLUSTER_MEMBERS)
            .last()
            .map(|(_, v)| *v)
    };
    assert!(
        receiver
            .wait_until(|r| members(r) == Some(2.0), Duration::from_secs(20))
            .await,
        "{:?}",
        receiver.metric_points(picket::telemetry::CLUSTER_MEMBERS)
    );
    // The database goes away: calls fail and are counted.
    drop(pg);
    let _ = a.shared_store().unwrap().heartbeat("127.0.0.1:0").await;
    let errors = |r: &crate::otlp::Receiver| {
        r.metric_points(picket::telemetry::STATE_ERRORS)
            .last()
            .map(|(_, v)| *v)
    };
    assert!(
        receiver
            .wait_until(
                |r| errors(r).is_some_and(|e| e >= 1.0),
                Duration::from_secs(20)
            )
            .await,
        "{}",
        receiver.dump()
    );
    tokio::task::spawn_blocking(move || telemetry.shutdown(Duration::from_secs(2)))
        .await
        .unwrap();
}

/// A member takes over other members' unannounced transitions only once it has held its lease
/// for longer than a lease: after an outage of the database every member lost its lease at
/// once, and each must get the chance to mark its own announcements first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_claims_orphans_only_after_holding_its_lease_for_a_lease() {
    let pg = Postgres::start();
    let store = Store::new(&pg.url(), Duration::from_secs(1), "member-a".into()).unwrap();
    store.migrate().await.unwrap();
    let group = Arc::clone(store.group());
    store.heartbeat("127.0.0.1:0").await.unwrap();
    assert!(group.holds_lease());
    assert!(!group.steady(), "just (re)joined");
    let started = std::time::Instant::now();
    while started.elapsed() < Duration::from_millis(2300) {
        store.heartbeat("127.0.0.1:0").await.unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(group.steady(), "held for over a lease");
    // The lease runs out (the database is gone for longer than a lease): steady no more,
    // and not again until a full lease after it is back.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert!(!group.holds_lease() && !group.steady());
    store.heartbeat("127.0.0.1:0").await.unwrap();
    assert!(group.holds_lease() && !group.steady());
}
