use fomoh::fomoh;

#[fomoh]
fn f(x: *const f64, n: usize) -> f64 {
    n as f64
}

#[fomoh]
fn g(x: &[f64]) -> f64 {
    let p = &x[0] as *const f64;
    x[0]
}

fn main() {}
