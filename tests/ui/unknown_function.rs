use fomoh::fomoh;

#[fomoh]
fn f(x: &[f64]) -> f64 {
    core::hint::black_box(x[0]) + f64::fract(x[1])
}

fn main() {}
