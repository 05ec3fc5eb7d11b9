use fomoh::fomoh;

fn norm2(v: &[f64], scale: f64) -> f64 {
    v.iter().map(|t| t * t).sum::<f64>() * scale
}

// A plain helper over a slice: refused at the call, naming the helper, like a scalar one.
#[fomoh]
fn f(x: &[f64]) -> f64 {
    x[0] + norm2(x, 0.5)
}

fn main() {}
