//! The panic hook of the binary. A bug ends like every other error, in one
//! `error: internal error: …` line on stderr; when `RUST_BACKTRACE` asks for a backtrace (set
//! and not `0`), the standard hook runs after that line, so the panic and its backtrace
//! appear as Rust prints them (`RUST_BACKTRACE=1` the short form, `full` the full one).

use std::any::Any;
use std::ffi::OsStr;
use std::panic::{Location, PanicHookInfo};

/// A panic hook.
pub type Hook = Box<dyn Fn(&PanicHookInfo<'_>) + Sync + Send + 'static>;

/// Installs [`hook`] in front of the standard hook, asking `RUST_BACKTRACE` at each panic.
pub fn install() {
    let standard = std::panic::take_hook();
    std::panic::set_hook(hook(standard, || backtrace_wanted(std::env::var_os("RUST_BACKTRACE").as_deref())));
}

/// The hook: prints [`one_line`], then runs `standard` if `wanted()` (a backtrace is asked for).
pub fn hook(standard: Hook, wanted: impl Fn() -> bool + Sync + Send + 'static) -> Hook {
    Box::new(move |info| {
        eprintln!("{}", one_line(info.payload(), info.location()));
        if wanted() {
            standard(info);
        }
    })
}

/// Whether a value of `RUST_BACKTRACE` asks for a backtrace: set and not `0`, as the standard
/// hook reads it.
pub fn backtrace_wanted(value: Option<&OsStr>) -> bool {
    value.is_some_and(|v| v != "0")
}

/// The one line for a panic with `payload` (a `&str` or `String` message) at `location`.
pub fn one_line(payload: &(dyn Any + Send), location: Option<&Location<'_>>) -> String {
    let msg = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into());
    let at = location.map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
    format!("error: internal error: {}{at}", msg.replace('\n', " "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn the_line_names_the_message_and_the_place() {
        let here = Location::caller();
        let line = one_line(&"index out of bounds", Some(here));
        assert_eq!(
            line,
            format!("error: internal error: index out of bounds at {}:{}", here.file(), here.line())
        );
        // A formatted message (a String), on one line.
        assert_eq!(one_line(&String::from("two\nlines"), None), "error: internal error: two lines");
        assert_eq!(one_line(&42_u8, None), "error: internal error: unknown panic");
    }

    #[test]
    fn rust_backtrace_set_and_not_zero_asks_for_the_backtrace() {
        for (value, wanted) in [(None, false), (Some("0"), false), (Some("1"), true), (Some("full"), true)] {
            assert_eq!(backtrace_wanted(value.map(OsStr::new)), wanted, "{value:?}");
        }
    }

    /// A real panic through the installed hook: the previous hook (here a counter standing in
    /// for the standard one) runs after the line exactly when a backtrace is wanted.
    #[test]
    fn the_hook_chains_to_the_standard_one_when_a_backtrace_is_wanted() {
        static STANDARD: AtomicUsize = AtomicUsize::new(0);
        for wanted in [false, true] {
            let before = STANDARD.load(Ordering::SeqCst);
            let previous = std::panic::take_hook();
            let standard: Hook = Box::new(|_| {
                STANDARD.fetch_add(1, Ordering::SeqCst);
            });
            std::panic::set_hook(hook(standard, move || wanted));
            let result = std::panic::catch_unwind(|| panic!("boom"));
            std::panic::set_hook(previous);
            assert!(result.is_err());
            assert_eq!(STANDARD.load(Ordering::SeqCst) - before, usize::from(wanted), "wanted: {wanted}");
        }
    }
}
