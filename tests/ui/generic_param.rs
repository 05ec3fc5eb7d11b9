use fomoh::fomoh;

#[fomoh]
fn f<T: Copy + core::ops::Mul<Output = T>>(x: &[T]) -> T {
    x[0] * x[1]
}

fn main() {}
