use fomoh::fomoh;

#[fomoh]
fn f(x: &[f64]) -> f64 {
    unsafe { *x.get_unchecked(0) }
}

#[fomoh]
unsafe fn g(x: f64) -> f64 {
    x
}

fn main() {}
