//! Random scalar programs for differential tests (tests/random_graphs.rs in `f64`,
//! tests/f32.rs in `f32`): a few inputs, then steps that each append one value computed
//! from earlier ones (elementary functions, arithmetic, constants, branches).

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
