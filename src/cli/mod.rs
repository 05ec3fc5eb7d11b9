//! Argument parsing and dispatch. Each subcommand lives in its own module with an `Args`
//! struct (clap derive) and a `run` function; adding one (e.g. `train`) means one module, one
//! enum variant and one match arm (as `train` did).

mod backend;
mod demo;
mod memory;
mod output;
pub mod panic;
mod plot;
mod rosenbrock;
mod spec;
mod train;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Second-order forward-mode AD optimizers (FoMoH, FoMoH-KD; arXiv 2408.10419).
#[derive(Parser, Debug)]
#[command(name = "fomoh", version, about, propagate_version = true)]
pub struct Cli {
    /// No progress bars and no table (files are still written).
    #[arg(long, global = true)]
    pub quiet: bool,
    /// Print machine-readable JSON on stdout instead of the table.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// The paper's Rosenbrock study: every optimizer from x0 ~ N(0, I) per seed.
    Rosenbrock(rosenbrock::Args),
    /// Train a model (logreg, mlp, cnn) on digits or MNIST with one or more optimizers.
    Train(train::Args),
    /// A short run of the studies (under a minute); names the directory it writes.
    Demo(demo::Args),
    /// The MNIST learning studies (docs/studies.md): one `train` run per optimizer and seed,
    /// summarized over seeds, optionally beside the paper's code's runs.
    Study(train::study::Args),
}

/// A command-line failure: one line for the user.
#[derive(Debug)]
pub struct CliError(pub String);

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<fomoh::Error> for CliError {
    fn from(e: fomoh::Error) -> Self {
        CliError(e.to_string())
    }
}

/// `Result` with [`CliError`].
pub type CliResult<T> = Result<T, CliError>;

/// Global flags every subcommand sees.
#[derive(Clone, Copy, Debug)]
pub struct Global {
    /// `--quiet`.
    pub quiet: bool,
    /// `--json`.
    pub json: bool,
}

/// A clap error as one line: its first line (clap's message is several: usage, tips), with the
/// valid values of an invalid value and the names of missing arguments on it.
pub fn clap_line(e: &clap::Error) -> String {
    use clap::error::{ContextKind, ContextValue};
    let text = e.to_string();
    let line = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("bad arguments");
    let line = line.trim_start_matches("error: ").trim_end_matches(':');
    let context = |kind, before: &str| match e.get(kind) {
        Some(ContextValue::Strings(v)) if !v.is_empty() => format!("{before}{}", v.join(", ")),
        _ => String::new(),
    };
    let valid = context(ContextKind::ValidValue, "; possible values: ");
    let missing = match e.kind() {
        clap::error::ErrorKind::MissingRequiredArgument => context(ContextKind::InvalidArg, ": "),
        _ => String::new(),
    };
    format!("{line}{missing}{valid} (see `fomoh --help`)")
}

/// `fomoh ARGS` parsed as a `train` command and checked as `train` checks its arguments before
/// it reads data (what `fomoh study` runs on each run's arguments before it starts one).
fn check_train_command(args: &[String]) -> CliResult<()> {
    let cli = Cli::try_parse_from(std::iter::once("fomoh").chain(args.iter().map(String::as_str)))
        .map_err(|e| CliError(clap_line(&e)))?;
    match cli.command {
        Command::Train(t) => train::check_args(&t).map(drop),
        other => Err(CliError(format!("not a train command: {other:?}"))),
    }
}

/// Parses the arguments and runs the subcommand.
pub fn main() -> CliResult<ExitCode> {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            return match e.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
                    let _ = e.print();
                    Ok(ExitCode::SUCCESS)
                }
                ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand | ErrorKind::MissingSubcommand => {
                    Err(CliError(
                        "a subcommand is required: rosenbrock, train, study or demo (see `fomoh --help`)"
                            .into(),
                    ))
                }
                _ => Err(CliError(clap_line(&e))),
            };
        }
    };
    let global = Global { quiet: cli.quiet, json: cli.json };
    match cli.command {
        Command::Rosenbrock(args) => rosenbrock::run(&args, global),
        Command::Train(args) => train::run(&args, global),
        Command::Demo(args) => demo::run(&args, global),
        Command::Study(args) => train::study::run(&args, global),
    }?;
    Ok(ExitCode::SUCCESS)
}
