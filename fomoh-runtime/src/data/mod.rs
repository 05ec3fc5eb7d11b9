//! Data sets for the learning experiments: the bundled UCI digits, an MNIST reader, a
//! deterministic train/test split and minibatch order.
//!
//! ```
//! use fomoh_runtime::data::{minibatch_order, Dataset};
//! let digits = Dataset::digits().unwrap();
//! assert_eq!((digits.len(), digits.sample_shape()), (1797, &[64][..]));
//! let (train, test) = digits.split(0.2, 7).unwrap();
//! assert_eq!(train.len() + test.len(), 1797);
//! let order = minibatch_order(train.len(), 256, 7, 0).unwrap();
//! let batch = train.batch(&order[0]).unwrap();
//! assert_eq!(batch.len(), 256);
//! ```

pub mod mnist;

use crate::error::{check_len, Error, Result};
use crate::tensor::{Planes, Tensor};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use std::io::Read;

const DIGITS_GZ: &[u8] = include_bytes!("../../data/digits.csv.gz");

/// A labelled classification data set held in memory (features as `f64`).
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    name: String,
    inputs: Vec<f64>,
    labels: Vec<usize>,
    sample_shape: Vec<usize>,
    classes: usize,
}

/// A minibatch: a plain input tensor `(B, sample shape...)` and its labels.
#[derive(Clone, Debug, PartialEq)]
pub struct Batch {
    /// The inputs, `(B, ...)`, no derivative planes.
    pub x: Tensor,
    /// The class of each sample.
    pub labels: Vec<usize>,
}

impl Batch {
    /// A batch from inputs and labels; errors on an empty batch or a label count that is not
    /// the batch size.
    pub fn new(x: Tensor, labels: Vec<usize>) -> Result<Self> {
        let b = x.shape().first().copied().unwrap_or(0);
        if b == 0 {
            return Err(Error::InvalidArgument("empty batch".into()));
        }
        check_len(|| "labels".into(), b, labels.len())?;
        Ok(Self { x, labels })
    }

    /// The number of samples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Never true for a constructed batch (kept for the `len` convention).
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
}

fn data_err(source: &str, message: impl Into<String>) -> Error {
    Error::Data { source_name: source.into(), message: message.into() }
}

impl Dataset {
    /// A data set from row-major inputs (`len × prod(sample_shape)`) and labels `< classes`.
    pub fn new(
        name: impl Into<String>,
        inputs: Vec<f64>,
        labels: Vec<usize>,
        sample_shape: Vec<usize>,
        classes: usize,
    ) -> Result<Self> {
        let name = name.into();
        let per = sample_shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
        let total = per.and_then(|p| p.checked_mul(labels.len()));
        let (Some(per), Some(total)) = (per, total) else {
            return Err(Error::InvalidArgument(format!(
                "{name}: {} samples of shape {sample_shape:?} overflow the address space",
                labels.len()
            )));
        };
        if per == 0 {
            return Err(Error::InvalidArgument(format!(
                "{name}: samples of shape {sample_shape:?} are empty"
            )));
        }
        if classes == 0 {
            return Err(Error::InvalidArgument(format!("{name}: no classes")));
        }
        check_len(|| format!("{name} inputs"), total, inputs.len())?;
        if let Some(i) = inputs.iter().position(|v| !v.is_finite()) {
            return Err(data_err(&name, format!("input {} of sample {} is {}", i % per, i / per, inputs[i])));
        }
        if let Some((i, &y)) = labels.iter().enumerate().find(|(_, &y)| y >= classes) {
            return Err(data_err(&name, format!("label {y} of sample {i} is not below {classes}")));
        }
        Ok(Self { name, inputs, labels, sample_shape, classes })
    }

    /// The UCI optical digits (1797 samples of 8×8, features `pixel / 16`, 10 classes),
    /// embedded in the library (see `fomoh-runtime/data/README.md` for provenance and licence).
    pub fn digits() -> Result<Self> {
        let src = "digits.csv.gz (embedded)";
        let mut text = String::new();
        flate2::read::GzDecoder::new(DIGITS_GZ)
            .read_to_string(&mut text)
            .map_err(|e| data_err(src, e.to_string()))?;
        parse_csv(src, &text, 16.0, vec![64], 10)
    }

    /// The name (e.g. `"digits"`, `"mnist-train"`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The number of samples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The shape of one sample (`[64]` for digits, `[1, 28, 28]` for MNIST).
    pub fn sample_shape(&self) -> &[usize] {
        &self.sample_shape
    }

    /// The number of features per sample.
    pub fn sample_size(&self) -> usize {
        self.sample_shape.iter().product()
    }

    /// The number of classes.
    pub fn classes(&self) -> usize {
        self.classes
    }

    /// All labels.
    pub fn labels(&self) -> &[usize] {
        &self.labels
    }

    /// All inputs, row-major.
    pub fn inputs(&self) -> &[f64] {
        &self.inputs
    }

    /// Every input mapped to `(x − mean) / std` (e.g. MNIST's usual `(x − 0.1307) / 0.3081`
    /// on pixels in `[0, 1]`). `mean` must be finite and `std` finite and positive.
    ///
    /// ```
    /// # use fomoh_runtime::data::Dataset;
    /// let d = Dataset::new("d", vec![0.0, 0.5, 1.0, 0.25], vec![0, 1], vec![2], 2).unwrap();
    /// assert_eq!(d.clone().normalized(0.5, 0.25).unwrap().inputs(), &[-2.0, 0.0, 2.0, -1.0]);
    /// assert!(d.normalized(0.0, 0.0).is_err());
    /// ```
    pub fn normalized(mut self, mean: f64, std: f64) -> Result<Self> {
        if !(mean.is_finite() && std.is_finite() && std > 0.0) {
            return Err(Error::InvalidArgument(format!(
                "{}: normalization by mean {mean}, std {std} (finite, std > 0)",
                self.name
            )));
        }
        for x in &mut self.inputs {
            *x = (*x - mean) / std;
        }
        Ok(self)
    }

    /// The same samples viewed with another per-sample shape of the same size.
    pub fn with_sample_shape(mut self, shape: Vec<usize>) -> Result<Self> {
        if shape.iter().product::<usize>() != self.sample_size() {
            return Err(Error::Shape(format!(
                "{}: samples {:?} cannot be viewed as {shape:?}",
                self.name, self.sample_shape
            )));
        }
        self.sample_shape = shape;
        Ok(self)
    }

    /// The samples at `idx`, in that order, as a new data set.
    pub fn subset(&self, idx: &[usize]) -> Result<Self> {
        let per = self.sample_size();
        let mut inputs = Vec::with_capacity(idx.len() * per);
        let mut labels = Vec::with_capacity(idx.len());
        for &i in idx {
            if i >= self.len() {
                return Err(Error::InvalidArgument(format!("{}: sample {i} of {}", self.name, self.len())));
            }
            inputs.extend_from_slice(&self.inputs[i * per..(i + 1) * per]);
            labels.push(self.labels[i]);
        }
        Ok(Self {
            name: self.name.clone(),
            inputs,
            labels,
            sample_shape: self.sample_shape.clone(),
            classes: self.classes,
        })
    }

    /// The samples at `idx` as a [`Batch`] (errors if `idx` is empty or out of range).
    pub fn batch(&self, idx: &[usize]) -> Result<Batch> {
        let sub = self.subset(idx)?;
        let mut shape = vec![idx.len()];
        shape.extend_from_slice(&self.sample_shape);
        Batch::new(Tensor::constant(shape, sub.inputs)?, sub.labels)
    }

    /// The first `n` samples as a [`Batch`].
    pub fn head(&self, n: usize) -> Result<Batch> {
        if n > self.len() {
            return Err(Error::InvalidArgument(format!(
                "{}: {n} samples requested, {} held",
                self.name,
                self.len()
            )));
        }
        self.batch(&(0..n).collect::<Vec<_>>())
    }

    /// A deterministic shuffled split: `round(test_fraction · len)` samples for the test set,
    /// the rest for training; the permutation comes from `StdRng::seed_from_u64(seed)`.
    pub fn split(&self, test_fraction: f64, seed: u64) -> Result<(Self, Self)> {
        if !(test_fraction > 0.0 && test_fraction < 1.0) {
            return Err(Error::InvalidArgument(format!("test fraction {test_fraction} is not in (0, 1)")));
        }
        let n_test = (test_fraction * self.len() as f64).round() as usize;
        if n_test == 0 || n_test == self.len() {
            return Err(Error::InvalidArgument(format!(
                "{}: split of {} samples leaves a side empty",
                self.name,
                self.len()
            )));
        }
        let mut idx: Vec<usize> = (0..self.len()).collect();
        idx.shuffle(&mut StdRng::seed_from_u64(seed));
        let (test, train) = idx.split_at(n_test);
        let mut tr = self.subset(train)?;
        let mut te = self.subset(test)?;
        tr.name = format!("{}-train", self.name);
        te.name = format!("{}-test", self.name);
        Ok((tr, te))
    }
}

/// The minibatches of one epoch: a permutation of `0..n` drawn from
/// `StdRng::seed_from_u64(seed ^ (epoch · 0x9E3779B97F4A7C15))`, cut into chunks of
/// `batch_size` (the last one may be shorter). The same `(seed, epoch)` gives the same order.
pub fn minibatch_order(n: usize, batch_size: usize, seed: u64, epoch: u64) -> Result<Vec<Vec<usize>>> {
    if n == 0 || batch_size == 0 {
        return Err(Error::InvalidArgument(format!("minibatches of {batch_size} from {n} samples")));
    }
    let mut idx: Vec<usize> = (0..n).collect();
    idx.shuffle(&mut StdRng::seed_from_u64(seed ^ epoch.wrapping_mul(0x9E37_79B9_7F4A_7C15)));
    Ok(idx.chunks(batch_size).map(<[usize]>::to_vec).collect())
}

/// Parses a CSV with a header line, feature columns and the label last.
fn parse_csv(src: &str, text: &str, scale: f64, sample_shape: Vec<usize>, classes: usize) -> Result<Dataset> {
    let per: usize = sample_shape.iter().product();
    let mut lines = text.lines();
    lines.next().ok_or_else(|| data_err(src, "no header line"))?;
    let mut inputs = Vec::new();
    let mut labels = Vec::new();
    for (row, line) in lines.enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let fields: Vec<&str> = line.split(',').collect();
        if fields.len() != per + 1 {
            return Err(data_err(
                src,
                format!("row {}: {} fields, expected {}", row + 1, fields.len(), per + 1),
            ));
        }
        for f in &fields[..per] {
            let v: f64 =
                f.trim().parse().map_err(|_| data_err(src, format!("row {}: bad number {f:?}", row + 1)))?;
            inputs.push(v / scale);
        }
        let y = fields[per];
        labels
            .push(y.trim().parse().map_err(|_| data_err(src, format!("row {}: bad label {y:?}", row + 1)))?);
    }
    Dataset::new("digits", inputs, labels, sample_shape, classes).map_err(|e| match e {
        Error::Data { message, .. } => data_err(src, message),
        e => e,
    })
}
