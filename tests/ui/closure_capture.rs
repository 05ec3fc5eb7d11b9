use fomoh::fomoh;

#[fomoh]
fn f(x: &[f64]) -> f64 {
    let scale = |t: f64| t * x[0];
    scale(2.0)
}

fn main() {}
