//! The `fomoh` command line: forward-only optimizer studies (`fomoh rosenbrock`, `fomoh demo`).
//!
//! Errors are one line on stderr with a non-zero exit status.
#![warn(missing_docs)]

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    // A bug still ends in one line; RUST_BACKTRACE adds the standard report and backtrace.
    cli::panic::install();
    match cli::main() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", e.to_string().replace('\n', " "));
            ExitCode::FAILURE
        }
    }
}
