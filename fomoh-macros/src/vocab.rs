//! The methods `#[fomoh]` differentiates, read from the one list of operations
//! (`fomoh_ops`): the accepted names, their constant parameters and the help text.

/// The unary operation of the list with method `name`.
pub(crate) fn unary_op(name: &str) -> Option<&'static fomoh_ops::UnaryInfo> {
    fomoh_ops::UNARY.iter().find(|u| u.method == name)
}

/// Whether `name` is a binary function of the list (`pow`, `max`, ...).
pub(crate) fn binary_fn(name: &str) -> bool {
    fomoh_ops::BINARY_FNS.iter().any(|b| b.method == name)
}

/// Whether `name` is a `fomoh::Scalar` method `#[fomoh]` differentiates.
pub(crate) fn is_scalar_method(name: &str) -> bool {
    unary_op(name).is_some() || binary_fn(name) || name == "mul_add"
}

/// Methods a passive receiver may take active arguments to (`c.max(x)`, `c.powf(x)`).
pub(crate) fn takes_active_args(name: &str) -> bool {
    binary_fn(name) || name == "powf" || name == "mul_add"
}

/// The help text naming every accepted method (from the list of operations).
pub(crate) fn method_help() -> String {
    let mut names: Vec<String> = fomoh_ops::UNARY
        .iter()
        .map(|u| match u.params.len() {
            0 => u.method.to_string(),
            n => format!("{}({})", u.method, vec!["_"; n].join(", ")),
        })
        .collect();
    names.extend(fomoh_ops::BINARY_FNS.iter().map(|b| b.method.to_string()));
    names.push("mul_add".into());
    format!(
        "supported methods on active values: {}; user primitives as `fomoh::custom::<P>(x)`",
        names.join(", ")
    )
}
