//! Data: the embedded digits, deterministic split and minibatch order, and the MNIST IDX
//! reader on small files written here (plus an ignored run on the real MNIST copy).

use fomoh::data::{minibatch_order, mnist, Dataset};
use fomoh::tensor::Planes;
use fomoh::Error;
use std::io::Write;
use std::path::PathBuf;

#[test]
fn digits_are_embedded_with_known_label_counts() {
    let d = Dataset::digits().unwrap();
    assert_eq!((d.len(), d.sample_size(), d.classes()), (1797, 64, 10));
    let mut counts = [0usize; 10];
    d.labels().iter().for_each(|&y| counts[y] += 1);
    assert_eq!(counts, [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]);
    assert!(d.inputs().iter().all(|&v| (0.0..=1.0).contains(&v)));
    assert!(d.inputs().contains(&1.0));
}

#[test]
fn split_and_minibatches_are_deterministic() {
    let d = Dataset::digits().unwrap();
    let (tr, te) = d.split(0.2, 42).unwrap();
    let (tr2, te2) = d.split(0.2, 42).unwrap();
    assert_eq!((&tr, &te), (&tr2, &te2));
    assert_eq!((tr.len(), te.len()), (1438, 359));
    let (tr3, _) = d.split(0.2, 43).unwrap();
    assert_ne!(tr.labels(), tr3.labels());
    assert!(d.split(0.0, 1).is_err() && d.split(1.0, 1).is_err());

    let a = minibatch_order(1000, 128, 5, 3).unwrap();
    assert_eq!(a, minibatch_order(1000, 128, 5, 3).unwrap());
    assert_ne!(a, minibatch_order(1000, 128, 5, 4).unwrap(), "each epoch reshuffles");
    assert_ne!(a, minibatch_order(1000, 128, 6, 3).unwrap());
    assert_eq!(a.len(), 8);
    assert_eq!(a.last().unwrap().len(), 1000 - 7 * 128);
    let mut all: Vec<usize> = a.concat();
    all.sort_unstable();
    assert_eq!(all, (0..1000).collect::<Vec<_>>(), "a permutation");
    assert!(minibatch_order(0, 8, 1, 0).is_err() && minibatch_order(8, 0, 1, 0).is_err());

    let b = tr.batch(&a[0][..3].iter().map(|&i| i % tr.len()).collect::<Vec<_>>()).unwrap();
    assert_eq!(b.x.shape(), &[3, 64]);
    assert!(tr.batch(&[tr.len()]).is_err());
}

fn tmp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("fomoh-mnist-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn idx_images(n: u32, r: u32, c: u32) -> Vec<u8> {
    let mut v = Vec::new();
    for x in [2051u32, n, r, c] {
        v.extend_from_slice(&x.to_be_bytes());
    }
    v.extend((0..n * r * c).map(|i| (i % 256) as u8));
    v
}

fn idx_labels(labels: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&2049u32.to_be_bytes());
    v.extend_from_slice(&(labels.len() as u32).to_be_bytes());
    v.extend_from_slice(labels);
    v
}

fn write_gz(path: PathBuf, bytes: &[u8]) {
    let mut e =
        flate2::write::GzEncoder::new(std::fs::File::create(path).unwrap(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap();
}

fn write_set(dir: &std::path::Path, split: &str, n: u32, labels: &[u8]) {
    write_gz(dir.join(format!("{split}-images-idx3-ubyte.gz")), &idx_images(n, 3, 2));
    write_gz(dir.join(format!("{split}-labels-idx1-ubyte.gz")), &idx_labels(labels));
}

#[test]
fn mnist_reader_on_small_idx_files() {
    let dir = tmp_dir("ok");
    write_set(&dir, "train", 4, &[5, 0, 4, 1]);
    // The test split uncompressed: raw IDX files are accepted too.
    std::fs::write(dir.join("t10k-images-idx3-ubyte"), idx_images(2, 3, 2)).unwrap();
    std::fs::write(dir.join("t10k-labels-idx1-ubyte"), idx_labels(&[7, 2])).unwrap();
    let (train, test) = mnist::load(&dir).unwrap();
    assert_eq!((train.len(), train.sample_shape()), (4, &[1, 3, 2][..]));
    assert_eq!(train.labels(), &[5, 0, 4, 1]);
    assert_eq!(test.labels(), &[7, 2]);
    assert_eq!(train.inputs()[7], 7.0 / 255.0);
    assert_eq!(train.inputs().len(), 24);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn mnist_reader_reports_bad_files() {
    // Missing directory / file: an I/O error naming the path.
    let dir = tmp_dir("missing");
    match mnist::load(&dir) {
        Err(Error::Io { path, .. }) => assert!(path.ends_with("train-images-idx3-ubyte.gz"), "{path}"),
        other => panic!("expected Io, got {other:?}"),
    }
    // Wrong magic.
    write_set(&dir, "train", 2, &[1, 2]);
    write_gz(dir.join("train-labels-idx1-ubyte.gz"), &idx_images(2, 1, 1));
    assert!(
        matches!(mnist::load_split(&dir, "train"), Err(Error::Data { message, .. }) if message.contains("magic"))
    );
    // Truncated images.
    let mut short = idx_images(2, 3, 2);
    short.truncate(20);
    write_gz(dir.join("train-images-idx3-ubyte.gz"), &short);
    write_gz(dir.join("train-labels-idx1-ubyte.gz"), &idx_labels(&[1, 2]));
    assert!(
        matches!(mnist::load_split(&dir, "train"), Err(Error::Data { message, .. }) if message.contains("truncated"))
    );
    // A header cut short.
    write_gz(dir.join("train-images-idx3-ubyte.gz"), &[0, 0, 8]);
    assert!(matches!(mnist::load_split(&dir, "train"), Err(Error::Data { .. })));
    // A corrupt gzip stream.
    std::fs::write(dir.join("train-images-idx3-ubyte.gz"), b"\x1f\x8bnot really gzip").unwrap();
    assert!(
        matches!(mnist::load_split(&dir, "train"), Err(Error::Data { message, .. }) if message.contains("gzip"))
    );
    // Counts that disagree, and a label that is not a digit.
    write_gz(dir.join("train-images-idx3-ubyte.gz"), &idx_images(2, 3, 2));
    write_gz(dir.join("train-labels-idx1-ubyte.gz"), &idx_labels(&[1, 2, 3]));
    assert!(matches!(mnist::load_split(&dir, "train"), Err(Error::Data { .. })));
    write_gz(dir.join("train-labels-idx1-ubyte.gz"), &idx_labels(&[1, 12]));
    assert!(matches!(mnist::load_split(&dir, "train"), Err(Error::Data { .. })));
    std::fs::remove_dir_all(dir).unwrap();
}

/// The real MNIST copy: `cargo test --test data -- --ignored` (reads ~11 MB of gzip).
#[test]
#[ignore]
fn real_mnist_loads() {
    let (train, test) = mnist::load(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data/mnist")).unwrap();
    assert_eq!((train.len(), test.len(), train.sample_shape()), (60_000, 10_000, &[1, 28, 28][..]));
    assert_eq!(&train.labels()[..10], &[5, 0, 4, 1, 9, 2, 1, 3, 1, 4]);
    assert_eq!(&test.labels()[..10], &[7, 2, 1, 0, 4, 1, 4, 9, 5, 9]);
    let mean = train.inputs().iter().sum::<f64>() / train.inputs().len() as f64;
    assert!((mean - 0.1307).abs() < 1e-3, "{mean}");
}
