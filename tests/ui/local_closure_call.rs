use fomoh::fomoh;

#[fomoh]
fn f(x: &[f64]) -> f64 {
    let double = |t: f64| 2.0 * t;
    double(x[0]) + x[1]
}

fn main() {}
