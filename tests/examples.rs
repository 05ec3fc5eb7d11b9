//! Runs every example's `main`, so that `cargo test` checks what each example shows (each
//! example asserts its results). `cargo run --release --example NAME` runs one on its own.

#[path = "../examples/check_derivatives.rs"]
mod check_derivatives;
#[path = "../examples/custom_primitive.rs"]
mod custom_primitive;
#[path = "../examples/jit_loss.rs"]
mod jit_loss;
#[path = "../examples/macro_loss.rs"]
mod macro_loss;
#[path = "../examples/optimize.rs"]
mod optimize;
#[path = "../examples/rosenbrock.rs"]
mod rosenbrock;

#[test]
fn example_check_derivatives() {
    check_derivatives::main().unwrap();
}

#[test]
fn example_custom_primitive() {
    custom_primitive::main().unwrap();
}

#[test]
fn example_jit_loss() {
    jit_loss::main().unwrap();
}

#[test]
fn example_macro_loss() {
    macro_loss::main().unwrap();
}

#[test]
fn example_optimize() {
    optimize::main().unwrap();
}

#[test]
fn example_rosenbrock() {
    rosenbrock::main().unwrap();
}
