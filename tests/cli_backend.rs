//! `--backend`: `fomoh rosenbrock` gives the same trajectories on runtime, jit and macro;
//! `fomoh train` accepts runtime only, with a one-line error naming what it supports.

use std::path::Path;
use std::process::{Command, Output};

fn fomoh(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fomoh")).args(args).output().expect("run the fomoh binary")
}

/// `rosenbrock.csv` as (optimizer, seed, iteration, loss) rows.
fn read_csv(path: &Path) -> Vec<(String, u64, usize, f64)> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("optimizer,seed,iteration,loss"));
    lines
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f[0].to_string(), f[1].parse().unwrap(), f[2].parse().unwrap(), f[3].parse().unwrap())
        })
        .collect()
}

#[test]
fn rosenbrock_trajectories_agree_across_backends() {
    let dir = tempfile::tempdir().unwrap();
    let mut runs = Vec::new();
    for backend in ["runtime", "jit", "macro"] {
        let out = dir.path().join(backend);
        let o = fomoh(&[
            "rosenbrock",
            "--dim",
            "6",
            "--iters",
            "15",
            "--seeds",
            "2",
            "--optimizers",
            "fgd,fomoh,fomoh-kd:4,newton,adam",
            "--backend",
            backend,
            "--out",
            out.to_str().unwrap(),
            "--json",
        ]);
        assert!(o.status.success(), "{backend}: {}", String::from_utf8_lossy(&o.stderr));
        let summary: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(summary["backend"], backend);
        runs.push((backend, read_csv(&out.join("rosenbrock.csv"))));
    }
    let (_, reference) = &runs[0];
    assert_eq!(reference.len(), 5 * 2 * 16, "every optimizer x seed x iteration 0..=15");
    // The optimizers move: the losses are not all the starting ones.
    assert!(reference.iter().any(|r| r.2 == 15 && r.3 < reference.iter().find(|s| s.1 == r.1).unwrap().3));
    for (backend, rows) in &runs[1..] {
        assert_eq!(rows.len(), reference.len(), "{backend}");
        for (a, b) in rows.iter().zip(reference) {
            assert_eq!((&a.0, a.1, a.2), (&b.0, b.1, b.2), "{backend}");
            let tol = 1e-9 * a.3.abs().max(b.3.abs()).max(f64::MIN_POSITIVE);
            assert!(
                (a.3 - b.3).abs() <= tol,
                "{backend} {} seed {} iter {}: {} vs {}",
                a.0,
                a.1,
                a.2,
                a.3,
                b.3
            );
        }
    }
}

#[test]
fn the_table_names_the_backend() {
    let dir = tempfile::tempdir().unwrap();
    let o = fomoh(&[
        "rosenbrock",
        "--dim",
        "3",
        "--iters",
        "2",
        "--seeds",
        "1",
        "--optimizers",
        "fomoh",
        "--backend",
        "macro",
        "--out",
        dir.path().to_str().unwrap(),
    ]);
    assert!(o.status.success());
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(text.lines().next().unwrap().ends_with("backend macro"), "{text}");
}

#[test]
fn bad_or_unsupported_backends_are_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    for (args, expect) in [
        (&["rosenbrock", "--backend", "gpu", "--out", out][..], "gpu"),
        (&["train", "--backend", "cuda", "--out", out], "cuda"),
        (&["train", "--backend", "jit", "--epochs", "1", "--out", out], "supported: runtime"),
        (&["train", "--backend", "macro", "--epochs", "1", "--out", out], "supported: runtime"),
    ] {
        let o = fomoh(args);
        assert!(!o.status.success(), "{args:?} should fail");
        let err = String::from_utf8(o.stderr).unwrap();
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("error: ") && err.contains(expect), "{args:?}: {err}");
    }
}

#[test]
fn train_reports_its_backend() {
    let dir = tempfile::tempdir().unwrap();
    let o = fomoh(&[
        "train",
        "--backend",
        "runtime",
        "--epochs",
        "1",
        "--train-samples",
        "64",
        "--optimizer",
        "adam",
        "--out",
        dir.path().to_str().unwrap(),
        "--json",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(summary["backend"], "runtime");
}
