//! The bad-input corpus: command lines, damaged checkpoints, damaged IDX files and library
//! misuse, each answered by a clear error, without a panic, and without losing or overwriting
//! anything written before. The random counterpart is `tests/bad_input_props.rs`.

mod bad_input_common;

use bad_input_common::{entries, fomoh_in, gzip_bomb, idx_images, idx_labels, one_line_error, train_args};
use fomoh::data::{mnist, Dataset};
use fomoh::models::{evaluate, Cnn, CnnConfig, LogisticRegression, Mlp, Model, MAX_PARAMS};
use fomoh::optim::{
    Adam, Checkpoint, Fgd, Fomoh, FomohKd, Newton, NonFinitePolicy, Optimizer, Options, Schedule, Sgd,
    MAX_SKIPS_IN_A_ROW,
};
use fomoh::{objective, scalar_fn, Error, Objective, Scalar};
use std::path::Path;
use std::time::{Duration, Instant};

/// Every file under `dir` (relative paths), sorted.
fn files(dir: &Path) -> Vec<String> {
    entries(dir).iter().map(|p| p.display().to_string()).collect()
}

/// Command lines → a one-line error containing the text, exit status 1, nothing written.
#[test]
fn bad_command_lines_are_one_line_errors_and_write_nothing() {
    let cwd = tempfile::tempdir().unwrap();
    std::fs::write(cwd.path().join("afile"), "not a directory").unwrap();
    std::fs::create_dir(cwd.path().join("adir")).unwrap();
    std::fs::create_dir(cwd.path().join("empty")).unwrap();
    let before = files(cwd.path());
    let cases: &[(&[&str], &str)] = &[
        (&[], "a subcommand is required"),
        (&["train", "--epochs", "0"], "--epochs 0: expected 1..="),
        (&["train", "--epochs", "1000000000000000000"], "--epochs 1000000000000000000: expected 1..="),
        (&["train", "--batch", "0"], "--batch must be at least 1"),
        (&["train", "--lr=-1"], "--lr -1 must be finite"),
        (&["train", "--lr", "NaN"], "--lr NaN must be finite"),
        (&["train", "--optimizer", "adam@-1"], "must be finite and >= 0"),
        (&["train", "--optimizer", "fomoh-kd:100000"], "1 <= K <= 256"),
        (&["train", "--optimizer", "fomoh-kd:17"], "K <= 16"),
        (&["train", "--optimizer", "fomoh-kd:0"], "1 <= K <= 256"),
        (&["train", "--optimizer", "fgd,fgd"], "given twice"),
        (&["train", "--train-samples", "0"], "--train-samples 0"),
        (&["train", "--model", "mlp", "--hidden", "0"], "bad --hidden"),
        (&["train", "--model", "mlp", "--hidden", "100000000"], "parameters"),
        (&["train", "--model", "mlp", "--hidden", "200000"], "at most 10000000"),
        (&["train", "--model", "mlp", "--hidden", "99999999999999999999"], "bad --hidden"),
        (&["train", "--precision", "f32"], "needs --backend jit"),
        (&["train", "--checkpoint", "adir"], "is a directory"),
        (&["train", "--checkpoint", "missing/ck.json"], "does not exist"),
        (&["train", "--checkpoint", "afile"], "already exists"),
        (&["train", "--out", "afile/out"], "cannot write"),
        (&["train", "--resume", "missing.json"], "cannot read checkpoint"),
        (&["train", "--resume", "afile"], "checkpoint afile"),
        (&["train", "--resume", "/dev/zero"], "not a regular file"),
        (&["train", "--checkpoint", "/dev/null", "--overwrite"], "not a regular file"),
        (&["train", "--data", "mnist"], "needs --mnist DIR"),
        (&["train", "--data", "mnist", "--mnist", "empty"], "train-images-idx3-ubyte"),
        (&["rosenbrock", "--dim", "1"], "--dim must be at least 2"),
        (&["rosenbrock", "--dim", "1000000000"], "--dim 1000000000: at most"),
        (&["rosenbrock", "--iters", "1000000000000000000"], "--iters 1000000000000000000: at most"),
        (&["rosenbrock", "--seeds", "0"], "--seeds 0: expected"),
        (&["rosenbrock", "--k-sweep", "2..100000"], "K is at most 256"),
        (&["rosenbrock", "--k-sweep", "5..2"], "bad --k-sweep"),
        (&["rosenbrock", "--optimizers", "newton", "--dim", "1000"], "newton takes n(n+1)/2"),
        (&["rosenbrock", "--optimizers", "fomoh-kd:99999999999999999999999"], "bad K"),
        (&["rosenbrock", "--dim", "-3"], "(see `fomoh --help`)"),
        (&["rosenbrock", "--dim", "100000", "--optimizers", "fomoh-kd:256"], "units of work"),
        (&["rosenbrock", "--out", "afile/out", "--iters", "1", "--seeds", "1"], "cannot write"),
        (&["demo", "--out", "afile/out"], "cannot write"),
        (&["train", "--shards", "2"], "not provided: --distributed"),
        (&["train", "--batch", "100000"], "--batch 100000 is larger than the training set (1438 samples"),
        (
            &["study", "--preset", "logreg", "--mnist", "adir", "--out", "s", "--epochs", "0"],
            "--epochs 0: expected",
        ),
        (
            &["study", "--preset", "mlp", "--mnist", "adir", "--out", "s", "--batch", "0"],
            "--batch must be at least 1",
        ),
        (
            &["study", "--preset", "logreg", "--mnist", "adir", "--out", "s", "--optimizer", "newton"],
            "not offered",
        ),
        (
            &[
                "study",
                "--preset",
                "logreg",
                "--mnist",
                "adir",
                "--out",
                "s",
                "--optimizer",
                "fomoh-kd:1+prev",
            ],
            "+prev",
        ),
    ];
    for (args, want) in cases {
        let err = one_line_error(cwd.path(), args);
        assert!(err.contains(want), "{args:?}: {err:?} lacks {want:?}");
        assert_eq!(files(cwd.path()), before, "{args:?} wrote something");
    }
}

/// A base session: 2 epochs of fgd, fomoh-kd:2 and adam on 64 digits, saved to `ck.json`.
fn base_session(dir: &Path) -> serde_json::Value {
    let ck = dir.join("ck.json");
    let out = dir.join("out");
    let o = fomoh_in(dir, &train_args(&ck, &out, 2, &["--checkpoint"]));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&std::fs::read(&ck).unwrap()).unwrap()
}

type Edit = fn(&mut serde_json::Value);

#[test]
fn damaged_checkpoints_are_refused_and_left_as_they_are() {
    let dir = tempfile::tempdir().unwrap();
    let good = base_session(dir.path());
    let edits: &[(&str, Edit, &str)] = &[
        ("format", |s| s["format"] = 2.into(), "format 2"),
        (
            "zero rng",
            |s| s["runs"][0]["optimizer"]["Fgd"]["core"]["rng"]["s"] = serde_json::json!([0, 0, 0, 0]),
            "all zeros",
        ),
        ("swapped runs", |s| s["runs"].as_array_mut().unwrap().swap(0, 1), "labelled `fomoh-kd:2`"),
        ("removed run", |s| drop(s["runs"].as_array_mut().unwrap().pop()), "2 runs for 3 optimizers"),
        (
            "K = 200 labelled fomoh-kd:2",
            |s| s["runs"][1]["optimizer"]["FomohKd"]["k"] = 200.into(),
            "fomoh-kd:200",
        ),
        (
            "another kind",
            |s| {
                let core = s["runs"][0]["optimizer"]["Fgd"].take();
                s["runs"][0]["optimizer"] = serde_json::json!({ "Sgd": core });
            },
            "holds a sgd optimizer",
        ),
        (
            "epoch 1e18",
            |s| s["runs"][0]["epoch"] = 1_000_000_000_000_000_000u64.into(),
            "3 rows for 1000000000000000000 epochs",
        ),
        (
            "iteration",
            |s| s["runs"][0]["optimizer"]["Fgd"]["core"]["iteration"] = 5.into(),
            "5 optimizer steps for 2 epochs",
        ),
        (
            "short theta",
            |s| drop(s["runs"][0]["theta"].as_array_mut().unwrap().pop()),
            "649 parameters, the model has 650",
        ),
        (
            "negative step size",
            |s| s["runs"][0]["optimizer"]["Fgd"]["core"]["settings"]["learning_rate"] = (-0.05).into(),
            "learning rate -0.05",
        ),
        (
            "decay factor",
            |s| {
                s["runs"][0]["optimizer"]["Fgd"]["core"]["settings"]["schedule"] =
                    serde_json::json!({"milestones": [1], "gamma": -2.0});
            },
            "decay factor -2",
        ),
        ("adam beta", |s| s["runs"][2]["optimizer"]["Adam"]["beta1"] = 1.5.into(), "beta1 1.5"),
        ("adam epsilon", |s| s["runs"][2]["optimizer"]["Adam"]["epsilon"] = (-1.0).into(), "epsilon -1"),
        ("rows", |s| s["runs"][0]["rows"][1]["epoch"] = 7.into(), "row 1 is epoch 7"),
        ("passes", |s| s["runs"][0]["passes"] = 1.into(), "the last row says"),
        ("accuracy", |s| s["runs"][0]["rows"][2]["test_accuracy"] = 3.0.into(), "test accuracy 3"),
    ];
    let ck = dir.path().join("ck.json");
    for (what, edit, want) in edits {
        let mut s = good.clone();
        edit(&mut s);
        let bytes = serde_json::to_vec(&s).unwrap();
        std::fs::write(&ck, &bytes).unwrap();
        let out = dir.path().join(format!("out-{}", what.replace(' ', "-")));
        let err = one_line_error(dir.path(), &train_args(&ck, &out, 3, &["--checkpoint", "--resume"]));
        assert!(err.contains(want), "{what}: {err:?} lacks {want:?}");
        assert_eq!(std::fs::read(&ck).unwrap(), bytes, "{what}: checkpoint changed");
        assert!(!out.exists(), "{what}: wrote {}", out.display());
    }
    // Resuming a 2-epoch session with --epochs 1: refused (the summary would disagree with
    // the CSV).
    std::fs::write(&ck, serde_json::to_vec(&good).unwrap()).unwrap();
    let err = one_line_error(dir.path(), &train_args(&ck, &dir.path().join("o1"), 1, &["--resume"]));
    assert!(err.contains("2 epochs done, more than --epochs 1"), "{err}");
}

#[test]
fn finished_checkpoints_and_outputs_are_not_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    base_session(dir.path());
    let ck = dir.path().join("ck.json");
    let saved = std::fs::read(&ck).unwrap();
    // A new run pointed at it: refused before any work.
    let out = dir.path().join("new");
    let err = one_line_error(dir.path(), &train_args(&ck, &out, 2, &["--checkpoint"]));
    assert!(err.contains("already exists") && err.contains("--overwrite"), "{err}");
    assert_eq!(std::fs::read(&ck).unwrap(), saved);
    assert!(!out.exists());
    // --resume of another file does not license it either.
    let other = dir.path().join("other.json");
    std::fs::write(&other, &saved).unwrap();
    let mut args = train_args(&ck, &out, 3, &["--checkpoint"]);
    args.extend(["--resume".to_string(), other.display().to_string()]);
    assert!(one_line_error(dir.path(), &args).contains("already exists"));
    assert_eq!(std::fs::read(&ck).unwrap(), saved);
    // An unwritable --out is found before training: the checkpoint is not touched.
    let args = train_args(&ck, &dir.path().join("ck.json/out"), 3, &["--checkpoint", "--resume"]);
    assert!(one_line_error(dir.path(), &args).contains("cannot write"));
    assert_eq!(std::fs::read(&ck).unwrap(), saved);
    // With --overwrite the new run replaces it.
    let mut args = train_args(&ck, &out, 1, &["--checkpoint"]);
    args.push("--overwrite".into());
    let o = fomoh_in(dir.path(), &args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_ne!(std::fs::read(&ck).unwrap(), saved);
}

#[test]
fn a_killed_run_keeps_its_csv_and_checkpoint_and_stale_temporaries_are_removed() {
    let dir = tempfile::tempdir().unwrap();
    let (ck, out) = (dir.path().join("ck.json"), dir.path().join("out"));
    // A temporary file of a save killed long ago (no process has this id).
    let stale = dir.path().join(".ck.json.tmp-4294967");
    std::fs::write(&stale, "{\"format\"").unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_fomoh"))
        .current_dir(dir.path())
        .args(train_args(&ck, &out, 1000, &["--checkpoint"]))
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while !ck.exists() && start.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(20));
    }
    // Let it finish one more epoch or be in the middle of one, then kill it.
    std::thread::sleep(Duration::from_millis(100));
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(ck.exists(), "no checkpoint within 60 s");
    assert!(!stale.exists(), "the stale temporary file is still there");
    let csv = std::fs::read_to_string(out.join("train.csv")).expect("train.csv written after epoch 1");
    assert!(csv.lines().any(|l| l.starts_with("fgd,0,1,")), "{csv}");
    // The checkpoint is whole and resumes; the killed save's temporary file is gone after.
    let s: serde_json::Value = serde_json::from_slice(&std::fs::read(&ck).unwrap()).unwrap();
    let done = s["runs"][0]["epoch"].as_u64().unwrap();
    let o = fomoh_in(dir.path(), &train_args(&ck, &out, done as usize + 1, &["--checkpoint", "--resume"]));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(files(dir.path()).iter().all(|f| !f.contains(".tmp-")), "{:?}", files(dir.path()));
}

#[test]
fn damaged_idx_files_are_data_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let write_gz = |name: &str, bytes: &[u8]| bad_input_common::write_gz(&d.join(name), bytes);
    let labels = "train-labels-idx1-ubyte.gz";
    let images = "train-images-idx3-ubyte.gz";
    write_gz(labels, &idx_labels(&[1, 2]));
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (idx_images(2, 0, 3), "images of 0×3"),
        ([&idx_images(2, 2, 2)[..], &[0u8; 3][..]].concat(), "trailing data"),
        (idx_images(2, 2, 2)[..18].to_vec(), "truncated"),
        ([&2051u32.to_be_bytes()[..], &[0xff; 12][..]].concat(), "more than 268435456 bytes"),
        (
            [&2051u32.to_be_bytes()[..], &[0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0][..]].concat(),
            "more than 268435456 bytes",
        ),
        (vec![0, 0, 8, 1], "magic number 2049, expected 2051"),
        (vec![], "truncated header"),
    ];
    for (bytes, want) in cases {
        write_gz(images, &bytes);
        match mnist::load_split(d, "train") {
            Err(Error::Data { message, source_name }) => {
                assert!(message.contains(want), "{want}: {message}");
                assert!(source_name.ends_with(images));
            }
            other => panic!("{want}: {other:?}"),
        }
    }
    // Raw (not gzip) files get the same checks.
    std::fs::remove_file(d.join(images)).unwrap();
    std::fs::write(d.join("train-images-idx3-ubyte"), [&idx_images(2, 2, 2)[..], b"extra"].concat()).unwrap();
    assert!(
        matches!(mnist::load_split(d, "train"), Err(Error::Data { message, .. }) if message.contains("trailing"))
    );
}

#[test]
fn a_gzip_bomb_is_refused_without_decompressing_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("train-images-idx3-ubyte.gz");
    // The fixture is what it claims: a small bomb inflates to the header and 4 MiB of zeros
    // (then fails on the checksum).
    let mut inflated = Vec::new();
    let small = gzip_bomb(&idx_images(1, 1, 1), 4);
    let r = std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&small[..]), &mut inflated);
    assert!(r.is_err() && inflated.len() == 17 + (4 << 20), "{r:?} {}", inflated.len());
    // One 1×1 image in the header, then 512 MiB of zeros.
    std::fs::write(&path, gzip_bomb(&idx_images(1, 1, 1), 512)).unwrap();
    let start = Instant::now();
    let r = mnist::read_images(&path);
    let took = start.elapsed();
    assert!(matches!(&r, Err(Error::Data { message, .. }) if message.contains("trailing data")), "{r:?}");
    assert!(took < Duration::from_millis(500), "read {took:?}: decompressed the bomb");
}

fn sqrt<S: Scalar>(x: &[S]) -> S {
    x[0].sqrt()
}

#[test]
fn misused_optimizers_give_typed_errors() {
    let obj = objective(2, scalar_fn!(sqrt));
    let invalid = |r: fomoh::Result<_>, want: &str| match r {
        Err(Error::InvalidArgument(m)) => assert!(m.contains(want), "{m} lacks {want}"),
        other => panic!("{want}: {other:?}"),
    };
    let x = || vec![1.0, 1.0];
    invalid(Adam::new().betas(1.0, 0.9).step(&obj, &mut x()).map(drop), "beta1 1");
    invalid(Adam::new().betas(0.9, -0.1).step(&obj, &mut x()).map(drop), "beta2 -0.1");
    invalid(Adam::new().epsilon(-1e-8).step(&obj, &mut x()).map(drop), "epsilon");
    invalid(Fomoh::new().epsilon(f64::NAN).step(&obj, &mut x()).map(drop), "epsilon NaN");
    invalid(Fgd::new().learning_rate(f64::INFINITY).step(&obj, &mut x()).map(drop), "learning rate inf");
    let decay = |g| Fgd::new().schedule(Schedule::multi_step([3], g));
    invalid(decay(-0.5).step(&obj, &mut x()).map(drop), "decay factor -0.5");
    invalid(decay(f64::NAN).step(&obj, &mut x()).map(drop), "decay factor NaN");
    invalid(FomohKd::new(0).step(&obj, &mut x()).map(drop), "k = 0");
    // K = 10⁵ used to abort with "capacity overflow"; now a bound.
    invalid(FomohKd::new(100_000).step(&obj, &mut x()).map(drop), "1..=256");
    let wide = objective(1 << 21, scalar_fn!(sqrt));
    invalid(FomohKd::new(256).step(&wide, &mut vec![1.0; 1 << 21]).map(drop), "tangent entries");
    // Newton's n × n Hessian on a million parameters used to abort allocating it.
    let huge = objective(1 << 20, scalar_fn!(sqrt));
    invalid(Newton::new().step(&huge, &mut vec![1.0; 1 << 20]).map(drop), "at most 4096");
    // Validation also covers what a checkpoint brings back.
    assert!(Adam::new().betas(0.5, 1.5).validate().is_err());
    assert!(Fgd::new().validate().is_ok());
}

#[test]
fn a_step_into_nan_puts_theta_back_at_the_last_good_point() {
    let obj = objective(1, scalar_fn!(sqrt));
    // Error policy: the run fails and θ is where the loss was last finite.
    let mut x = vec![1.0];
    let r = Fgd::new().learning_rate(100.0).seed(3).minimize(&obj, &mut x, &Options::iterations(200));
    assert!(matches!(r, Err(Error::NonFinite(_))), "{r:?}");
    assert!(obj.value(&x).unwrap().is_finite(), "θ = {x:?}");
    // Skip policy: the run goes on from the last good point and ends at a finite loss.
    let mut x = vec![1.0];
    let mut opt = Fgd::new().learning_rate(100.0).seed(3).on_non_finite(NonFinitePolicy::Skip);
    let r = opt.minimize(&obj, &mut x, &Options::iterations(200)).unwrap();
    assert!(r.final_loss().is_finite() && obj.value(&x).unwrap().is_finite(), "{x:?}");
    assert!(r.fallbacks.skipped > 0);
    // A plain loop of steps where the loss is NaN stops instead of skipping forever.
    let mut x = vec![-1.0];
    let mut opt = Fgd::new().on_non_finite(NonFinitePolicy::Skip);
    let n = (0..10 * MAX_SKIPS_IN_A_ROW).position(|_| opt.step(&obj, &mut x).is_err());
    assert_eq!(n, Some(MAX_SKIPS_IN_A_ROW - 1));
}

#[test]
fn damaged_library_checkpoints_are_data_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.json");
    Checkpoint::new(Fgd::new().seed(1), vec![1.0], Default::default()).save(&path).unwrap();
    // Same fields, another optimizer.
    let r = Checkpoint::<Sgd>::load(&path);
    assert!(matches!(&r, Err(Error::Data { message, .. }) if message.contains("checkpoint of fgd")), "{r:?}");
    let text = std::fs::read_to_string(&path).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut zero = v.clone();
    zero["optimizer"]["core"]["rng"]["s"] = serde_json::json!([0, 0, 0, 0]);
    std::fs::write(&path, zero.to_string()).unwrap();
    let r = Checkpoint::<Fgd>::load(&path);
    assert!(matches!(&r, Err(Error::Data { message, .. }) if message.contains("all zeros")), "{r:?}");
    // A device is not read (it could be endless).
    assert!(
        matches!(Checkpoint::<Fgd>::load("/dev/zero"), Err(Error::Io { message, .. }) if message.contains("regular"))
    );
    let mut huge = v.clone();
    huge["optimizer"]["core"]["iteration"] = serde_json::json!(u64::MAX);
    std::fs::write(&path, huge.to_string()).unwrap();
    assert!(matches!(Checkpoint::<Fgd>::load(&path), Err(Error::Data { .. })));
}

#[test]
fn misused_models_and_data_sets_name_what_is_wrong() {
    let msg = |r: fomoh::Result<()>| match r {
        Err(Error::InvalidArgument(m)) => m,
        other => panic!("{other:?}"),
    };
    let m = msg(LogisticRegression::new(0, 10).map(drop));
    assert!(m.contains("logistic regression") && m.contains("0 inputs"), "{m}");
    let m = msg(LogisticRegression::new(usize::MAX, 10).map(drop));
    assert!(m.contains("logistic regression") && m.contains(&MAX_PARAMS.to_string()), "{m}");
    let m = msg(Mlp::new(&[4, 0, 3], fomoh::models::Activation::Tanh).map(drop));
    assert!(m.contains("width 1 is 0"), "{m}");
    assert!(msg(Mlp::new(&[1 << 40, 1 << 40, 2], fomoh::models::Activation::Tanh).map(drop))
        .contains("parameters"));
    let cfg = CnnConfig {
        height: 64,
        width: 64,
        conv1: 1 << 20,
        conv2: 1 << 20,
        kernel: 3,
        hidden: 8,
        classes: 10,
    };
    assert!(msg(Cnn::new(cfg).map(drop)).contains("parameters"));
    let empty = Dataset::new("held-out", vec![], vec![], vec![4], 3).unwrap();
    let model = LogisticRegression::new(4, 3).unwrap();
    let m = msg(evaluate(&model, &vec![0.0; model.num_params()], &empty, 10).map(drop));
    assert!(m.contains("held-out is empty"), "{m}");
    let one = Dataset::new("train-set", vec![0.0; 4], vec![1], vec![4], 3).unwrap();
    let m = msg(evaluate(&model, &vec![0.0; model.num_params()], &one, 0).map(drop));
    assert!(m.contains("chunk size 0") && m.contains("train-set"), "{m}");
    // Sizes that overflow, and non-finite inputs.
    assert!(Dataset::new("big", vec![], vec![0; 4], vec![usize::MAX, 2], 3).is_err());
    assert!(matches!(Dataset::new("nan", vec![f64::NAN], vec![0], vec![1], 3), Err(Error::Data { .. })));
}
