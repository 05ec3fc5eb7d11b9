//! What the `fomoh` binary leaves under `--out`: the results of an earlier run are not
//! replaced without `--overwrite` (refused before any work, one line naming the first file),
//! `fomoh demo` regenerates its own default directory, and `--resume` may continue its own
//! session's `--out` only; the plots against iterations, forward passes and wall time, the
//! note on losses drawn at the floor of a log axis, and each optimizer's colour.

mod bad_input_common;

use bad_input_common::{entries, fomoh_in};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

fn ok_in(cwd: &Path, args: &[&str]) -> Output {
    let o = fomoh_in(cwd, args);
    assert!(o.status.success(), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
    o
}

/// Every file under `dir` (relative path) with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    entries(dir)
        .into_iter()
        .filter(|p| !dir.join(p).is_dir())
        .map(|p| {
            let bytes = std::fs::read(dir.join(&p)).unwrap();
            (p, bytes)
        })
        .collect()
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

/// The `<text>` elements of an SVG written by plotters: (x, y, text).
fn texts(svg: &str) -> Vec<(f64, f64, String)> {
    let mut out = Vec::new();
    for part in svg.split("<text ").skip(1) {
        let (attrs, rest) = part.split_once('>').unwrap();
        let text = rest.split("</text>").next().unwrap().trim().to_string();
        out.push((attr(attrs, "x"), attr(attrs, "y"), text));
    }
    out
}

fn attr(attrs: &str, name: &str) -> f64 {
    let v = attrs.split(&format!(" {name}=\"")).nth(1).or_else(|| attrs.strip_prefix(&format!("{name}=\"")));
    v.and_then(|v| v.split('"').next()).and_then(|v| v.parse().ok()).unwrap_or(f64::NAN)
}

/// The colour of each legend entry: the short horizontal line (or marker) drawn just left of
/// the entry's text, at its height.
fn legend_colours(svg: &str) -> BTreeMap<String, String> {
    // Legend lines: `<polyline ... stroke="#RRGGBB" ... points="x1,y x2,y "/>`, 20 wide.
    let mut lines = Vec::new();
    for part in svg.split("<polyline ").skip(1) {
        let attrs = part.split("/>").next().unwrap();
        let stroke = attrs.split("stroke=\"").nth(1).unwrap().split('"').next().unwrap().to_string();
        let points: Vec<(f64, f64)> = attrs
            .split("points=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .split_whitespace()
            .map(|p| {
                let (x, y) = p.split_once(',').unwrap();
                (x.parse().unwrap(), y.parse().unwrap())
            })
            .collect();
        if let [(x1, y1), (x2, y2)] = points[..] {
            if y1 == y2 && x2 - x1 == 20.0 {
                lines.push((x2, y1, stroke));
            }
        }
    }
    let mut out = BTreeMap::new();
    for (x, y, text) in texts(svg) {
        let near = lines.iter().filter(|l| l.0 < x && x - l.0 < 20.0 && (l.1 - y).abs() < 12.0);
        let best = near.min_by(|a, b| (a.1 - y - 5.0).abs().total_cmp(&(b.1 - y - 5.0).abs()));
        if let Some((_, _, stroke)) = best {
            out.insert(text, stroke.clone());
        }
    }
    out
}

fn read(path: &Path) -> String {
    let svg = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(svg.trim_start().starts_with("<svg") && svg.trim_end().ends_with("</svg>"), "{}", path.display());
    assert!(svg.contains("<polyline"), "{}: lines drawn", path.display());
    svg
}

/// `rosenbrock` and `train` plot against iterations (epochs), forward passes and wall time;
/// every optimizer is in each legend, each axis says what it counts, and the Rosenbrock plots
/// say that Newton's exact zeros are drawn at the floor.
#[test]
fn studies_are_plotted_against_steps_passes_and_time() {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path().join("r");
    let args =
        ["rosenbrock", "--dim", "2", "--iters", "30", "--seeds", "2", "--optimizers", "newton,fgd,adam"];
    ok_in(dir.path(), &[&args[..], &["--out", r.to_str().unwrap(), "--quiet"]].concat());
    // Newton reaches exact zeros on n = 2: they cannot be drawn on the log axis as they are.
    let csv = std::fs::read_to_string(r.join("rosenbrock.csv")).unwrap();
    assert!(csv.lines().any(|l| l.starts_with("newton,") && l.ends_with(",0e0")), "{csv}");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(r.join("summary.json")).unwrap()).unwrap();
    let files =
        ["rosenbrock.csv", "rosenbrock.svg", "rosenbrock_passes.svg", "rosenbrock_time.svg", "summary.json"];
    assert_eq!(summary["files"], serde_json::json!(files));
    for (file, axis) in [
        ("rosenbrock.svg", "iteration + 1"),
        ("rosenbrock_passes.svg", "forward passes + 1"),
        ("rosenbrock_time.svg", "wall time, seconds"),
    ] {
        let svg = read(&r.join(file));
        let texts: Vec<String> = texts(&svg).into_iter().map(|t| t.2).collect();
        assert!(texts.iter().any(|t| t.starts_with(axis)), "{file}: x axis {axis}: {texts:?}");
        let legend = legend_colours(&svg);
        for label in ["newton", "fgd", "adam"] {
            assert!(legend.contains_key(label), "{file}: legend {label}: {legend:?}");
        }
        assert!(texts.iter().any(|t| t.starts_with("drawn at the floor: loss ≤ 0")), "{file}: {texts:?}");
        assert!(svg.contains("<polygon"), "{file}: the floored points are marked");
    }

    let t = dir.path().join("t");
    let args = ["train", "--train-samples", "128", "--epochs", "2", "--optimizer", "fgd,adam", "--quiet"];
    ok_in(dir.path(), &[&args[..], &["--out", t.to_str().unwrap()]].concat());
    for (file, axis) in [
        ("train.svg", "epoch"),
        ("train_passes.svg", "forward passes"),
        ("train_time.svg", "training wall time, seconds"),
    ] {
        let svg = read(&t.join(file));
        let texts: Vec<String> = texts(&svg).into_iter().map(|t| t.2).collect();
        assert_eq!(texts.iter().filter(|t| t.starts_with(axis)).count(), 2, "{file}: both panels' x axis");
        let legend = legend_colours(&svg);
        for label in ["fgd (train)", "adam (train)", "fgd", "adam"] {
            assert!(legend.contains_key(label), "{file}: legend {label}: {legend:?}");
        }
        // Cross-entropy is positive: nothing is drawn at the floor, and no note says so.
        assert!(!texts.iter().any(|t| t.starts_with("drawn at the floor")), "{file}");
    }
}

/// An optimizer's colour depends on its name alone: the same whatever the order of
/// `--optimizers`, the other optimizers, or the plot.
#[test]
fn an_optimizer_keeps_its_colour_whatever_the_order() {
    let dir = tempfile::tempdir().unwrap();
    let mut legends = Vec::new();
    for (name, list) in [
        ("a", "fgd,fomoh,fomoh-kd:3,newton,adam"),
        ("b", "adam,newton,fomoh-kd:3,fomoh,fgd"),
        ("c", "adam,fgd"),
    ] {
        let out = dir.path().join(name);
        let args =
            ["rosenbrock", "--dim", "3", "--iters", "3", "--seeds", "1", "--optimizers", list, "--quiet"];
        ok_in(dir.path(), &[&args[..], &["--out", out.to_str().unwrap()]].concat());
        for file in ["rosenbrock.svg", "rosenbrock_passes.svg"] {
            let legend = legend_colours(&read(&out.join(file)));
            assert_eq!(legend.len(), list.split(',').count(), "{list} {file}: {legend:?}");
            legends.push(legend);
        }
    }
    let (a, b) = (&legends[0], &legends[2]);
    assert_eq!(a, b, "the same five optimizers in the opposite order");
    assert_eq!(legends[0], legends[1], "the same colours in every plot");
    let distinct: std::collections::BTreeSet<&String> = a.values().collect();
    assert_eq!(distinct.len(), a.len(), "five optimizers, five colours: {a:?}");
    for label in ["adam", "fgd"] {
        assert_eq!(legends[4][label], a[label], "{label} alone with another optimizer");
    }
    // And in the training plots.
    let t = dir.path().join("t");
    let args = ["train", "--train-samples", "64", "--epochs", "1", "--optimizer", "adam,fgd", "--quiet"];
    ok_in(dir.path(), &[&args[..], &["--out", t.to_str().unwrap()]].concat());
    let legend = legend_colours(&read(&t.join("train.svg")));
    for label in ["adam", "fgd"] {
        assert_eq!(legend[&format!("{label} (train)")], a[label], "{label} in train.svg");
        assert_eq!(legend[label], a[label], "{label} in train.svg's accuracy panel");
    }
}
