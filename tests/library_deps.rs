//! The library without the command line: a crate depending on `fomoh` with
//! `default-features = false` compiles none of the command line's dependencies.

use std::process::Command;

/// The crates only the `fomoh` binary uses.
const CLI_ONLY: [&str; 3] = ["clap", "indicatif", "plotters"];

/// The names of the packages `fomoh` pulls into a normal (non-dev, non-build) build with
/// the given extra `cargo tree` arguments.
fn normal_deps(extra: &[&str]) -> Vec<String> {
    let out = Command::new(env!("CARGO"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["tree", "-p", "fomoh", "-e", "normal", "--prefix", "none", "--format", "{p}"])
        .args(extra)
        .output()
        .expect("run cargo tree");
    assert!(out.status.success(), "cargo tree failed: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).expect("cargo tree prints UTF-8");
    text.lines().filter_map(|l| l.split_whitespace().next()).map(str::to_owned).collect()
}

#[test]
fn without_default_features_no_cli_crate_is_compiled() {
    for features in
        [&["--no-default-features"][..], &["--no-default-features", "--features", "nalgebra,ndarray,serde"]]
    {
        let deps = normal_deps(features);
        assert!(deps.iter().any(|d| d == "fomoh-runtime"), "the library's own crates are listed: {deps:?}");
        for cli in CLI_ONLY {
            assert!(
                !deps.iter().any(|d| d == cli),
                "{cli} is compiled for a library-only dependent ({features:?})"
            );
        }
    }
    // The interop features bring their crates.
    let deps = normal_deps(&["--no-default-features", "--features", "nalgebra,ndarray"]);
    assert!(deps.iter().any(|d| d == "nalgebra") && deps.iter().any(|d| d == "ndarray"), "{deps:?}");
}

#[test]
fn the_default_features_keep_the_command_line() {
    let deps = normal_deps(&[]);
    for cli in CLI_ONLY {
        assert!(deps.iter().any(|d| d == cli), "{cli} is missing from the default build: {deps:?}");
    }
}
