//! What the `fomoh` binary leaves under `--out`: the results of an earlier run are not
//! replaced without `--overwrite` (refused before any work, one line naming the first file),
//! `fomoh demo` regenerates its own default directory, and `--resume` may continue its own
//! session's `--out` only.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fomoh_in(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fomoh")).current_dir(cwd).args(args).output().expect("run fomoh")
}

fn ok_in(cwd: &Path, args: &[&str]) -> Output {
    let o = fomoh_in(cwd, args);
    assert!(o.status.success(), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
    o
}

/// Every file under `dir` (relative path) with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(p.strip_prefix(dir).unwrap().to_path_buf(), std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

/// Asserts a refusal: a non-zero exit, one `error:` line naming `file` and `--overwrite`,
/// nothing on stdout.
fn assert_refused(o: &Output, file: &Path) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "not refused: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.starts_with("error: "), "{err}");
    assert!(err.contains(&format!("{} already exists", file.display())), "names {}: {err}", file.display());
    assert!(err.contains("--overwrite"), "{err}");
    assert!(o.stdout.is_empty());
}

#[test]
fn rosenbrock_does_not_replace_an_earlier_run_without_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r");
    let run = |seeds: &str, extra: &[&str]| {
        let args = ["rosenbrock", "--dim", "3", "--iters", "4", "--optimizers", "fgd,fomoh", "--quiet"];
        let out = out.to_str().unwrap();
        fomoh_in(dir.path(), &[&args[..], &["--seeds", seeds, "--out", out], extra].concat())
    };
    assert!(run("2", &[]).status.success());
    let first = snapshot(&out);
    assert!(first.contains_key(Path::new("rosenbrock.csv")) && first.contains_key(Path::new("summary.json")));
    // Another study into the same directory: refused, the first run's files byte-identical.
    assert_refused(&run("1", &[]), &out.join("rosenbrock.csv"));
    assert_eq!(snapshot(&out), first);
    // The first existing result is named, whichever it is.
    std::fs::remove_file(out.join("rosenbrock.csv")).unwrap();
    assert_refused(&run("1", &[]), &out.join("rosenbrock.svg"));
    // --overwrite replaces them (one seed now: a shorter CSV).
    assert!(run("1", &["--overwrite"]).status.success());
    let second = snapshot(&out);
    let rows = |s: &BTreeMap<PathBuf, Vec<u8>>| {
        String::from_utf8(s[Path::new("rosenbrock.csv")].clone()).unwrap().lines().count()
    };
    assert_eq!(rows(&second), 1 + 2 * 5, "header + 2 optimizers x 1 seed x iterations 0..=4");
    assert_ne!(second[Path::new("summary.json")], first[Path::new("summary.json")]);
}

/// `fomoh train` on 64 digits with fgd into `out`, quiet, with `extra` (one epoch unless
/// `extra` says otherwise).
fn train(cwd: &Path, out: &Path, extra: &[&str]) -> Output {
    let args = ["train", "--train-samples", "64", "--optimizer", "fgd", "--quiet"];
    let epochs: &[&str] = if extra.contains(&"--epochs") { &[] } else { &["--epochs", "1"] };
    fomoh_in(cwd, &[&args[..], &["--out", out.to_str().unwrap()], epochs, extra].concat())
}

#[test]
fn train_does_not_replace_an_earlier_run_without_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("t");
    assert!(train(dir.path(), &out, &[]).status.success());
    let first = snapshot(&out);
    assert!(first.contains_key(Path::new("train.csv")));
    let o = train(dir.path(), &out, &["--seed", "1"]);
    assert_refused(&o, &out.join("train.csv"));
    assert_eq!(snapshot(&out), first, "the first run's files are untouched");
    let o = train(dir.path(), &out, &["--seed", "1", "--overwrite"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let second = snapshot(&out);
    assert_eq!(second.len(), first.len());
    assert_ne!(second[Path::new("train.csv")], first[Path::new("train.csv")], "another seed's curves");
}

#[test]
fn resume_may_continue_its_own_out_but_not_another_runs() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, ck) = (dir.path().join("a"), dir.path().join("b"), dir.path().join("ck.json"));
    let ck_s = ck.to_str().unwrap();
    assert!(train(dir.path(), &a, &["--checkpoint", ck_s]).status.success());
    assert!(train(dir.path(), &b, &["--seed", "1"]).status.success());
    let (a_before, b_before) = (snapshot(&a), snapshot(&b));
    // Continuing the session of `a` into `b` would replace another run's results.
    let o = train(dir.path(), &b, &["--resume", ck_s, "--epochs", "2"]);
    assert_refused(&o, &b.join("train.csv"));
    assert!(String::from_utf8_lossy(&o.stderr).contains(&format!("not the output of the session in {ck_s}")));
    assert_eq!(snapshot(&b), b_before);
    assert_eq!(snapshot(&a), a_before);
    // Into its own directory it continues without --overwrite: epoch 0 and 1 rows are kept.
    let o = train(dir.path(), &a, &["--resume", ck_s, "--checkpoint", ck_s, "--epochs", "2"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let before = String::from_utf8(a_before[Path::new("train.csv")].clone()).unwrap();
    let after = std::fs::read_to_string(a.join("train.csv")).unwrap();
    assert!(after.starts_with(&before) && after.lines().count() == before.lines().count() + 1, "{after}");
}

#[test]
fn demo_regenerates_its_default_directory_but_not_a_given_one() {
    let cwd = tempfile::tempdir().unwrap();
    // A given --out with an earlier demo's files (here stand-ins): refused before anything
    // runs, whichever of its files is there.
    let given = cwd.path().join("given");
    std::fs::create_dir_all(given.join("digits")).unwrap();
    std::fs::write(given.join("digits/train.csv"), "earlier").unwrap();
    let o = fomoh_in(cwd.path(), &["demo", "--out", given.to_str().unwrap()]);
    assert_refused(&o, &given.join("digits/train.csv"));
    std::fs::write(given.join("rosenbrock.svg"), "earlier").unwrap();
    let o = fomoh_in(cwd.path(), &["demo", "--out", given.to_str().unwrap()]);
    assert_refused(&o, &given.join("rosenbrock.svg"));
    assert_eq!(std::fs::read_to_string(given.join("digits/train.csv")).unwrap(), "earlier");
    assert_eq!(std::fs::read_to_string(given.join("rosenbrock.svg")).unwrap(), "earlier");
    assert!(!given.join("rosenbrock.csv").exists() && !given.join("summary.json").exists());
    // The default directory is the demo's own: an earlier run's files there are replaced.
    let default = cwd.path().join("fomoh-out/demo");
    std::fs::create_dir_all(default.join("digits")).unwrap();
    for f in ["rosenbrock.csv", "digits/train.csv"] {
        std::fs::write(default.join(f), "earlier").unwrap();
    }
    let o = ok_in(cwd.path(), &["demo", "--quiet"]);
    assert!(o.stdout.is_empty());
    let csv = std::fs::read_to_string(default.join("rosenbrock.csv")).unwrap();
    assert!(csv.starts_with("optimizer,seed,iteration,loss\n"), "{}", &csv[..40.min(csv.len())]);
    let csv = std::fs::read_to_string(default.join("digits/train.csv")).unwrap();
    assert!(csv.starts_with("optimizer,seed,epoch,passes,"), "{}", &csv[..40.min(csv.len())]);
}
