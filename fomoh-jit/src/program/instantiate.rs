//! A large program built from small traces ([`Options::instantiate`]): the function is traced
//! and rerolled at four small sizes (the probes), the first three rerolled programs are
//! compared and extended to the requested size ([`crate::reroll::instantiate`]) and to the
//! fourth probe size, where the extension must be the program traced there, and the result is
//! checked against one evaluation of the function at the requested size.
//!
//! The size: for a function without data inputs, `n` (the length of `x`); with data inputs,
//! their greatest common divisor `m` over the lengths of at least
//! [`Options::instantiate_min_size`] (each such length is `k_j · m` and becomes `k_j · p` at
//! probe size `p`; the other lengths are kept, and so is `n` unless it is that large too: then
//! it must be a multiple of `m` and follows it, a parameter per point, or nothing is
//! instantiated, as the small traces would each trace all of the parameters). The probes are `256 + 64 i + (m mod
//! 64)`, `i = 0..4`: large enough for every sum to reroll, and of the requested size's
//! residue modulo 64, so that code that depends on the size modulo a small power of two
//! (an unrolled loop and its tail) has the same shape at the probes and at `m`.
//!
//! The probes are traced as the first trace is (every input NaN, branches inside the terms
//! merged into selects); a probe whose rerolled program checks guards is refused (its guards
//! read inputs by position, which this does not extend), so an instantiated program never
//! meets a guard and serves every input without tracing again.

use super::traced::{Deferred, Traced};
use super::{split_call, trace_at_nan, Options, Source};
use crate::reroll::instantiate::{instantiate, predicts, Probes};
use crate::reroll::{self};
use crate::stage::Mode;
use crate::tensor::TensorProgram;
use crate::trace;
use std::sync::Arc;

/// The smallest probe size.
const PROBE_BASE: usize = 256;
/// The step between probe sizes (and the modulus whose residue they share with the size).
const PROBE_STEP: usize = 64;
/// Sizes below this are always traced in full (the probes must be well below the size).
const MIN_SIZE: usize = 1024;
/// The relative difference allowed between the function's value and the instantiated
/// program's at the check point (the rerolled sum is reassociated).
const CHECK_TOL: f64 = 1e-9;

/// How the sizes of one compilation follow the size `m`.
struct Sizing {
    /// The requested size.
    m: usize,
    /// `n` is this multiple of the size, or it is kept (`None`).
    params: Option<usize>,
    /// Per data input: its multiple of the size, or its kept length.
    lens: Vec<Result<usize, usize>>,
}

impl Sizing {
    fn new(n: usize, lens: &[usize], min: usize) -> Result<Sizing, &'static str> {
        const SMALL: &str = "the size is below Options::instantiate_min_size";
        let min = min.max(MIN_SIZE);
        if lens.is_empty() {
            return if n >= min {
                Ok(Sizing { m: n, params: Some(1), lens: Vec::new() })
            } else {
                Err(SMALL)
            };
        }
        let m = lens.iter().filter(|&&l| l >= min).fold(0, |g, &l| gcd(g, l));
        if m == 0 {
            return Err(SMALL);
        }
        if m < min {
            return Err(
                "the large data lengths share no common size (their greatest common divisor is small)",
            );
        }
        // a large parameter count follows the data (a parameter per point) or is refused:
        // the small traces would each trace all of it
        let params = match n {
            n if n < min => None,
            n if n % m == 0 => Some(n / m),
            _ => return Err("the parameter count is large and not a multiple of the data size"),
        };
        let lens = lens.iter().map(|&l| if l >= min { Ok(l / m) } else { Err(l) }).collect();
        Ok(Sizing { m, params, lens })
    }

    /// `n` (given `n` at the requested size) and the data lengths at size `p`.
    fn at(&self, n: usize, p: usize) -> (usize, Vec<usize>) {
        let lens = self.lens.iter().map(|l| l.map_or_else(|kept| kept, |k| k * p)).collect();
        (self.params.map_or(n, |k| k * p), lens)
    }
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// The first variant of a program over `n` parameters and data of the lengths `lens`,
/// instantiated from traces at small sizes, or why not (then the caller traces in full).
pub(super) fn instantiated(
    source: &Source,
    n: usize,
    lens: &[usize],
    options: &Options,
) -> Result<Traced<f64>, &'static str> {
    if !options.instantiate {
        return Err("instantiation is off (Options::instantiate)");
    }
    if !options.reroll {
        return Err("rerolling is off (Options::reroll)");
    }
    let sizing = Sizing::new(n, lens, options.instantiate_min_size)?;
    let sizes: [usize; 4] = core::array::from_fn(|i| PROBE_BASE + i * PROBE_STEP + sizing.m % PROBE_STEP);
    let mut programs: Vec<TensorProgram> = Vec::with_capacity(4);
    let mut nodes = Vec::with_capacity(4);
    for &p in &sizes {
        let (np, lp) = sizing.at(n, p);
        // a function that cannot run at a small size (it indexes past a fixed position)
        let traced =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| trace_at_nan(source, np, &lp, options)));
        let g = match traced {
            Ok(Ok(g)) => g,
            Ok(Err(_)) => return Err("a trace at a probe size failed"),
            Err(_) => return Err("the function panicked at a probe size"),
        };
        nodes.push(g.nodes.len());
        let r = reroll::reroll(&g).map_err(|_| "the trace at a probe size does not reroll")?;
        if r.guards.is_some() || r.violations.is_some() {
            return Err("the program at a probe size checks guards (branches not compiled as selects)");
        }
        programs.push(r.tensor);
    }
    // the full trace's size, extrapolated: small traces are not rerolled (the straight-line
    // code is as fast), so neither is a program whose full trace would be small
    let grow = nodes[1].saturating_sub(nodes[0]) as f64 / PROBE_STEP as f64;
    if (nodes[0] as f64 + grow * (sizing.m - sizes[0]) as f64) < options.reroll_min_nodes as f64 {
        return Err("the full trace would be smaller than Options::reroll_min_nodes");
    }
    let probe_nodes = nodes.iter().copied().max().unwrap_or(0);
    let probes = Probes {
        sizes: [sizes[0], sizes[1], sizes[2]],
        programs: [&programs[0], &programs[1], &programs[2]],
    };
    // the fourth probe, predicted from the first three
    if !predicts(&instantiate(&probes, sizes[3])?, &programs[3]) {
        return Err("the program predicted for a fourth probe size is not the one traced there");
    }
    let tensor = instantiate(&probes, sizing.m)?;
    let total: usize = lens.iter().sum();
    if tensor.dim() != n {
        return Err("the instantiated program has another number of parameters");
    }
    check_value(source, &tensor, n, lens, total)?;
    let (source, lens_owned, options_owned) = (source.clone(), lens.to_vec(), options.clone());
    let deferred: Deferred = Arc::new(move || trace_at_nan(&source, n, &lens_owned, &options_owned));
    Ok(Traced::instantiated(tensor, (n, total), probe_nodes, deferred, options.clone()))
}

/// A fixed point in `[0.5, 1.5)` of length `len` (`salt` varies it between vectors).
fn point(len: usize, salt: f64) -> Vec<f64> {
    (0..len).map(|i| 0.5 + ((i as f64 + 1.0) * salt).fract()).collect()
}

/// The instantiated program's value at a fixed point against the function's (evaluated
/// without recording, at the requested size).
fn check_value(
    source: &Source,
    tensor: &TensorProgram,
    n: usize,
    lens: &[usize],
    total: usize,
) -> Result<(), &'static str> {
    const FAILED: &str = "the value check at the requested size failed (the function depends on the size in a way the probes do not show)";
    let (x, data) = (point(n, 0.618_033_988_749_894_9), point(total, 0.754_877_666_246_692_8));
    let call = split_call(source, lens);
    let want = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| trace::eval_only(&x, &data, &call)))
        .map_err(|_| FAILED)?
        .map_err(|_| FAILED)?;
    let inputs: &[&[f64]] = if total == 0 { &[] } else { &[&data] };
    let got = tensor.run(Mode::Primal, &[("x", &x)], inputs).map_err(|_| FAILED)?;
    let got = *got.first().ok_or(FAILED)?;
    let same = (want - got).abs() <= CHECK_TOL * want.abs().max(got.abs())
        || want.to_bits() == got.to_bits()
        || (want.is_nan() && got.is_nan());
    same.then_some(()).ok_or(FAILED)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_follow_the_size_and_keep_ratios() {
        let s = Sizing::new(10_000, &[], 4096).unwrap();
        assert_eq!((s.m, s.at(10_000, 300)), (10_000, (300, vec![])));
        let s = Sizing::new(3, &[100_000, 300_000, 5], 4096).unwrap();
        assert_eq!((s.m, s.at(3, 300)), (100_000, (3, vec![300, 900, 5])));
        // a parameter per point follows the data
        let s = Sizing::new(200_000, &[100_000], 4096).unwrap();
        assert_eq!(s.at(200_000, 300), (600, vec![300]));
        assert!(Sizing::new(150_001, &[100_000], 4096).is_err());
        assert!(Sizing::new(3, &[5000, 5001], 4096).is_err());
        assert!(Sizing::new(3, &[1000, 1000], 4096).is_err());
        assert!(Sizing::new(2000, &[], 4096).is_err());
        assert!(Sizing::new(2000, &[], 0).is_ok());
        assert!(Sizing::new(500, &[], 0).is_err());
    }
}
