//! MNIST from a directory of the standard IDX files (gzip or raw).
//!
//! Missing files give [`Error::Io`] naming the path; a wrong magic number, inconsistent
//! sizes, a truncated file or a corrupt gzip stream give [`Error::Data`] naming the file.

use super::Dataset;
use crate::error::{Error, Result};
use std::io::Read;
use std::path::{Path, PathBuf};

const IMAGES_MAGIC: u32 = 2051;
const LABELS_MAGIC: u32 = 2049;

fn bad(path: &Path, message: impl Into<String>) -> Error {
    Error::Data { source_name: path.display().to_string(), message: message.into() }
}

/// Reads a whole file, decompressing it when its name ends in `.gz`.
fn read_maybe_gz(path: &Path) -> Result<Vec<u8>> {
    let raw = std::fs::read(path).map_err(|e| Error::io(path, &e))?;
    if path.extension().is_some_and(|e| e == "gz") {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .map_err(|e| bad(path, format!("gzip: {e}")))?;
        Ok(out)
    } else {
        Ok(raw)
    }
}

fn be_u32(path: &Path, bytes: &[u8], at: usize) -> Result<u32> {
    bytes
        .get(at..at + 4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        .ok_or_else(|| bad(path, format!("truncated header: {} bytes", bytes.len())))
}

/// Reads an IDX3 image file: `(count, rows, cols, pixels)` with pixels scaled to `[0, 1]`.
pub fn read_images(path: &Path) -> Result<(usize, usize, usize, Vec<f64>)> {
    let bytes = read_maybe_gz(path)?;
    let magic = be_u32(path, &bytes, 0)?;
    if magic != IMAGES_MAGIC {
        return Err(bad(path, format!("magic number {magic}, expected {IMAGES_MAGIC} (IDX images)")));
    }
    let (n, r, c) = (
        be_u32(path, &bytes, 4)? as usize,
        be_u32(path, &bytes, 8)? as usize,
        be_u32(path, &bytes, 12)? as usize,
    );
    let need = n
        .checked_mul(r)
        .and_then(|v| v.checked_mul(c))
        .and_then(|v| v.checked_add(16))
        .ok_or_else(|| bad(path, "image dimensions overflow"))?;
    if bytes.len() != need {
        return Err(bad(
            path,
            format!(
                "{} bytes for {n} images of {r}×{c}: expected {need} (truncated or trailing data)",
                bytes.len()
            ),
        ));
    }
    Ok((n, r, c, bytes[16..].iter().map(|&p| p as f64 / 255.0).collect()))
}

/// Reads an IDX1 label file.
pub fn read_labels(path: &Path) -> Result<Vec<usize>> {
    let bytes = read_maybe_gz(path)?;
    let magic = be_u32(path, &bytes, 0)?;
    if magic != LABELS_MAGIC {
        return Err(bad(path, format!("magic number {magic}, expected {LABELS_MAGIC} (IDX labels)")));
    }
    let n = be_u32(path, &bytes, 4)? as usize;
    if bytes.len() != n + 8 {
        return Err(bad(
            path,
            format!("{} bytes for {n} labels: expected {} (truncated or trailing data)", bytes.len(), n + 8),
        ));
    }
    Ok(bytes[8..].iter().map(|&b| b as usize).collect())
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
