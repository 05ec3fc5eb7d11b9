//! Property tests of bad input: random command lines, random byte changes in checkpoints and
//! random IDX headers give a result or a typed (one-line) error, never a panic or a hang.

mod bad_input_common;

use bad_input_common::{fomoh_in, train_args, write_gz};
use fomoh::data::mnist;
use fomoh::optim::{Adam, Checkpoint, FomohKd, Optimizer, Options};
use fomoh::{objective, scalar_fn, Error, Scalar};
use proptest::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

/// A directory with the files the random command lines name: a file, a directory, an empty
/// directory.
fn fixtures() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("afile"), "not a directory").unwrap();
    std::fs::create_dir(dir.path().join("adir")).unwrap();
    std::fs::create_dir(dir.path().join("empty")).unwrap();
    dir
}

/// Asserts that a finished `fomoh` run either succeeded or failed as a user error.
fn ok_or_one_line(o: &std::process::Output, what: &str) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!err.contains("internal error") && !err.contains("panicked"), "{what}: {err}");
    match o.status.code() {
        Some(0) => {}
        Some(1) => assert!(err.starts_with("error: ") && err.lines().count() == 1, "{what}: {err}"),
        other => panic!("{what}: status {other:?}, stderr {err}"),
    }
}

/// Flags with hostile and ordinary values.
const FLAGS: &[(&str, &[&str])] = &[
    ("--model", &["logreg", "mlp", "cnn", "resnet"]),
    ("--data", &["digits", "mnist"]),
    ("--mnist", &["empty", "afile", "missing"]),
    (
        "--optimizer",
        &["fgd", "fomoh-kd:3", "fomoh-kd:100000", "adam@nan", "sgd@-1", "newton", "fomoh,fomoh", ""],
    ),
    ("--optimizers", &["fgd", "fomoh-kd:300", "newton", "adam@1e308"]),
    ("--epochs", &["0", "1", "18446744073709551615", "-1", "x"]),
    ("--batch", &["0", "1", "100000000000", "x"]),
    ("--lr", &["1e308", "-0", "nan", "0.1", "inf"]),
    ("--seed", &["0", "18446744073709551616", "7"]),
    ("--hidden", &["0", "1", "1,1,1", "100000000", "-5", ""]),
    ("--dim", &["0", "1", "2", "501", "100001", "-1"]),
    ("--iters", &["0", "1", "1000000001", "x"]),
    ("--seeds", &["0", "1", "10001"]),
    ("--k-sweep", &["2..3", "3..2", "1..1000", "x"]),
    ("--curvature", &["paper-exact", "robust", "x"]),
    ("--tangents", &["gaussian", "rademacher"]),
    ("--out", &["afile/x", "out", "adir"]),
    ("--checkpoint", &["adir", "ck.json", "missing/ck.json", "afile"]),
    ("--resume", &["afile", "missing", "ck.json", "adir"]),
    ("--backend", &["runtime", "jit", "macro"]),
    ("--precision", &["f32", "f64"]),
];

/// A random command line: a subcommand, small sizes that keep any valid run short, then up to
/// five random flags (a flag given twice is itself an error).
fn argv() -> impl Strategy<Value = Vec<String>> {
    let flag = (0..FLAGS.len(), 0..16usize, prop::bool::weighted(0.1)).prop_map(|(f, v, bare)| {
        let (name, values) = FLAGS[f];
        if bare {
            vec![name.to_string()]
        } else {
            vec![name.to_string(), values[v % values.len()].to_string()]
        }
    });
    (0..5usize, prop::collection::vec(flag, 0..5), prop::bool::ANY).prop_map(|(cmd, flags, quiet)| {
        let mut a: Vec<String> = match cmd {
            0 | 1 => vec!["train".into(), "--train-samples".into(), "8".into()],
            2 => vec!["rosenbrock".into(), "--seeds".into(), "1".into(), "--iters".into(), "2".into()],
            3 => vec!["demo".into(), "--out".into(), "afile/demo".into()],
            _ => vec!["bogus".into()],
        };
        a.extend(flags.into_iter().flatten());
        if quiet {
            a.push("--quiet".into());
        }
        a
    })
}

proptest! {
    #![proptest_config(config(24))]

    #[test]
    fn random_command_lines_give_a_result_or_one_line(args in argv()) {
        let dir = fixtures();
        let start = Instant::now();
        let o = fomoh_in(dir.path(), &args);
        ok_or_one_line(&o, &format!("{args:?}"));
        prop_assert!(start.elapsed() < Duration::from_secs(30), "{args:?} took {:?}", start.elapsed());
    }
}

fn rosen<S: Scalar>(x: &[S]) -> S {
    (0..x.len() - 1)
        .map(|i| S::from_f64(100.0) * (x[i + 1] - x[i] * x[i]).powi(2) + (S::one() - x[i]).powi(2))
        .sum()
}

/// The bytes of a checkpoint of `opt` after five steps on a 4-dimensional Rosenbrock.
fn checkpoint_bytes<O: Optimizer + serde::Serialize + serde::de::DeserializeOwned>(mut opt: O) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.json");
    let obj = objective(4, scalar_fn!(rosen));
    let mut x = vec![-1.2, 1.0, -1.2, 1.0];
    let r = opt.minimize(&obj, &mut x, &Options::iterations(5)).unwrap();
    Checkpoint::new(opt, x, r).save(&path).unwrap();
    std::fs::read(&path).unwrap()
}

/// Library checkpoints of FoMoH-KD and Adam.
fn library_checkpoints() -> &'static (Vec<u8>, Vec<u8>) {
    static C: OnceLock<(Vec<u8>, Vec<u8>)> = OnceLock::new();
    C.get_or_init(|| {
        (checkpoint_bytes(FomohKd::new(3).seed(2)), checkpoint_bytes(Adam::new().learning_rate(0.01)))
    })
}

/// Bytes a change writes: digits, signs and JSON punctuation (small edits that keep the file
/// mostly valid, reaching the validation behind the parser), or any byte.
fn flips() -> impl Strategy<Value = Vec<(usize, u8)>> {
    let byte = prop_oneof![
        3 => prop::sample::select(b"0123456789-.eE,:{}[]\" nul".to_vec()),
        1 => any::<u8>(),
    ];
    prop::collection::vec((any::<usize>(), byte), 1..4)
}

fn flipped(bytes: &[u8], flips: &[(usize, u8)]) -> Vec<u8> {
    let mut b = bytes.to_vec();
    for &(at, v) in flips {
        let at = at % b.len();
        b[at] = v;
    }
    b
}

/// Loads a changed checkpoint and, if it loads, takes three steps from it.
fn load_and_run<O: Optimizer + serde::Serialize + serde::de::DeserializeOwned>(
    path: &Path,
) -> Result<(), Error> {
    let c = Checkpoint::<O>::load(path)?;
    let (mut opt, mut x) = (c.optimizer, c.theta);
    let obj = objective(4, scalar_fn!(rosen));
    opt.minimize(&obj, &mut x, &Options::iterations(3)).map(drop)
}

proptest! {
    #![proptest_config(config(200))]

    #[test]
    fn changed_library_checkpoints_load_and_run_or_give_typed_errors(kd in any::<bool>(), flips in flips()) {
        let (kd_bytes, adam_bytes) = library_checkpoints();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.json");
        std::fs::write(&path, flipped(if kd { kd_bytes } else { adam_bytes }, &flips)).unwrap();
        let start = Instant::now();
        let r = if kd { load_and_run::<FomohKd>(&path) } else { load_and_run::<Adam>(&path) };
        prop_assert!(start.elapsed() < Duration::from_secs(5), "{:?}", start.elapsed());
        // Any Err is a typed fomoh::Error; a load error names the file.
        if let Err(Error::Data { source_name, .. }) = &r {
            prop_assert!(source_name.ends_with("c.json"));
        }
    }
}

/// A 2-epoch session saved by `fomoh train` (made once per test binary).
fn cli_session() -> &'static (tempfile::TempDir, Vec<u8>) {
    static S: OnceLock<(tempfile::TempDir, Vec<u8>)> = OnceLock::new();
    S.get_or_init(|| {
        let dir = fixtures();
        let ck = dir.path().join("base.json");
        let o = fomoh_in(dir.path(), &train_args(&ck, &dir.path().join("base"), 2, &["--checkpoint"]));
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let bytes = std::fs::read(&ck).unwrap();
        (dir, bytes)
    })
}

proptest! {
    #![proptest_config(config(16))]

    #[test]
    fn changed_cli_checkpoints_resume_or_give_one_line(flips in flips()) {
        let (_, base) = cli_session();
        let dir = tempfile::tempdir().unwrap();
        let ck: PathBuf = dir.path().join("ck.json");
        let bytes = flipped(base, &flips);
        std::fs::write(&ck, &bytes).unwrap();
        let o = fomoh_in(dir.path(), &train_args(&ck, &dir.path().join("out"), 3, &["--checkpoint", "--resume"]));
        ok_or_one_line(&o, &format!("flips {flips:?}"));
        if !o.status.success() {
            prop_assert_eq!(std::fs::read(&ck).unwrap(), bytes, "a refused checkpoint was changed");
        }
    }
}

/// A random IDX file: the right magic or another, small or huge dimensions, a payload of the
/// right length or not, raw or gzip.
fn idx_file() -> impl Strategy<Value = (bool, Vec<u8>, bool)> {
    let dim = prop_oneof![3 => 0u32..4, 1 => any::<u32>()];
    (any::<bool>(), prop::collection::vec(dim, 3), 0usize..40, any::<bool>(), prop::bool::weighted(0.1))
        .prop_map(|(images, dims, len, gz, other_magic)| {
            let magic: u32 = match (images, other_magic) {
                (_, true) => 0x0803_0000 ^ dims[0],
                (true, false) => 2051,
                (false, false) => 2049,
            };
            let ndims = if images { 3 } else { 1 };
            let mut b = magic.to_be_bytes().to_vec();
            for d in &dims[..ndims] {
                b.extend_from_slice(&d.to_be_bytes());
            }
            b.extend((0..len).map(|i| (i * 7 % 13) as u8));
            (images, b, gz)
        })
}

proptest! {
    #![proptest_config(config(200))]

    #[test]
    fn random_idx_files_read_or_give_data_errors((images, bytes, gz) in idx_file()) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(if gz { "f.gz" } else { "f" });
        if gz { write_gz(&path, &bytes) } else { std::fs::write(&path, &bytes).unwrap() }
        let start = Instant::now();
        let r = if images { mnist::read_images(&path).map(|(n, r, c, p)| (n * r * c, p.len())) } else {
            mnist::read_labels(&path).map(|l| (l.len(), l.len()))
        };
        prop_assert!(start.elapsed() < Duration::from_secs(1));
        match r {
            Ok((want, got)) => prop_assert_eq!(want, got),
            Err(Error::Data { .. }) => {}
            Err(e) => prop_assert!(false, "not a data error: {e:?}"),
        }
    }
}
