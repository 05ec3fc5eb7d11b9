use fomoh::fomoh;

#[fomoh]
fn f(x: &[f64]) -> f64 {
    println!("{}", x[0]);
    x[0]
}

fn main() {}
