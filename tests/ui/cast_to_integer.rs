use fomoh::fomoh;

#[fomoh]
fn f(x: &[f64]) -> f64 {
    let k = x[0] as usize;
    x[k]
}

fn main() {}
