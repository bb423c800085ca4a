//! `--shard auto`: in a StatefulSet each pod takes the series of its ordinal. Three pods
//! (`picket-0` … `picket-2`, `PICKET_SHARD_COUNT=3`) list disjoint parts whose union is the
//! unsharded list; a host name without an ordinal, a missing or zero count and an ordinal
//! past the count are refused with a hint.

use std::collections::BTreeSet;

use crate::helpers::{run_picket, texts, workspace};

/// Four http targets and the built-in library: a hundred-odd series. Nothing is contacted.
const CONFIG: &str = "targets:\n  - name: a\n    url: http://127.0.0.1:9\n  - name: b\n    url: http://127.0.0.1:9/b\n  - name: c\n    url: https://127.0.0.1:9\n  - name: d\n    url: http://127.0.0.1:9/d\nstate: { path: state }\n";

/// The `probe target` pairs under `SERIES` in `picket list` output.
fn series(stdout: &str) -> BTreeSet<String> {
    stdout
        .lines()
        .skip_while(|l| !l.starts_with("SERIES"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .map(|l| l.split_whitespace().take(2).collect::<Vec<_>>().join(" "))
        .collect()
}

#[tokio::test]
async fn three_pods_list_disjoint_shards_that_cover_every_series() {
    let ws = workspace(&[("picket.yaml", CONFIG)]);
    let out = run_picket(ws.path(), &["list", "-c", "picket.yaml"], &[]).await;
    let (stdout, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let all = series(&stdout);
    assert!(all.len() > 50, "{stdout}");

    let mut union = BTreeSet::new();
    for i in 0..3 {
        let host = format!("picket-{i}");
        // The flag for two pods, the variable for the third: both paths of the same option.
        let (args, env): (&[&str], Vec<(&str, &str)>) = if i < 2 {
            (
                &["list", "-c", "picket.yaml", "--shard", "auto"],
                vec![("HOSTNAME", &host), ("PICKET_SHARD_COUNT", "3")],
            )
        } else {
            (
                &["list", "-c", "picket.yaml"],
                vec![
                    ("HOSTNAME", &host),
                    ("PICKET_SHARD_COUNT", "3"),
                    ("PICKET_SHARD", "auto"),
                ],
            )
        };
        let out = run_picket(ws.path(), args, &env).await;
        let (stdout, stderr) = texts(&out);
        assert_eq!(out.status.code(), Some(0), "{host}: {stderr}");
        let mine = series(&stdout);
        assert!(
            stdout.contains(&format!(
                "SERIES ({} of {}, shard {i}/3)",
                mine.len(),
                all.len()
            )),
            "{stdout}"
        );
        assert!(!mine.is_empty(), "{host} got nothing");
        assert!(mine.is_subset(&all), "{host}: {mine:?}");
        assert!(
            union.is_disjoint(&mine),
            "{host} shares series with an earlier pod"
        );
        union.extend(mine);
    }
    assert_eq!(union, all, "the shards together are every series");
}

#[tokio::test]
async fn auto_refuses_a_host_without_ordinal_a_missing_count_and_an_ordinal_past_it() {
    let ws = workspace(&[("picket.yaml", CONFIG)]);
    type Vars<'a> = &'a [(&'a str, &'a str)];
    let cases: [(Vars, &str, &str); 4] = [
        (
            &[("HOSTNAME", "picket"), ("PICKET_SHARD_COUNT", "3")],
            "host name `picket` does not end in an ordinal `-N`",
            "StatefulSet",
        ),
        (
            &[("HOSTNAME", "picket-1")],
            "PICKET_SHARD_COUNT is not set",
            "replicas",
        ),
        (
            &[("HOSTNAME", "picket-1"), ("PICKET_SHARD_COUNT", "0")],
            "PICKET_SHARD_COUNT is `0`",
            "replicas",
        ),
        (
            &[("HOSTNAME", "picket-3"), ("PICKET_SHARD_COUNT", "3")],
            "ordinal 3 of host `picket-3` is out of range for PICKET_SHARD_COUNT=3",
            "replicas",
        ),
    ];
    for (env, message, hint) in cases {
        for command in ["list", "run"] {
            let out = run_picket(
                ws.path(),
                &[command, "-c", "picket.yaml", "--shard", "auto"],
                env,
            )
            .await;
            let (stdout, stderr) = texts(&out);
            assert_eq!(out.status.code(), Some(2), "{command} {env:?}: {stderr}");
            assert!(stderr.contains(message), "{command} {env:?}: {stderr}");
            assert!(
                stderr.contains("hint:") && stderr.contains(hint),
                "{command}: {stderr}"
            );
            assert!(!stdout.contains("SERIES"), "{stdout}");
        }
    }
}
