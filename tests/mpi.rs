//! `fomoh train --distributed` end to end. Without the `mpi` feature: the flag's error. With
//! it (`cargo test --features mpi --test mpi`; Open MPI's `mpirun` on the PATH): 1, 2 and 4
//! ranks on loopback write the same `train.csv` bit for bit, equal to the one-process run to
//! rounding (digits, and MNIST logreg when `../shared/data/mnist` exists); errors before
//! training reach every rank; a rank killed mid-run ends the job with a message on every other
//! rank, and the last checkpoint resumes at another rank count to the uninterrupted result.

#[path = "bad_input_common/mod.rs"]
mod bad_input_common;

#[cfg(not(feature = "mpi"))]
#[test]
fn distributed_needs_a_build_with_mpi() {
    use bad_input_common::one_line_error;
    let dir = tempfile::tempdir().unwrap();
    let line = one_line_error(dir.path(), &["train", "--distributed", "--epochs", "1"]);
    assert!(line.contains("--features mpi") && line.contains("mpirun -n"), "{line}");
    assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none(), "nothing written");
}

#[cfg(feature = "mpi")]
mod with_mpi {
    use super::bad_input_common::{fomoh_in, guarded, one_line_error, without_wall_time, HANG};
    use std::path::{Path, PathBuf};
    use std::process::{Command, Output};
    use std::time::{Duration, Instant};

    /// `mpirun -n ranks fomoh train --distributed args` in `cwd` (as root too, ranks
    /// oversubscribing the cores).
    fn mpirun_cmd(cwd: &Path, ranks: usize, args: &[&str]) -> Command {
        let mut cmd = Command::new("mpirun");
        cmd.current_dir(cwd)
            .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
            .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
            .args(["--oversubscribe", "-n", &ranks.to_string(), env!("CARGO_BIN_EXE_fomoh")])
            .args(["train", "--distributed", "--quiet"])
            .args(args);
        cmd
    }

    fn mpirun(cwd: &Path, ranks: usize, args: &[&str]) -> Output {
        guarded(&mut mpirun_cmd(cwd, ranks, args), &format!("mpirun -n {ranks} {args:?}"), 3 * HANG)
    }

    fn ok(o: Output, what: &str) -> Output {
        assert!(o.status.success(), "{what}: {:?}\n{}", o.status, String::from_utf8_lossy(&o.stderr));
        o
    }

    /// `train.csv` without its wall-time column.
    fn csv(dir: &Path) -> String {
        without_wall_time(&std::fs::read_to_string(dir.join("train.csv")).unwrap())
    }

    /// Asserts two `train.csv` texts have the same rows, the losses and accuracies equal to a
    /// relative `tol`.
    fn same_to(a: &str, b: &str, tol: f64) {
        let (la, lb): (Vec<&str>, Vec<&str>) = (a.lines().collect(), b.lines().collect());
        assert_eq!(la.len(), lb.len());
        assert!(la.len() > 2, "{a}");
        assert_eq!(la[0], lb[0], "header");
        for (x, y) in la.iter().zip(&lb).skip(1) {
            let (fx, fy): (Vec<&str>, Vec<&str>) = (x.split(',').collect(), y.split(',').collect());
            assert_eq!(fx[..4], fy[..4], "optimizer, seed, epoch, passes: {x} vs {y}");
            for (p, q) in fx[4..].iter().zip(&fy[4..]) {
                let (p, q): (f64, f64) = (p.parse().unwrap(), q.parse().unwrap());
                assert!((p - q).abs() <= tol * p.abs().max(q.abs()), "{x}\nvs\n{y}");
            }
        }
    }

    /// The documented tolerance between a distributed run and the one-process run on the
    /// unsplit minibatches (docs/distributed.md).
    const TOL: f64 = 1e-10;

    #[test]
    fn one_two_and_four_ranks_write_the_same_csv_on_digits() {
        let t = tempfile::tempdir().unwrap();
        let args = ["--optimizer", "fgd,fomoh,fomoh-kd:4,fomoh-bp", "--epochs", "2", "--out"];
        let mut outs = Vec::new();
        for ranks in [1, 2, 4] {
            let out = t.path().join(format!("r{ranks}"));
            ok(mpirun(t.path(), ranks, &[&args[..], &[out.to_str().unwrap()]].concat()), "mpirun");
            outs.push(out);
        }
        let r1 = csv(&outs[0]);
        assert_eq!(r1, csv(&outs[1]), "2 ranks");
        assert_eq!(r1, csv(&outs[2]), "4 ranks");
        let one = t.path().join("one");
        let mut plain: Vec<&str> = vec!["train", "--quiet"];
        plain.extend(&args);
        plain.push(one.to_str().unwrap());
        ok(fomoh_in(t.path(), &plain), "one process");
        same_to(&csv(&one), &r1, TOL);
        // the traffic: K-direction steps exchange a constant message, FoMoH-BP the gradient
        let summary: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(outs[2].join("summary.json")).unwrap()).unwrap();
        let d = &summary["distributed"];
        assert_eq!(d["ranks"], 4);
        let sent = |i: usize| d["runs"][i]["bytes_sent_per_step"].as_f64().unwrap();
        // a header of 3 numbers and one shard of a 64-row minibatch per rank: K = 4 sends
        // 2 + K + K(K+1)/2 = 16 numbers
        assert_eq!(d["runs"][2]["optimizer"], "fomoh-kd:4");
        assert!(sent(2) <= 8.0 * (3.0 + 16.0) && sent(2) > 8.0 * 3.0, "{d}");
        // FoMoH-BP sends its shard's 650 gradient entries (rank 0 owns no shard of the last,
        // 29-row minibatch: one shard)
        assert!(sent(3) > 8.0 * 600.0 && sent(3) > 30.0 * sent(2), "FoMoH-BP sends the gradient: {d}");
    }

    #[test]
    fn four_ranks_compiled_equal_one_process_compiled_bit_for_bit() {
        let t = tempfile::tempdir().unwrap();
        let (a, b) = (t.path().join("a"), t.path().join("b"));
        let args = ["--backend", "jit", "--optimizer", "fgd,fomoh-kd:4", "--epochs", "2", "--out"];
        ok(mpirun(t.path(), 4, &[&args[..], &[a.to_str().unwrap()]].concat()), "mpirun");
        let plain = [&["train", "--quiet"][..], &args[..], &[b.to_str().unwrap()]].concat();
        ok(fomoh_in(t.path(), &plain), "one process");
        assert_eq!(csv(&a), csv(&b));
    }

    /// `../shared/data/mnist` from the repository root, if present.
    fn mnist_dir() -> Option<PathBuf> {
        let d = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/mnist");
        d.join("train-images-idx3-ubyte.gz").exists().then_some(d)
    }

    #[test]
    fn four_ranks_equal_one_process_on_mnist_logreg() {
        let Some(mnist) = mnist_dir() else {
            eprintln!("skipped: no MNIST under ../shared/data/mnist");
            return;
        };
        let t = tempfile::tempdir().unwrap();
        let (a, b) = (t.path().join("a"), t.path().join("b"));
        let m = mnist.to_str().unwrap();
        let args = [
            "--data",
            "mnist",
            "--mnist",
            m,
            "--train-samples",
            "512",
            "--optimizer",
            "fomoh-kd:4",
            "--epochs",
            "1",
            "--out",
        ];
        ok(mpirun(t.path(), 4, &[&args[..], &[a.to_str().unwrap()]].concat()), "mpirun");
        let plain = [&["train", "--quiet"][..], &args[..], &[b.to_str().unwrap()]].concat();
        ok(fomoh_in(t.path(), &plain), "one process");
        same_to(&csv(&b), &csv(&a), TOL);
    }

    #[test]
    fn errors_before_training_reach_every_rank() {
        let t = tempfile::tempdir().unwrap();
        // more ranks than samples: the same error on every rank
        let o = mpirun(t.path(), 4, &["--train-samples", "3", "--batch", "3", "--out", "x"]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success());
        assert_eq!(err.matches("4 ranks for 3 training samples").count(), 4, "{err}");
        // an output only rank 0 checks: rank 0 says why, the others that it failed
        std::fs::create_dir(t.path().join("busy")).unwrap();
        std::fs::write(t.path().join("busy/train.csv"), "x").unwrap();
        let o = mpirun(t.path(), 2, &["--epochs", "1", "--out", "busy"]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success());
        assert!(err.contains("already") || err.contains("exists"), "{err}");
        assert!(err.contains("rank(s) [0] failed before training"), "{err}");
        assert_eq!(std::fs::read_to_string(t.path().join("busy/train.csv")).unwrap(), "x");
    }

    #[test]
    fn without_a_launcher_the_error_says_how_to_launch() {
        let t = tempfile::tempdir().unwrap();
        let line = one_line_error(t.path(), &["train", "--distributed", "--epochs", "1"]);
        assert!(line.contains("mpirun -n"), "{line}");
    }

    /// The pids of the processes whose parent is `parent`.
    fn children(parent: u32) -> Vec<u32> {
        let mut out = Vec::new();
        for e in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else { continue };
            let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else { continue };
            // pid (comm) state ppid ...: the fields after the last ')'
            let ppid = stat.rsplit(')').next().and_then(|r| r.split_whitespace().nth(1)?.parse::<u32>().ok());
            if ppid == Some(parent) {
                out.push(pid);
            }
        }
        out
    }

    #[test]
    fn a_killed_rank_ends_the_job_and_the_checkpoint_resumes_at_another_rank_count() {
        let t = tempfile::tempdir().unwrap();
        let ck = t.path().join("ck.json");
        let common = ["--train-samples", "256", "--optimizer", "fomoh-kd:4", "--out"];
        let long =
            [&common[..], &["run", "--checkpoint", ck.to_str().unwrap(), "--epochs", "100000"]].concat();
        let mut child = mpirun_cmd(t.path(), 4, &long)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let start = Instant::now();
        while !ck.exists() {
            assert!(start.elapsed() < HANG, "no checkpoint written");
            std::thread::sleep(Duration::from_millis(20));
        }
        let ranks = children(child.id());
        assert_eq!(ranks.len(), 4, "the 4 ranks are mpirun's children");
        let victim = ranks[2];
        assert!(Command::new("kill").args(["-9", &victim.to_string()]).status().unwrap().success());
        let start = Instant::now();
        while child.try_wait().unwrap().is_none() {
            if start.elapsed() > HANG {
                let _ = child.kill();
                panic!("the job did not end after a rank was killed");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let o = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success());
        // The surviving ranks say so; Open MPI aborts the job after the first of them exits
        // with an error, and may kill the others before they print.
        let told = err.matches("the MPI job was ended").count();
        assert!((1..=3).contains(&told), "a surviving rank says so: {err}");
        // the last checkpoint resumes with 2 ranks, to the uninterrupted run's result
        let saved: serde_json::Value = serde_json::from_slice(&std::fs::read(&ck).unwrap()).unwrap();
        let epochs = (saved["runs"][0]["epoch"].as_u64().unwrap() + 2).to_string();
        let resume = [
            &common[..],
            &[
                "run",
                "--resume",
                ck.to_str().unwrap(),
                "--checkpoint",
                ck.to_str().unwrap(),
                "--epochs",
                &epochs,
            ],
        ]
        .concat();
        ok(mpirun(t.path(), 2, &resume), "resume");
        let whole = [&common[..], &["whole", "--epochs", &epochs]].concat();
        ok(mpirun(t.path(), 1, &whole), "uninterrupted");
        assert_eq!(csv(&t.path().join("run")), csv(&t.path().join("whole")));
    }
}
