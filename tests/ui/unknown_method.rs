use fomoh::fomoh;

#[fomoh]
fn f(x: &[f64]) -> f64 {
    x[0].fract() * x[1]
}

fn main() {}
