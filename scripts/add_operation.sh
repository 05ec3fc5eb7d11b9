#!/usr/bin/env bash
# Adds a throw-away elementwise operation `square` (x²) to a scratch copy of this repository
# the way the README's "How to add an operation" says (one entry in the list of operations,
# one arm in each of the two matches of the rule file), checks that exactly those two files
# changed, then runs the list-walking tests of every backend there, plus a small program that
# uses `square` on the runtime's numbers, in a #[fomoh] function and in the JIT.
#
# Usage: scripts/add_operation.sh   (takes a few minutes: it builds the scratch copy; build
# artifacts go to $CARGO_TARGET_DIR, by default this repository's target/, so dependencies are
# reused)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

# The working tree's tracked files (committed or not), without build output.
git -C "$root" ls-files -z | (cd "$root" && xargs -0 tar -cf - --) | tar -xf - -C "$scratch"
cd "$scratch"
git init -q && git add -A && git -c user.name=check -c user.email=check@localhost commit -qm base

# 1. One entry in the list.
sed -i 's|^\( *\)"`1 / x`." Recip recip \[0.2, 3.0\];|&\n\1"`x²`." Square square [-2.0, 2.0];|' fomoh-ops/src/lib.rs
# 2. Its primal and its rule in the rule file.
sed -i 's|^\( *\)Recip => one / x,|&\n\1Square => x * x,|' fomoh-runtime/src/rules.rs
sed -i 's|^\( *\)Exp => {$|\1Square => r(a * a, c::<T>(2.0) * a, c(2.0)),\n&|' fomoh-runtime/src/rules.rs

changed="$(git status --porcelain | awk '{print $2}' | sort | tr '\n' ' ')"
expected="fomoh-ops/src/lib.rs fomoh-runtime/src/rules.rs "
if [ "$changed" != "$expected" ]; then
  echo "adding an operation changed [$changed], expected [$expected]" >&2
  exit 1
fi
git diff --stat

# A program that uses the new operation in every backend (not part of the change above).
cat > tests/new_operation.rs <<'RS'
use fomoh::{HyperDual, Objective, Scalar};
fn f<S: Scalar>(x: &[S]) -> S { x[0].square() * x[1] }
#[fomoh::fomoh]
fn g(x: &[f64]) -> f64 { x[0].square() * x[1] }
#[test]
fn square_works_everywhere() {
    let hd = f(&[HyperDual::new(3.0, 1.0, 1.0, 0.0), HyperDual::constant(2.0)]);
    assert_eq!((hd.re, hd.e1, hd.e12), (18.0, 12.0, 4.0));
    let jit = fomoh::jit::compile(2, |x| f(x)).unwrap();
    let by_macro = g::objective(2);
    for o in [&jit as &dyn Objective, &by_macro] {
        let h = o.hyper_dual(&[3.0, 2.0], &[1.0, 0.0], &[1.0, 0.0]).unwrap();
        assert_eq!((h.re, h.e1, h.e12), (18.0, 12.0, 4.0));
    }
}
RS
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
cargo test --test new_operation --test ops --test rules
cargo test -p fomoh-jit --test ops
echo "add_operation: ok (two files changed; every backend tested)"
