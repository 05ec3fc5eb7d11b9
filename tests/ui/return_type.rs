use fomoh::fomoh;

#[fomoh]
fn f(x: &[f64]) -> (f64, f64) {
    (x[0], x[1])
}

#[fomoh]
fn g(x: &[f64]) {
    let _ = x;
}

fn main() {}
