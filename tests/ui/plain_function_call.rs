use fomoh::fomoh;

fn helper(t: f64) -> f64 {
    t * 2.0
}

// Active values go only to #[fomoh] functions and functions generic over Scalar: not `helper`.
#[fomoh]
fn f(x: &[f64]) -> f64 {
    helper(x[0]) + x[1]
}

fn main() {}
