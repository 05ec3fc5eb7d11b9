use fomoh::fomoh;

// Every unsupported construct of a function is reported in one compile.
#[fomoh]
fn f(x: &[f64]) -> f64 {
    let a = x[0].fract();
    let b = x[1] as i32;
    let c = unsafe { *x.as_ptr() };
    let d = x[0] % 2.0;
    let e = x.iter().fold(0.0, |s, v| s + v);
    a + c
}

fn main() {}
