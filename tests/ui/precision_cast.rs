use fomoh::fomoh;

#[fomoh]
fn f(x: &[f64]) -> f64 {
    let y = x[0] as f32;
    y as f64
}

fn main() {}
