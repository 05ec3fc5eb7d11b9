use fomoh::fomoh;

fn helper(t: f64) -> f64 {
    t * 2.0
}

// Active values can go only to #[fomoh] functions: `helper` has no generated passes.
#[fomoh]
fn f(x: &[f64]) -> f64 {
    helper(x[0]) + x[1]
}

fn main() {}
