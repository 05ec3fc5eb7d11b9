use fomoh::fomoh;

#[allow(clippy::too_many_arguments)]
fn sum13(a: f64, b: f64, c: f64, d: f64, e: f64, f: f64, g: f64, h: f64, i: f64, j: f64, k: f64, l: f64, m: f64) -> f64 {
    a + b + c + d + e + f + g + h + i + j + k + l + m
}

// A plain helper with thirteen active arguments: refused at the call, naming the helper.
#[fomoh]
fn f(x: &[f64]) -> f64 {
    sum13(x[0], x[0], x[0], x[0], x[0], x[0], x[0], x[0], x[0], x[0], x[0], x[0], x[0])
}

fn main() {}
