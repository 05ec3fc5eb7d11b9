use fomoh::fomoh;

#[fomoh(wrt(w, q))]
fn f(w: &[f64], n: usize) -> f64 {
    w[0] * n as f64
}

#[fomoh(wrt(n))]
fn g(w: &[f64], n: usize) -> f64 {
    w[0] * n as f64
}

#[fomoh(with(w))]
fn h(w: &[f64]) -> f64 {
    w[0]
}

fn main() {}
