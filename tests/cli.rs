//! The `fomoh` binary end to end: files written and parsed, JSON output, one-line errors.

use std::path::Path;
use std::process::{Command, Output};

fn fomoh(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fomoh")).args(args).output().expect("run the fomoh binary")
}

/// Parses `rosenbrock.csv` into (optimizer, seed, iteration, loss) rows, checking the header.
fn read_csv(path: &Path) -> Vec<(String, u64, usize, f64)> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("optimizer,seed,iteration,loss"));
    lines
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            assert_eq!(f.len(), 4, "row {l}");
            (f[0].to_string(), f[1].parse().unwrap(), f[2].parse().unwrap(), f[3].parse().unwrap())
        })
        .collect()
}

#[test]
fn rosenbrock_writes_csv_svg_and_summary() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let out_s = out.to_str().unwrap();
    let o = fomoh(&[
        "rosenbrock",
        "--dim",
        "4",
        "--iters",
        "6",
        "--seeds",
        "2",
        "--optimizers",
        "fgd,fomoh-kd:2,newton,adam@0.1",
        "--k-sweep",
        "3..4",
        "--out",
        out_s,
        "--quiet",
    ]);
    assert!(o.status.success(), "stderr: {}", String::from_utf8_lossy(&o.stderr));
    assert!(o.stdout.is_empty(), "--quiet prints nothing");

    let rows = read_csv(&out.join("rosenbrock.csv"));
    let labels = ["fgd", "fomoh-kd:2", "newton", "adam", "fomoh-kd:3", "fomoh-kd:4"];
    assert_eq!(rows.len(), labels.len() * 2 * 7, "every optimizer x seed x iteration 0..=6");
    for label in labels {
        for seed in 0..2 {
            let run: Vec<_> = rows.iter().filter(|r| r.0 == label && r.1 == seed).collect();
            assert_eq!(run.iter().map(|r| r.2).collect::<Vec<_>>(), (0..=6).collect::<Vec<_>>());
            assert!(run.iter().all(|r| r.3.is_finite() && r.3 >= 0.0));
        }
    }
    // Iteration 0 is the same starting point x0 ~ N(0, I) for every optimizer of a seed.
    for seed in 0..2 {
        let starts: Vec<f64> = rows.iter().filter(|r| r.1 == seed && r.2 == 0).map(|r| r.3).collect();
        assert!(starts.windows(2).all(|w| w[0] == w[1]), "{starts:?}");
    }
    // Newton with the exact Hessian makes progress on n = 4 within 6 steps.
    let newton_end: Vec<f64> = rows.iter().filter(|r| r.0 == "newton" && r.2 == 6).map(|r| r.3).collect();
    let newton_start: Vec<f64> = rows.iter().filter(|r| r.0 == "newton" && r.2 == 0).map(|r| r.3).collect();
    assert!(newton_end.iter().zip(&newton_start).all(|(e, s)| e < s));

    let svg = std::fs::read_to_string(out.join("rosenbrock.svg")).unwrap();
    assert!(svg.trim_start().starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    assert_eq!(svg.matches("<svg").count(), 1);
    for label in labels {
        assert!(
            svg.contains(&format!(">{label}<")) || svg.contains(&format!(">\n{label}\n<")),
            "legend {label}"
        );
    }
    assert!(svg.contains("<polyline"), "line series drawn");

    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    let opts = summary["optimizers"].as_array().unwrap();
    assert_eq!(opts.len(), labels.len());
    assert_eq!(opts[2]["optimizer"], "newton");
    assert_eq!(opts[2]["passes_per_run"], 6.0 * 10.0); // n(n+1)/2 = 10 passes per step
    assert_eq!(opts[1]["passes_per_run"], 6.0); // one k-direction pass per step
    assert_eq!(opts[3]["gradient_evals_per_run"], 6.0);
}

#[test]
fn json_output_is_machine_readable_and_the_table_names_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("j");
    let o = fomoh(&[
        "rosenbrock",
        "--dim",
        "3",
        "--iters",
        "3",
        "--seeds",
        "1",
        "--optimizers",
        "fomoh",
        "--out",
        out.to_str().unwrap(),
        "--json",
    ]);
    assert!(o.status.success());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["optimizers"][0]["optimizer"], "fomoh");
    assert_eq!(v["out_dir"], out.to_str().unwrap());

    let o = fomoh(&[
        "rosenbrock",
        "--dim",
        "3",
        "--iters",
        "3",
        "--seeds",
        "1",
        "--optimizers",
        "fomoh-bp,sgd",
        "--out",
        out.to_str().unwrap(),
        // The first run's results are there: replacing them takes --overwrite.
        "--overwrite",
    ]);
    assert!(o.status.success());
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(text.contains("median final loss") && text.contains("fomoh-bp") && text.contains("sgd"));
    assert!(text.trim_end().ends_with(out.to_str().unwrap()), "{text}");
}

#[test]
fn bad_arguments_give_one_line_and_a_nonzero_exit() {
    for args in [
        &["rosenbrock", "--dim", "1"][..],
        &["rosenbrock", "--dim", "ten"],
        &["rosenbrock", "--optimizers", "fgd,bogus"],
        &["rosenbrock", "--optimizers", "fomoh-kd:0"],
        &["rosenbrock", "--optimizers", "adam@fast"],
        &["rosenbrock", "--k-sweep", "5..2"],
        &["rosenbrock", "--seeds", "0"],
        &["rosenbrock", "--curvature", "magic"],
        &["frobnicate"],
        &[],
    ] {
        let o = fomoh(args);
        assert!(!o.status.success(), "{args:?} should fail");
        let err = String::from_utf8(o.stderr).unwrap();
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("error: "), "{args:?}: {err}");
        assert!(!err.contains("panicked") && !err.contains("backtrace"));
    }
    // An unwritable output directory is an error too, not a panic.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    let o = fomoh(&[
        "rosenbrock",
        "--dim",
        "2",
        "--iters",
        "1",
        "--seeds",
        "1",
        "--optimizers",
        "fgd",
        "--out",
        file.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(!o.status.success());
    assert_eq!(String::from_utf8(o.stderr).unwrap().trim_end().lines().count(), 1);
}

#[test]
fn help_exits_zero() {
    let o = fomoh(&["--help"]);
    assert!(o.status.success());
    assert!(String::from_utf8(o.stdout).unwrap().contains("rosenbrock"));
}

#[test]
fn demo_runs_and_names_its_directory() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("demo");
    let o = fomoh(&["demo", "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(text.trim_end().ends_with(&format!("files under {}", out.display())), "{text}");
    let rows = read_csv(&out.join("rosenbrock.csv"));
    // The paper's six optimizers plus fomoh-kd:4..=10 from the K sweep, 5 seeds, 101 rows per
    // run, except runs that diverged (listed in summary.json), which stop early.
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    let diverged = summary["diverged_runs"].as_array().unwrap();
    let mut labels: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    labels.dedup();
    assert_eq!(labels.len(), 13);
    for label in labels {
        for seed in 0..5 {
            let n = rows.iter().filter(|r| r.0 == label && r.1 == seed).count();
            let stopped = diverged.iter().any(|d| d["optimizer"] == label && d["seed"] == seed);
            assert!(if stopped { n < 101 } else { n == 101 }, "{label} seed {seed}: {n} rows");
        }
    }
}

// --backend: `fomoh rosenbrock` gives the same trajectories on runtime, jit and macro;
// `fomoh train` accepts runtime only, with a one-line error naming what it supports.

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
        (&["train", "--backend", "macro", "--epochs", "1", "--out", out], "possible values: runtime, jit"),
        (&["train", "--backend", "jit", "--optimizer", "adam", "--epochs", "1", "--out", out], "`adam`"),
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
