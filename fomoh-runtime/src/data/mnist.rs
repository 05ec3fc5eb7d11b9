//! MNIST from a directory of the standard IDX files (gzip or raw).
//!
//! Missing files give [`Error::Io`] naming the path; a wrong magic number, inconsistent
//! sizes, a truncated file or a corrupt gzip stream give [`Error::Data`] naming the file.
//! The header is read first and the rest is read (and decompressed) only up to the size the
//! header gives, at most [`MAX_IDX_BYTES`]: a file larger than its header says, such as a
//! gzip bomb, is refused without decompressing it.

use super::Dataset;
use crate::error::{Error, Result};
use std::io::Read;
use std::path::{Path, PathBuf};

const IMAGES_MAGIC: u32 = 2051;
const LABELS_MAGIC: u32 = 2049;

/// The largest IDX payload read (images or labels after the header, decompressed): 256 MiB,
/// five times MNIST's training images.
pub const MAX_IDX_BYTES: usize = 1 << 28;

fn bad(path: &Path, message: impl Into<String>) -> Error {
    Error::Data { source_name: path.display().to_string(), message: message.into() }
}

/// An IDX file's magic number, dimensions and payload (`prod(dims)` bytes), decompressed when
/// the name ends in `.gz`. Reads the header first and never more than the payload it gives
/// plus one byte (to detect trailing data).
fn read_idx(path: &Path, magic: u32, what: &str, ndims: usize) -> Result<(Vec<usize>, Vec<u8>)> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, &e))?;
    let gz = path.extension().is_some_and(|e| e == "gz");
    let mut reader: Box<dyn Read> = if gz {
        Box::new(flate2::read::GzDecoder::new(std::io::BufReader::new(file)))
    } else {
        Box::new(std::io::BufReader::new(file))
    };
    let read_err = |e: std::io::Error| bad(path, if gz { format!("gzip: {e}") } else { e.to_string() });
    let mut header = Vec::new();
    reader.by_ref().take(4 * (ndims as u64 + 1)).read_to_end(&mut header).map_err(read_err)?;
    let word = |i: usize| -> Result<usize> {
        header
            .get(4 * i..4 * i + 4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
            .ok_or_else(|| bad(path, format!("truncated header: {} bytes", header.len())))
    };
    if word(0)? != magic as usize {
        return Err(bad(path, format!("magic number {}, expected {magic} ({what})", word(0)?)));
    }
    let dims = (1..=ndims).map(word).collect::<Result<Vec<usize>>>()?;
    let need = dims.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d)).filter(|&n| n <= MAX_IDX_BYTES);
    let need = need
        .ok_or_else(|| bad(path, format!("header dimensions {dims:?}: more than {MAX_IDX_BYTES} bytes")))?;
    let mut payload = Vec::new();
    reader.take(need as u64 + 1).read_to_end(&mut payload).map_err(read_err)?;
    if payload.len() != need {
        let (found, cmp) = if payload.len() > need {
            ("more".to_string(), "trailing data")
        } else {
            (payload.len().to_string(), "truncated")
        };
        return Err(bad(
            path,
            format!("{found} bytes after the header for dimensions {dims:?}: expected {need} ({cmp})"),
        ));
    }
    Ok((dims, payload))
}

/// Reads an IDX3 image file: `(count, rows, cols, pixels)` with pixels scaled to `[0, 1]`.
pub fn read_images(path: &Path) -> Result<(usize, usize, usize, Vec<f64>)> {
    let (dims, bytes) = read_idx(path, IMAGES_MAGIC, "IDX images", 3)?;
    if dims[1] == 0 || dims[2] == 0 {
        return Err(bad(path, format!("images of {}×{}", dims[1], dims[2])));
    }
    Ok((dims[0], dims[1], dims[2], bytes.iter().map(|&p| p as f64 / 255.0).collect()))
}

/// Reads an IDX1 label file.
pub fn read_labels(path: &Path) -> Result<Vec<usize>> {
    let (_, bytes) = read_idx(path, LABELS_MAGIC, "IDX labels", 1)?;
    Ok(bytes.iter().map(|&b| b as usize).collect())
}

/// `dir/name.gz` if it exists, else `dir/name`, else the `.gz` path (for the error).
fn locate(dir: &Path, name: &str) -> PathBuf {
    let gz = dir.join(format!("{name}.gz"));
    let raw = dir.join(name);
    if !gz.exists() && raw.exists() {
        raw
    } else {
        gz
    }
}

/// Reads one split (`"train"` or `"t10k"`) as a data set of `(1, rows, cols)` samples.
pub fn load_split(dir: &Path, split: &str) -> Result<Dataset> {
    let ipath = locate(dir, &format!("{split}-images-idx3-ubyte"));
    let lpath = locate(dir, &format!("{split}-labels-idx1-ubyte"));
    let (n, r, c, pixels) = read_images(&ipath)?;
    let labels = read_labels(&lpath)?;
    if labels.len() != n {
        return Err(bad(&lpath, format!("{} labels for {n} images in {}", labels.len(), ipath.display())));
    }
    if let Some(&y) = labels.iter().find(|&&y| y > 9) {
        return Err(bad(&lpath, format!("label {y} is not a digit")));
    }
    let name = if split == "t10k" { "mnist-test" } else { "mnist-train" };
    Dataset::new(name, pixels, labels, vec![1, r, c], 10)
}

/// MNIST's training (60 000) and test (10 000) sets from `dir`, samples shaped `(1, 28, 28)`,
/// pixels scaled to `[0, 1]`.
pub fn load(dir: impl AsRef<Path>) -> Result<(Dataset, Dataset)> {
    let dir = dir.as_ref();
    Ok((load_split(dir, "train")?, load_split(dir, "t10k")?))
}
