use fomoh::fomoh;

mod helpers {
    pub fn scale(t: f64) -> f64 {
        t * 2.0
    }
}

// A plain helper called by a path is refused at the call, naming the helper, like one in scope.
#[fomoh]
fn f(x: &[f64]) -> f64 {
    helpers::scale(x[0]) + x[1]
}

fn main() {}
