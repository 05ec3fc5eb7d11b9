//! Adding an operation changes the list and the rule file only: `scripts/add_operation.sh`
//! adds one to a scratch copy, checks that exactly those two files changed, and runs the
//! list-walking tests of every backend there. It builds the scratch copy (minutes), so the
//! test is opt-in: `cargo test --test add_operation -- --ignored`.

#[test]
#[ignore = "builds a scratch copy of the workspace (minutes); run with -- --ignored"]
fn adding_an_operation_touches_the_list_and_the_rule_file_only() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/add_operation.sh");
    let out = std::process::Command::new("bash").arg(script).output().expect("bash runs");
    let log = format!("{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{log}");
    assert!(log.contains("add_operation: ok"), "{log}");
}
