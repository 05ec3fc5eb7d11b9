//! Random scalar programs for differential tests (tests/random_graphs.rs in `f64`,
//! tests/f32.rs in `f32`): a few inputs, then steps that each append one value computed
//! from earlier ones (elementary functions, arithmetic, constants, branches), and the one
//! checker both run ([`check_case`], generic over the float type, the tolerance a parameter).

use super::{flat_hd, flat_jet, flat_proj};
use fomoh_jit::{compile_at, JitFloat, Mode};
use fomoh_runtime::{Scalar, ScalarFn};
use proptest::prelude::*;

/// One step of a random program.
#[derive(Clone, Debug)]
pub enum Step {
    /// A literal.
    Const(f64),
    /// A unary function (chosen by the byte) of an earlier value.
    Un(u8, usize),
    /// A binary function (chosen by the byte) of two earlier values.
    Bin(u8, usize, usize),
    /// `if v[a] > v[b] { v[c] } else { v[d] }`: a branch, recorded as a guard.
    Branch(usize, usize, usize, usize),
}

/// A random program: `n` inputs and its steps; its value is the last step's.
#[derive(Clone, Debug)]
pub struct Prog {
    /// The number of inputs.
    pub n: usize,
    /// The steps, each appending one value.
    pub steps: Vec<Step>,
}

impl ScalarFn for Prog {
    fn eval<S: Scalar>(&self, x: &[S]) -> S {
        let mut v: Vec<S> = x.to_vec();
        let c = S::from_f64;
        for st in &self.steps {
            let at = |i: usize| v[i % v.len()];
            let r = match *st {
                Step::Const(k) => c(k),
                Step::Un(op, a) => {
                    let a = at(a);
                    let pos = a * a + c(0.5);
                    match op % 22 {
                        0 => a.tanh().exp(),
                        1 => pos.ln(),
                        2 => pos.sqrt(),
                        3 => a.sin(),
                        4 => a.cos(),
                        5 => a.tanh(),
                        6 => a.atan(),
                        7 => a.sigmoid(),
                        8 => a.softplus(),
                        9 => a.asinh(),
                        10 => a.powi(2),
                        11 => a.powi(3),
                        12 => pos.powi(-2),
                        13 => pos.powf(1.5),
                        14 => a.abs(),
                        15 => a.relu(),
                        16 => pos.recip(),
                        17 => a.log_sigmoid(),
                        18 => a.tanh().sinh() * a.tanh().cosh(),
                        19 => -a,
                        20 => pos.cbrt(),
                        _ => a.mul_add(a, c(0.25)),
                    }
                }
                Step::Bin(op, a, b) => {
                    let (a, b) = (at(a), at(b));
                    match op % 9 {
                        0 => a + b,
                        1 => a - b,
                        2 => a * b,
                        3 => a / (b * b + c(0.5)),
                        4 => (a * a + c(0.5)).pow(b.tanh()),
                        5 => a.atan2(b),
                        6 => a.hypot(b),
                        7 => a.max(b),
                        _ => a.min(b),
                    }
                }
                Step::Branch(a, b, t, f) => {
                    if at(a) > at(b) {
                        at(t)
                    } else {
                        at(f) * c(2.0)
                    }
                }
            };
            v.push(r);
        }
        *v.last().expect("at least the inputs")
    }
}

/// A random step.
pub fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        1 => (-2.0..2.0f64).prop_map(Step::Const),
        5 => (any::<u8>(), 0..64usize).prop_map(|(o, a)| Step::Un(o, a)),
        5 => (any::<u8>(), 0..64usize, 0..64usize).prop_map(|(o, a, b)| Step::Bin(o, a, b)),
        1 => (0..64usize, 0..64usize, 0..64usize, 0..64usize).prop_map(|(a, b, c, d)| Step::Branch(a, b, c, d)),
    ]
}

/// A random program with its point, four directions of its dimension and a K in 1..5.
pub fn case() -> impl Strategy<Value = (Prog, Vec<f64>, Vec<Vec<f64>>, usize)> {
    (1..5usize).prop_flat_map(|n| {
        (
            prop::collection::vec(step(), 1..14).prop_map(move |steps| Prog { n, steps }),
            prop::collection::vec(-2.0..2.0f64, n),
            prop::collection::vec(prop::collection::vec(-1.0..1.0f64, n), 4),
            1..5usize,
        )
    })
}

/// A comparison of compiled lanes (second argument) with the runtime's lanes over the same
/// float type (third), named for messages (first). The fourth argument holds the same
/// runtime lanes computed in `f64` at the same (rounded) point and directions: the runtime's
/// own rounding error in `T` is their difference, which bounds how far the JIT's literals
/// folded in `f64` may move a lane (equal to the third for `T = f64`).
pub type Agree<T> = dyn Fn(&str, &[T], &[T], &[f64]) -> Result<(), TestCaseError>;

/// How [`check_case`] compares a program compiled over one float type.
pub struct Checks<'a, T> {
    /// The agreement of compiled lanes with the runtime's lanes over the same float type
    /// (the tolerance of the caller's float type; lanes the runtime leaves non-finite may be
    /// skipped by it).
    pub agree: &'a Agree<T>,
    /// Whether `0` and `-0` count as the same in the bitwise comparison with the interpreter.
    pub zeros_equal: bool,
    /// Whether a guard failure at the (rounded) trace point discards the case: a branch whose
    /// operands are within rounding of each other may go the other way once the point is
    /// rounded to `T`. Otherwise it fails the case.
    pub guard_may_fail: bool,
}

/// Bitwise equality through the exact widening to `f64` (NaN equal to NaN; `0` equal to `-0`
/// if `zeros_equal`).
pub fn same<T: JitFloat>(what: &str, a: &[T], b: &[T], zeros_equal: bool) -> Result<(), TestCaseError> {
    prop_assert_eq!(a.len(), b.len(), "{} lengths", what);
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        let (x, y) = (x.value(), y.value());
        prop_assert!(
            x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()) || (zeros_equal && x == 0.0 && y == 0.0),
            "{} lane {}: {:e} vs {:e}",
            what,
            i,
            x,
            y
        );
    }
    Ok(())
}

/// One random case over the float type `T`: the program traced at `x` rounded to `T`,
/// compiled for `T`, then every mode (value, hyper-dual, jet and the K-direction projection)
/// against the runtime's passes over `T` (within `checks.agree`) and against the interpreter
/// over the staged graph in `T` (bit for bit).
pub fn check_case<T: JitFloat>(
    prog: &Prog,
    x: &[f64],
    dirs: &[Vec<f64>],
    k: usize,
    checks: &Checks<T>,
) -> Result<(), TestCaseError> {
    let to_t = |v: &[f64]| -> Vec<T> { v.iter().map(|&a| T::from_f64(a)).collect() };
    let xt = to_t(x);
    // the rounded point, exactly representable in f64
    let x0: Vec<f64> = xt.iter().map(|v| v.value()).collect();
    let p = compile_at(&x0, |t| prog.eval(t)).expect("compiles").with_float::<T>();
    prop_assert_eq!(p.dim(), prog.n);
    prop_assert_eq!(p.float_type(), T::TYPE);
    let y = match p.value(&xt) {
        Ok(y) => y,
        Err(e) if checks.guard_may_fail && e.to_string().contains("guard") => {
            prop_assume!(false);
            unreachable!()
        }
        Err(e) => return Err(TestCaseError::fail(e.to_string())),
    };
    let (agree, z) = (checks.agree, checks.zeros_equal);
    same("value/interp", &[y], &p.interpret(Mode::Primal, &[&xt]).unwrap(), z)?;

    let d: Vec<Vec<T>> = dirs.iter().map(|v| to_t(v)).collect();
    // the directions as rounded to `T`, exactly in f64: the `f64` references' inputs
    let d64: Vec<Vec<f64>> = d.iter().map(|v| v.iter().map(|a| a.value()).collect()).collect();
    let (v1, v2) = (&d[0], &d[1]);
    let hd = flat_hd(p.hyper_dual(&xt, v1, v2).unwrap());
    let rt = fomoh_runtime::hyper_dual(|t| prog.eval(t), &xt, v1, v2).unwrap();
    let rt64 = flat_hd(fomoh_runtime::hyper_dual(|t| prog.eval(t), &x0, &d64[0], &d64[1]).unwrap());
    agree("value", &[y], &[prog.eval(&xt)], &rt64[..1])?;
    agree("value vs runtime", &[y], &[rt.re], &rt64[..1])?;
    agree("hyper_dual", &hd, &flat_hd(rt), &rt64)?;
    same("hyper_dual/interp", &hd, &p.interpret(Mode::HyperDual, &[&xt, v1, v2]).unwrap(), z)?;

    let j = flat_jet(p.directional(&xt, v1).unwrap());
    let j64 = flat_jet(fomoh_runtime::directional(|t| prog.eval(t), &x0, &d64[0]).unwrap());
    agree(
        "directional",
        &j,
        &flat_jet(fomoh_runtime::directional(|t| prog.eval(t), &xt, v1).unwrap()),
        &j64,
    )?;
    same("directional/interp", &j, &p.interpret(Mode::Jet, &[&xt, v1]).unwrap(), z)?;

    let dk = &d[..k];
    let pk = p.project(&xt, dk).unwrap();
    let rk = fomoh_runtime::project(prog, &xt, dk).unwrap();
    let rk64 = fomoh_runtime::project(prog, &x0, &d64[..k]).unwrap();
    agree("project", &flat_proj(&pk), &flat_proj(&rk), &flat_proj(&rk64))?;
    let mut parts: Vec<&[T]> = vec![&xt];
    parts.extend(dk.iter().map(|v| v.as_slice()));
    let it = p.interpret(Mode::HyperK(k), &parts).unwrap();
    same("project value/interp", &[pk.value], &it[..1], z)?;
    same("project grad/interp", &pk.grad, &it[1..=k], z)?;
    Ok(())
}
