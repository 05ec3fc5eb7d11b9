//! A model of your own, written once and run both eagerly and compiled: a residual net with
//! a skip connection and its own activation (swish, `z · sigmoid(z)`, composed from the
//! rule table's functions).
//!
//! ```text
//! cargo run --release --example user_model
//! ```

use fomoh::data::Dataset;
use fomoh::models::{Block, Minibatch, Model};
use fomoh::nn::{self, Backend, Blocks, Var};
use fomoh::{Objective, Result, UnaryOp};

/// `x -> h = swish(x W1 + b1) -> h + swish(h W2 + b2) -> · W3 + b3`.
#[derive(Debug)]
pub struct SkipNet {
    /// Input features.
    pub inputs: usize,
    /// Hidden width (both hidden layers).
    pub hidden: usize,
    /// Classes.
    pub classes: usize,
}

/// The activation: `z · sigmoid(z)`.
fn swish(b: &mut dyn Backend, z: Var) -> Result<Var> {
    let z2 = b.dup(&z)?;
    let s = b.unary(UnaryOp::Sigmoid, z2)?;
    b.mul(z, s)
}

impl Model for SkipNet {
    fn name(&self) -> String {
        format!("skipnet[{},{},{}]", self.inputs, self.hidden, self.classes)
    }

    fn blocks(&self) -> Vec<Block> {
        let dense = |name: &str, i: usize, o: usize| {
            [
                Block { name: format!("{name}.weight"), shape: vec![i, o], fan_in: i },
                Block { name: format!("{name}.bias"), shape: vec![o], fan_in: i },
            ]
        };
        [
            dense("fc1", self.inputs, self.hidden),
            dense("fc2", self.hidden, self.hidden),
            dense("fc3", self.hidden, self.classes),
        ]
        .concat()
    }

    fn sample_size(&self) -> usize {
        self.inputs
    }

    fn classes(&self) -> usize {
        self.classes
    }

    fn forward(&self, b: &mut dyn Backend, x: Var) -> Result<Var> {
        let mut p = Blocks::new();
        let (w1, b1) = (p.next(b, &[self.inputs, self.hidden])?, p.next(b, &[self.hidden])?);
        let z = nn::dense(b, x, w1, b1)?;
        let h = swish(b, z)?;
        let skip = b.dup(&h)?;
        let (w2, b2) = (p.next(b, &[self.hidden, self.hidden])?, p.next(b, &[self.hidden])?);
        let z = nn::dense(b, h, w2, b2)?;
        let r = swish(b, z)?;
        let h = b.add(skip, r)?;
        let (w3, b3) = (p.next(b, &[self.hidden, self.classes])?, p.next(b, &[self.classes])?);
        nn::dense(b, h, w3, b3)
    }
}

/// Trains nothing: evaluates the eager and the compiled loss of one definition on a
/// minibatch of the bundled digits, in value, hyper-dual and K = 4 modes, and returns the
/// largest difference.
pub fn main() -> Result<()> {
    let digits = Dataset::digits()?;
    let batch = digits.head(128)?;
    let model = SkipNet { inputs: 64, hidden: 32, classes: 10 };
    let theta = model.init(7);
    let eager = Minibatch::new(&model, &batch)?;
    let compiled = fomoh::jit::compile_model(&model, batch.len())?;
    let obj = compiled.bind(&batch)?;
    let n = model.num_params();
    let dirs: Vec<Vec<f64>> =
        (0..4).map(|k| (0..n).map(|i| ((i * 7 + k * 13) % 11) as f64 / 11.0 - 0.5).collect()).collect();
    let (a, b) = (eager.value(&theta)?, obj.value(&theta)?);
    let pa = eager.project(&theta, &dirs)?;
    let pb = obj.project(&theta, &dirs)?;
    let mut worst = (a - b).abs();
    for (x, y) in pa.grad.iter().zip(&pb.grad) {
        worst = worst.max((x - y).abs());
    }
    for (x, y) in pa.hess.iter().flatten().zip(pb.hess.iter().flatten()) {
        worst = worst.max((x - y).abs());
    }
    println!(
        "{}: loss {a:.6} eager, {b:.6} compiled; largest difference over value, F and H (K = 4): {worst:.1e}",
        model.name()
    );
    if worst > 1e-10 {
        return Err(fomoh::Error::InvalidArgument(format!("eager and compiled disagree by {worst:e}")));
    }
    Ok(())
}
