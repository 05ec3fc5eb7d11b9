use fomoh::fomoh;

#[fomoh(wrt(x))]
fn f(x: f64, mut y: f64) -> f64 {
    y = x * 2.0;
    y
}

fn main() {}
