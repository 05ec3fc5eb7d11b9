//! [`LastGood`]: steps that never leave θ where the loss is not finite.

use super::{Core, NonFinitePolicy, Optimizer, StepReport};
use crate::error::{Error, Result};
use crate::Objective;

/// The last θ at which the loss was finite, kept across steps so that a step which lands
/// where the loss is not finite can be undone.
///
/// A step checks the loss at the θ it starts from, so a finite step can move θ to a point
/// where the loss is `NaN` and only the next step finds out. [`LastGood::step`] then puts θ
/// back at the point before that step (whose loss was finite): under
/// [`NonFinitePolicy::Error`] it returns the error with θ restored; under
/// [`NonFinitePolicy::Skip`] the skipped step is reported and the next step starts from the
/// restored point (with new tangents).
///
/// ```
/// use fomoh_runtime::optim::{Fgd, LastGood};
/// use fomoh_runtime::{objective, scalar_fn, Objective, Scalar};
/// // √x is NaN for x < 0, where long steps from x = 1 land.
/// fn f<S: Scalar>(x: &[S]) -> S { x[0].sqrt() }
/// let obj = objective(1, scalar_fn!(f));
/// let mut opt = Fgd::new().learning_rate(100.0).seed(3);
/// let (mut x, mut guard) = (vec![1.0], LastGood::default());
/// let failed = (0..100).find(|_| guard.step(&mut opt, &obj, &mut x).is_err());
/// assert!(failed.is_some());
/// assert!(obj.value(&x).unwrap().is_finite());
/// ```
#[derive(Clone, Debug, Default)]
pub struct LastGood {
    theta: Vec<f64>,
    before: Vec<f64>,
}

impl LastGood {
    /// The last θ with a finite loss (empty before the first successful step).
    pub fn theta(&self) -> &[f64] {
        &self.theta
    }

    /// One step of `opt`; θ ends at a point with a finite loss whenever one was seen.
    pub fn step<O: Optimizer + ?Sized>(
        &mut self,
        opt: &mut O,
        obj: &dyn Objective,
        theta: &mut [f64],
    ) -> Result<StepReport> {
        self.before.clear();
        self.before.extend_from_slice(theta);
        match opt.step(obj, theta) {
            Ok(rep) => {
                if rep.loss.is_finite() {
                    std::mem::swap(&mut self.theta, &mut self.before);
                } else {
                    self.restore(theta);
                }
                Ok(rep)
            }
            Err(e) => {
                if matches!(e, Error::NonFinite(_)) && !obj.value(theta).is_ok_and(f64::is_finite) {
                    self.restore(theta);
                }
                Err(e)
            }
        }
    }

    /// After a run's last step landed where the loss (`loss`) is not finite: θ goes back to
    /// the last good point; under [`NonFinitePolicy::Error`] this is an error, under
    /// [`NonFinitePolicy::Skip`] the loss at the restored point is returned.
    pub fn land(&self, obj: &dyn Objective, theta: &mut [f64], core: &Core, loss: f64) -> Result<f64> {
        if !self.restore(theta) {
            return Ok(loss);
        }
        match core.settings.on_non_finite {
            NonFinitePolicy::Error => Err(Error::NonFinite(format!(
                "loss = {loss} after step {}; θ is back at the last point with a finite loss",
                core.iteration().saturating_sub(1)
            ))),
            NonFinitePolicy::Skip => obj.value(theta),
        }
    }

    /// Puts θ back at the last good point, if there is one of its length.
    fn restore(&self, theta: &mut [f64]) -> bool {
        let ok = !self.theta.is_empty() && self.theta.len() == theta.len();
        if ok {
            theta.copy_from_slice(&self.theta);
        }
        ok
    }
}
