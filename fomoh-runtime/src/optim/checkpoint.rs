//! [`Checkpoint`]: an optimizer (settings, RNG state, moments, iteration), θ and the report
//! so far, saved as JSON with an atomic write.

use super::{Optimizer, Report};
use crate::error::{Error, Result};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::Path;

/// The checkpoint format version written by this crate.
const FORMAT: u32 = 1;

/// Everything needed to continue a run bit-identically: the optimizer (including its RNG
/// state; the generator is xoshiro256++, whose four words serialize exactly), θ and the
/// report so far. Floats round-trip exactly through JSON (serde_json's `float_roundtrip`).
///
/// [`load`](Checkpoint::load) validates what it reads: the optimizer's kind (its
/// [`Optimizer::name`], so a checkpoint of one optimizer is not read as another with the same
/// fields), its settings and state ([`Optimizer::validate`]) and a finite θ.
///
/// ```
/// use fomoh_runtime::optim::{Checkpoint, Fgd, Optimizer, Options, Report};
/// use fomoh_runtime::{objective, scalar_fn, Scalar};
/// fn sphere<S: Scalar>(x: &[S]) -> S { x.iter().map(|&v| v * v).sum() }
/// let obj = objective(3, scalar_fn!(sphere));
/// let dir = std::env::temp_dir().join(format!("fomoh-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let path = dir.join("run.json");
/// let mut opt = Fgd::new().learning_rate(0.1).seed(1);
/// let mut x = vec![1.0, 2.0, 3.0];
/// let report = opt.minimize(&obj, &mut x, &Options::iterations(3)).unwrap();
/// Checkpoint::new(opt.clone(), x.clone(), report).save(&path).unwrap();
/// let back: Checkpoint<Fgd> = Checkpoint::load(&path).unwrap();
/// assert_eq!((back.optimizer, back.theta), (opt, x));
/// std::fs::remove_dir_all(&dir).unwrap();
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint<O> {
    /// The format version.
    pub format: u32,
    /// The optimizer's [`Optimizer::name`] (empty in checkpoints written before it was kept).
    #[serde(default)]
    pub kind: String,
    /// The optimizer with all its state.
    pub optimizer: O,
    /// The parameters.
    pub theta: Vec<f64>,
    /// The report of the run so far.
    pub report: Report,
}

impl<O: Optimizer + Serialize + DeserializeOwned> Checkpoint<O> {
    /// A checkpoint of `optimizer` at `theta`.
    pub fn new(optimizer: O, theta: Vec<f64>, report: Report) -> Self {
        Checkpoint { format: FORMAT, kind: optimizer.name().into(), optimizer, theta, report }
    }

    /// Continues the saved run on `obj` for `opts` more (its optimizer, with all its state,
    /// from its θ) and appends the continuation to [`Checkpoint::report`] ([`Report::append`]):
    /// a run checkpointed and resumed gives the same θ and report as one that never stopped.
    /// Returns the continuation's own report.
    ///
    /// ```
    /// use fomoh_runtime::optim::Checkpoint;
    /// use fomoh_runtime::{objective, scalar_fn, Fgd, Optimizer, Options, Scalar};
    /// fn sphere<S: Scalar>(x: &[S]) -> S { x.iter().map(|&v| v * v).sum() }
    /// let obj = objective(3, scalar_fn!(sphere));
    /// let (mut straight, mut x) = (Fgd::new().learning_rate(0.1).seed(4), vec![1.0, -2.0, 0.5]);
    /// let whole = straight.minimize(&obj, &mut x, &Options::iterations(6))?;
    /// let (mut first, mut y) = (Fgd::new().learning_rate(0.1).seed(4), vec![1.0, -2.0, 0.5]);
    /// let part = first.minimize(&obj, &mut y, &Options::iterations(3))?;
    /// let mut ck = Checkpoint::new(first, y, part);    // saved and loaded in between, typically
    /// ck.resume(&obj, &Options::iterations(3))?;
    /// assert_eq!((ck.theta, ck.report.losses, ck.report.passes), (x, whole.losses, whole.passes));
    /// # Ok::<(), fomoh_runtime::Error>(())
    /// ```
    pub fn resume(&mut self, obj: &dyn crate::Objective, opts: &super::Options) -> Result<Report> {
        let later = self.optimizer.minimize(obj, &mut self.theta, opts)?;
        self.report.append(&later);
        Ok(later)
    }

    /// Writes the checkpoint to `path` atomically: to a temporary file in the same
    /// directory, flushed to disk, then renamed over `path`. A crash leaves either the old
    /// file or the new one, never a partial one.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        if let Some(i) = self.theta.iter().position(|v| !v.is_finite()) {
            return Err(Error::NonFinite(format!("checkpoint theta[{i}] = {}", self.theta[i])));
        }
        let json = serde_json::to_vec(self)
            .map_err(|e| Error::Data { source_name: path.display().to_string(), message: e.to_string() })?;
        write_atomic(path, &json)
    }

    /// Reads a checkpoint written by [`save`](Checkpoint::save).
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let bytes = read_regular_file(path)?;
        let data = |message: String| Error::Data { source_name: path.display().to_string(), message };
        let c: Self = serde_json::from_slice(&bytes).map_err(|e| data(e.to_string()))?;
        if c.format != FORMAT {
            return Err(data(format!("checkpoint format {} (this build reads {FORMAT})", c.format)));
        }
        let name = c.optimizer.name();
        if !c.kind.is_empty() && c.kind != name {
            return Err(data(format!("a checkpoint of {}, read as {name}", c.kind)));
        }
        c.optimizer.validate().map_err(|e| data(e.to_string()))?;
        if let Some(i) = c.theta.iter().position(|v| !v.is_finite()) {
            return Err(data(format!("theta[{i}] = {} is not finite", c.theta[i])));
        }
        Ok(c)
    }
}

/// Reads a whole regular file: a device, a pipe or a directory (`/dev/zero`, a FIFO, ...),
/// which could be endless or block, is an [`Error::Io`].
pub fn read_regular_file(path: &Path) -> Result<Vec<u8>> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, &e))?;
    if !meta.is_file() {
        return Err(Error::Io { path: path.display().to_string(), message: "not a regular file".into() });
    }
    std::fs::read(path).map_err(|e| Error::io(path, &e))
}

/// Writes `bytes` to `path` through a temporary file in the same directory and a rename.
/// Temporary files of `path` left by a process that no longer runs (killed during a write)
/// are removed after a successful write.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| Error::InvalidArgument(format!("{} is not a file path", path.display())))?;
    let prefix = format!(".{}.tmp-", name.to_string_lossy());
    let tmp = dir.join(format!("{prefix}{}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::io(path, &e));
    }
    remove_stale_temporaries(dir, &prefix);
    Ok(())
}

/// Removes the files `{prefix}{pid}` in `dir` whose process has ended (where `/proc` tells).
fn remove_stale_temporaries(dir: &Path, prefix: &str) {
    let proc = Path::new("/proc");
    if !proc.join("self").exists() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let pid = name.to_str().and_then(|n| n.strip_prefix(prefix)).and_then(|p| p.parse::<u32>().ok());
        if pid.is_some_and(|p| p != std::process::id() && !proc.join(p.to_string()).exists()) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}
