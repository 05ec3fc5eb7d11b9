//! Helpers shared by the tests that run the `fomoh` binary: the bad-input corpus, its property
//! tests and the output-protection tests.
#![allow(dead_code)]

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The longest any `fomoh` run of these tests may take before it counts as a hang.
pub const HANG: Duration = Duration::from_secs(60);

/// Runs `fomoh args` in `cwd`; fails the test if it runs longer than [`HANG`].
pub fn fomoh_in<S: AsRef<std::ffi::OsStr>>(cwd: &Path, args: &[S]) -> Output {
    let argv: Vec<_> = args.iter().map(|a| a.as_ref().to_string_lossy().into_owned()).collect();
    guarded(
        Command::new(env!("CARGO_BIN_EXE_fomoh")).current_dir(cwd).args(args),
        &format!("fomoh {argv:?}"),
        HANG,
    )
}

/// Runs `cmd` with its output captured; kills it and fails the test (naming `what`) if it runs
/// longer than `limit`.
pub fn guarded(cmd: &mut Command, what: &str, limit: Duration) -> Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("run {what}: {e}"));
    let start = Instant::now();
    while child.try_wait().expect("wait for the child").is_none() {
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("{what} still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    child.wait_with_output().expect("collect the child's output")
}

/// Every entry (files and directories) under `dir`, as paths relative to it, sorted.
pub fn entries(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p.clone());
            }
            out.push(p.strip_prefix(dir).unwrap().to_path_buf());
        }
    }
    out.sort();
    out
}

/// Asserts that the run failed as a user error (exit status 1, no panic, one `error:` line on
/// stderr, nothing on stdout) and returns that line.
pub fn one_line_error<S: AsRef<std::ffi::OsStr>>(cwd: &Path, args: &[S]) -> String {
    let o = fomoh_in(cwd, args);
    let argv: Vec<_> = args.iter().map(|a| a.as_ref().to_string_lossy().into_owned()).collect();
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(1), "{argv:?}: status {:?}, stderr {err}", o.status);
    assert!(!err.contains("internal error") && !err.contains("panicked"), "{argv:?} panicked: {err}");
    assert_eq!(err.lines().count(), 1, "{argv:?}: {err}");
    assert!(err.starts_with("error: "), "{argv:?}: {err}");
    assert!(o.stdout.is_empty(), "{argv:?} printed {}", String::from_utf8_lossy(&o.stdout));
    err.trim_end().to_string()
}

/// `train` on the first 64 digits with fgd, fomoh-kd:2 and adam for `epochs` epochs into
/// `out`, quiet, with `ck` after each flag in `ck_flags` (`--checkpoint`, `--resume`).
pub fn train_args(ck: &Path, out: &Path, epochs: usize, ck_flags: &[&str]) -> Vec<String> {
    let mut a: Vec<String> =
        ["train", "--train-samples", "64", "--optimizer", "fgd,fomoh-kd:2,adam", "--quiet", "--epochs"]
            .iter()
            .map(|s| s.to_string())
            .collect();
    a.push(epochs.to_string());
    a.extend(["--out".to_string(), out.display().to_string()]);
    for f in ck_flags {
        a.extend([f.to_string(), ck.display().to_string()]);
    }
    a
}

/// An IDX3 image file of `n` images of `r`×`c` with pixel `i` = `i mod 256`.
pub fn idx_images(n: u32, r: u32, c: u32) -> Vec<u8> {
    let mut b = Vec::new();
    for w in [2051, n, r, c] {
        b.extend_from_slice(&w.to_be_bytes());
    }
    b.extend((0..n * r * c).map(|i| i as u8));
    b
}

/// An IDX1 label file.
pub fn idx_labels(labels: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    for w in [2049, labels.len() as u32] {
        b.extend_from_slice(&w.to_be_bytes());
    }
    b.extend_from_slice(labels);
    b
}

/// Writes `bytes` gzip-compressed to `path`.
pub fn write_gz(path: &Path, bytes: &[u8]) {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    std::fs::write(path, e.finish().unwrap()).unwrap();
}

/// A gzip stream of `head` followed by `mib` MiB of zeros, built without compressing them
/// all: one MiB of zeros is deflated once (flushed to a byte boundary, its back-references
/// only reach zeros) and repeated. The trailer's checksum is wrong; a reader that stops
/// early never sees it.
pub fn gzip_bomb(head: &[u8], mib: usize) -> Vec<u8> {
    use flate2::{Compress, Compression, FlushCompress};
    let zeros = vec![0u8; 1 << 20];
    let mut c = Compress::new(Compression::best(), false);
    let mut deflate = |input: &[u8], flush| {
        let mut out = Vec::with_capacity(input.len() + 4096);
        let before = c.total_in();
        c.compress_vec(input, &mut out, flush).unwrap();
        assert_eq!((c.total_in() - before) as usize, input.len());
        out
    };
    let first = deflate(&[head, &zeros[..]].concat(), FlushCompress::Sync);
    let repeat = deflate(&zeros, FlushCompress::Sync);
    let end = deflate(&[], FlushCompress::Finish);
    let mut gz = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    gz.extend(first);
    for _ in 1..mib {
        gz.extend_from_slice(&repeat);
    }
    gz.extend(end);
    gz.extend([0; 8]);
    gz
}

/// `train.csv` without its last column, `wall_s` (the numbers that must repeat bit for bit).
pub fn without_wall_time(csv: &str) -> String {
    csv.lines().map(|l| l.rsplit_once(',').map_or(l, |(rest, _)| rest).to_string() + "\n").collect()
}
