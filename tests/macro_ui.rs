//! Pins every `#[fomoh]` refusal message (tests/ui/*.rs with their .stderr).
//! Regenerate with `TRYBUILD=overwrite cargo test --test macro_ui` and review the diff.

#[test]
fn refusals_are_reported_at_their_span() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
