//! Hyper-dual tensors: a primal plane plus tangent planes over contiguous row-major buffers.
//!
//! A [`Tensor`] holds one primal plane `re` and, when it depends on the parameters, the
//! derivative planes of its [`Mode`]:
//!
//! - [`Mode::HyperDual`]: tangent planes `e1`, `e2` and one second-order plane `e12`
//!   (element by element, the lanes of a [`crate::HyperDual`]);
//! - [`Mode::Directions`]`(k)`: `k` tangent planes and the `k(k+1)/2` packed second-order
//!   planes `u_iᵀHu_j` (`i <= j`, [`crate::packed_index`] order), so that one pass of a model
//!   gives FoMoH-KD everything (any `k`, chosen at run time);
//! - [`Mode::Jet`]: one tangent and one second-order plane (the `v1 = v2` case);
//! - [`Mode::Primal`]: no derivative planes.
//!
//! Data tensors are plain (no derivative planes) and cost nothing extra; a plane that is
//! known to be zero is stored as `None` and skipped (a matrix product with a passive operand
//! takes 3 GEMMs in hyper-dual mode, with two active operands 9).
//!
//! Parameters are never copied into tensors: [`Params`] borrows the flat parameter vector and
//! the directions, and [`Params::view`] hands a layer its block as a [`ParamView`].
//!
//! Elementwise functions take their derivatives from the rule table ([`crate::UnaryOp::rule`])
//! through one plane-level chain rule (see [`ops`]).

mod binary;
pub(crate) mod gemm;
pub mod ops;

pub(crate) use gemm::{gemm, MatRef};

use crate::api::Projection;
use crate::error::{check_len, Error, Result};
use crate::hyperk::packed_index;
use crate::{HyperDual, Jet};

/// Which derivative planes a tensor carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    /// No derivative planes: a plain forward pass.
    Primal,
    /// One direction `v`: planes `∇·v` and `vᵀHv` (a [`crate::Jet`] per element).
    Jet,
    /// Two directions `v1`, `v2`: planes `∇·v1`, `∇·v2`, `v1ᵀHv2` (a [`crate::HyperDual`]).
    HyperDual,
    /// `k >= 1` directions: `k` tangent planes and `k(k+1)/2` packed second-order planes.
    Directions(usize),
}

impl Mode {
    /// The number of tangent (first-order) planes.
    pub fn tangents(self) -> usize {
        match self {
            Mode::Primal => 0,
            Mode::Jet => 1,
            Mode::HyperDual => 2,
            Mode::Directions(k) => k,
        }
    }

    /// The number of second-order planes.
    pub fn seconds(self) -> usize {
        match self {
            Mode::Primal => 0,
            Mode::Jet | Mode::HyperDual => 1,
            Mode::Directions(k) => k * (k + 1) / 2,
        }
    }

    /// The pair of tangents `(i, j)` whose mixed second derivative second-order plane `p`
    /// holds (`p < self.seconds()`).
    pub(crate) fn pair(self, p: usize) -> (usize, usize) {
        debug_assert!(p < self.seconds().max(1));
        match self {
            Mode::Primal => (0, 0),
            Mode::Jet => (0, 0),
            Mode::HyperDual => (0, 1),
            Mode::Directions(k) => {
                let mut i = 0;
                let mut start = 0;
                while p >= start + (k - i) {
                    start += k - i;
                    i += 1;
                }
                debug_assert_eq!(packed_index(k, i, i + p - start), p);
                (i, i + p - start)
            }
        }
    }

    /// The pair of tangents `(i, j)` of every second-order plane, in plane order
    /// (`[(0, 1)]` for hyper-dual, the packed upper triangle for k directions).
    pub fn pairs(self) -> Vec<(usize, usize)> {
        (0..self.seconds()).map(|p| self.pair(p)).collect()
    }

    /// The mode of a result combining operands of modes `self` and `o` (a primal operand
    /// adopts the other's mode).
    pub fn merge(self, o: Mode) -> Result<Mode> {
        match (self, o) {
            (Mode::Primal, m) | (m, Mode::Primal) => Ok(m),
            (a, b) if a == b => Ok(a),
            (a, b) => Err(Error::InvalidArgument(format!("tensor modes differ: {a:?} and {b:?}"))),
        }
    }
}

/// Read access to the planes of a tensor-like operand (a [`Tensor`] or a [`ParamView`]).
///
/// `None` means the plane is identically zero. Implementors guarantee that every plane holds
/// exactly `numel()` elements (the ops rely on it).
pub trait Planes: Sync {
    /// The shape (row-major).
    fn shape(&self) -> &[usize];
    /// The derivative planes carried.
    fn mode(&self) -> Mode;
    /// The primal plane.
    fn re(&self) -> &[f64];
    /// Tangent plane `i` (`∇·u_i`), `None` if zero.
    fn tangent(&self, i: usize) -> Option<&[f64]>;
    /// Second-order plane `p` (see `Mode::pair`), `None` if zero.
    fn second(&self, p: usize) -> Option<&[f64]>;
    /// All tangent planes as one contiguous buffer (plane-major), if stored that way.
    fn tangent_block(&self) -> Option<&[f64]> {
        None
    }
    /// All second-order planes as one contiguous buffer (plane-major), if stored that way.
    fn second_block(&self) -> Option<&[f64]> {
        None
    }
    /// The number of elements.
    fn numel(&self) -> usize {
        self.shape().iter().product()
    }
}

/// Runs `f` on a thread of rayon's global pool (at once when called from one), and returns
/// its result.
///
/// A tensor pass makes many small parallel calls (one per operation and plane); from a thread
/// outside the pool each of them is handed to the pool and waited for (a wake-up and a sleep
/// per call), inside it they run inline or are shared with the pool's other threads. Model
/// passes enter the pool once, here: on an idle 2-core machine the paper's CNN forward took
/// 1.7× as long when each call was handed over.
pub fn on_pool<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    if rayon::current_thread_index().is_some() {
        f()
    } else {
        rayon::scope(|_| f())
    }
}

/// A tensor with a primal plane and the derivative planes of its [`Mode`].
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    shape: Vec<usize>,
    mode: Mode,
    re: Vec<f64>,
    tan: Option<Vec<f64>>,
    sec: Option<Vec<f64>>,
}

impl Planes for Tensor {
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn mode(&self) -> Mode {
        self.mode
    }
    fn re(&self) -> &[f64] {
        &self.re
    }
    fn tangent(&self, i: usize) -> Option<&[f64]> {
        let n = self.re.len();
        self.tan.as_ref().map(|t| &t[i * n..(i + 1) * n])
    }
    fn second(&self, p: usize) -> Option<&[f64]> {
        let n = self.re.len();
        self.sec.as_ref().map(|t| &t[p * n..(p + 1) * n])
    }
    fn tangent_block(&self) -> Option<&[f64]> {
        self.tan.as_deref()
    }
    fn second_block(&self) -> Option<&[f64]> {
        self.sec.as_deref()
    }
}

impl Tensor {
    /// A plain (data) tensor: no derivative planes.
    ///
    /// ```
    /// use fomoh_runtime::tensor::{Planes, Tensor};
    /// let x = Tensor::constant(vec![2, 3], vec![0.0; 6]).unwrap();
    /// assert_eq!(x.shape(), &[2, 3]);
    /// assert!(Tensor::constant(vec![2, 3], vec![0.0; 5]).is_err());
    /// ```
    pub fn constant(shape: Vec<usize>, data: Vec<f64>) -> Result<Self> {
        check_len(|| format!("tensor data for shape {shape:?}"), shape.iter().product(), data.len())?;
        Ok(Self { shape, mode: Mode::Primal, re: data, tan: None, sec: None })
    }

    /// A tensor from all its planes: `tangents` holds `mode.tangents()` planes and `seconds`
    /// `mode.seconds()` planes, each with as many elements as `re` (empty `Vec`s for zero
    /// planes are not accepted: pass `None`).
    pub fn from_planes(
        shape: Vec<usize>,
        mode: Mode,
        re: Vec<f64>,
        tangents: Option<Vec<f64>>,
        seconds: Option<Vec<f64>>,
    ) -> Result<Self> {
        let n: usize = shape.iter().product();
        check_len(|| format!("primal plane for shape {shape:?}"), n, re.len())?;
        if let Some(t) = &tangents {
            check_len(|| "tangent planes".into(), n * mode.tangents(), t.len())?;
        }
        if let Some(s) = &seconds {
            check_len(|| "second-order planes".into(), n * mode.seconds(), s.len())?;
        }
        if mode == Mode::Directions(0) {
            return Err(Error::InvalidArgument("Mode::Directions(0): at least one direction".into()));
        }
        if mode == Mode::Primal && (tangents.is_some() || seconds.is_some()) {
            return Err(Error::InvalidArgument("a primal tensor has no derivative planes".into()));
        }
        Ok(Self { shape, mode, re, tan: tangents, sec: seconds })
    }

    /// A copy of any [`Planes`] operand (e.g. a [`ParamView`]) as an owned tensor.
    pub fn from_view<P: Planes + ?Sized>(x: &P) -> Self {
        let n = x.numel();
        let mode = x.mode();
        let collect = |srcs: Vec<Option<&[f64]>>| -> Option<Vec<f64>> {
            if srcs.iter().all(Option::is_none) {
                return None;
            }
            let mut out = vec![0.0; n * srcs.len()];
            for (o, src) in out.chunks_mut(n.max(1)).zip(srcs) {
                if let Some(src) = src {
                    o.copy_from_slice(src);
                }
            }
            Some(out)
        };
        let tan = collect((0..mode.tangents()).map(|i| x.tangent(i)).collect());
        let sec = collect((0..mode.seconds()).map(|p| x.second(p)).collect());
        Self::raw(x.shape().to_vec(), mode, x.re().to_vec(), tan, sec)
    }

    /// Internal constructor; the caller guarantees the plane lengths.
    pub(crate) fn raw(
        shape: Vec<usize>,
        mode: Mode,
        re: Vec<f64>,
        tan: Option<Vec<f64>>,
        sec: Option<Vec<f64>>,
    ) -> Self {
        debug_assert_eq!(shape.iter().product::<usize>(), re.len());
        debug_assert!(tan.as_ref().is_none_or(|t| t.len() == re.len() * mode.tangents()));
        debug_assert!(sec.as_ref().is_none_or(|s| s.len() == re.len() * mode.seconds()));
        let mode = if tan.is_none() && sec.is_none() { Mode::Primal } else { mode };
        Self { shape, mode, re, tan, sec }
    }

    /// The primal plane, consumed.
    pub fn into_re(self) -> Vec<f64> {
        self.re
    }

    /// All tangent planes, contiguous (`None` if zero).
    pub fn tangents(&self) -> Option<&[f64]> {
        self.tan.as_deref()
    }

    /// All second-order planes, contiguous (`None` if zero).
    pub fn seconds(&self) -> Option<&[f64]> {
        self.sec.as_deref()
    }

    /// The same data under a new shape with the same number of elements.
    pub fn reshape(mut self, shape: Vec<usize>) -> Result<Self> {
        let n: usize = shape.iter().product();
        if n != self.re.len() {
            return Err(Error::Shape(format!(
                "cannot reshape {:?} ({} elements) to {shape:?} ({n} elements)",
                self.shape,
                self.re.len()
            )));
        }
        self.shape = shape;
        Ok(self)
    }

    /// Rows `start..end` of the leading axis (every plane), e.g. a chunk of a batch.
    pub fn rows(&self, start: usize, end: usize) -> Result<Self> {
        let b = *self.shape.first().ok_or_else(|| Error::Shape("rows of a scalar tensor".into()))?;
        if start >= end || end > b {
            return Err(Error::InvalidArgument(format!("rows {start}..{end} of {b}")));
        }
        let per: usize = self.shape[1..].iter().product();
        let mut shape = self.shape.clone();
        shape[0] = end - start;
        ops::range(self, start * per, shape)
    }

    /// `(B, d1, d2, ...) -> (B, d1·d2·...)`.
    pub fn flatten(self) -> Result<Self> {
        let b = *self.shape.first().ok_or_else(|| Error::Shape("flatten: a scalar tensor".into()))?;
        let rest = self.shape[1..].iter().product();
        self.reshape(vec![b, rest])
    }

    fn scalar_check(&self, want: Mode) -> Result<()> {
        if self.re.len() != 1 {
            return Err(Error::Shape(format!("expected a scalar tensor, found shape {:?}", self.shape)));
        }
        if self.mode != Mode::Primal && self.mode != want {
            return Err(Error::InvalidArgument(format!("expected mode {want:?}, found {:?}", self.mode)));
        }
        Ok(())
    }

    fn lane(&self, plane: Option<&[f64]>) -> f64 {
        plane.map_or(0.0, |p| p[0])
    }

    /// A scalar tensor's primal value.
    pub fn value(&self) -> Result<f64> {
        self.scalar_check(self.mode)?;
        Ok(self.re[0])
    }

    /// A scalar hyper-dual tensor's lanes.
    pub fn to_hyper_dual(&self) -> Result<HyperDual<f64>> {
        self.scalar_check(Mode::HyperDual)?;
        Ok(HyperDual::new(
            self.re[0],
            self.lane(self.tangent(0)),
            self.lane(self.tangent(1)),
            self.lane(self.second(0)),
        ))
    }

    /// A scalar jet tensor's lanes.
    pub fn to_jet(&self) -> Result<Jet<f64>> {
        self.scalar_check(Mode::Jet)?;
        Ok(Jet::new(self.re[0], self.lane(self.tangent(0)), self.lane(self.second(0))))
    }

    /// A scalar k-direction tensor's value, `k` directional derivatives and full `k×k`
    /// projected Hessian (from one pass).
    pub fn to_projection(&self, k: usize) -> Result<Projection<f64>> {
        self.scalar_check(Mode::Directions(k))?;
        let mut p =
            Projection { value: self.re[0], grad: vec![0.0; k], hess: vec![vec![0.0; k]; k], passes: 1 };
        for i in 0..k {
            p.grad[i] = self.lane(self.tangent(i));
            for j in i..k {
                let h = self.lane(self.second(packed_index(k, i, j)));
                p.hess[i][j] = h;
                p.hess[j][i] = h;
            }
        }
        Ok(p)
    }
}

/// A layer's block of the flat parameter vector, with its tangents (slices of the
/// directions), borrowed without copying. Second-order planes are zero (parameters are
/// seeded linearly).
#[derive(Clone, Debug)]
pub struct ParamView<'a> {
    shape: Vec<usize>,
    mode: Mode,
    re: &'a [f64],
    tan: Vec<&'a [f64]>,
}

impl Planes for ParamView<'_> {
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn mode(&self) -> Mode {
        self.mode
    }
    fn re(&self) -> &[f64] {
        self.re
    }
    fn tangent(&self, i: usize) -> Option<&[f64]> {
        self.tan.get(i).copied()
    }
    fn second(&self, _p: usize) -> Option<&[f64]> {
        None
    }
}

/// The flat parameter vector `θ` and the seeded directions of one forward pass.
///
/// ```
/// use fomoh_runtime::tensor::{Mode, Params, Planes};
/// let theta = [1.0, 2.0, 3.0, 4.0];
/// let (v1, v2) = ([1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0]);
/// let p = Params::hyper_dual(&theta, &v1, &v2).unwrap();
/// let w = p.view(2, vec![2]).unwrap();
/// assert_eq!(w.re(), &[3.0, 4.0]);
/// assert_eq!(w.tangent(1), Some(&[0.0, 0.0][..]));
/// assert!(p.view(3, vec![2]).is_err());
/// ```
#[derive(Clone, Debug)]
pub struct Params<'a> {
    theta: &'a [f64],
    dirs: Vec<&'a [f64]>,
    mode: Mode,
}

impl<'a> Params<'a> {
    fn with_dirs(theta: &'a [f64], dirs: Vec<&'a [f64]>, mode: Mode) -> Result<Self> {
        for (i, d) in dirs.iter().enumerate() {
            check_len(|| format!("direction {i}"), theta.len(), d.len())?;
        }
        Ok(Self { theta, dirs, mode })
    }

    /// A plain forward pass at `theta`.
    pub fn primal(theta: &'a [f64]) -> Self {
        Self { theta, dirs: Vec::new(), mode: Mode::Primal }
    }

    /// One direction `v` ([`Mode::Jet`]).
    pub fn jet(theta: &'a [f64], v: &'a [f64]) -> Result<Self> {
        Self::with_dirs(theta, vec![v], Mode::Jet)
    }

    /// Two directions ([`Mode::HyperDual`]).
    pub fn hyper_dual(theta: &'a [f64], v1: &'a [f64], v2: &'a [f64]) -> Result<Self> {
        Self::with_dirs(theta, vec![v1, v2], Mode::HyperDual)
    }

    /// `k = dirs.len() >= 1` directions ([`Mode::Directions`]). A pass holds `1 + k + k(k+1)/2`
    /// planes per activation, so memory grows with `k²`.
    pub fn directions(theta: &'a [f64], dirs: &'a [Vec<f64>]) -> Result<Self> {
        if dirs.is_empty() {
            return Err(Error::InvalidArgument("no directions given".into()));
        }
        Self::with_dirs(theta, dirs.iter().map(|d| d.as_slice()).collect(), Mode::Directions(dirs.len()))
    }

    /// The mode of the pass.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The number of parameters.
    pub fn len(&self) -> usize {
        self.theta.len()
    }

    /// Whether there are no parameters.
    pub fn is_empty(&self) -> bool {
        self.theta.is_empty()
    }

    /// The parameter values.
    pub fn theta(&self) -> &'a [f64] {
        self.theta
    }

    /// The block `theta[offset .. offset + prod(shape)]` as a tensor of `shape`.
    pub fn view(&self, offset: usize, shape: Vec<usize>) -> Result<ParamView<'a>> {
        let n: usize = shape.iter().product();
        let end = offset.checked_add(n).filter(|&e| e <= self.theta.len()).ok_or_else(|| {
            Error::Shape(format!(
                "parameter block {offset}..{} of shape {shape:?} exceeds {} parameters",
                offset.saturating_add(n),
                self.theta.len()
            ))
        })?;
        Ok(ParamView {
            shape,
            mode: self.mode,
            re: &self.theta[offset..end],
            tan: self.dirs.iter().map(|d| &d[offset..end]).collect(),
        })
    }
}
