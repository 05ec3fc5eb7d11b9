//! # fomoh-macros
//!
//! The `#[fomoh]` attribute (use it as `fomoh::fomoh`): compile-time generation of the
//! second-order forward passes of an ordinary `f64` (or `f32`) function.
//!
//! The pipeline follows serde_derive and thiserror: [`parse`] checks the attribute and the
//! signature and decides the active parameters, [`analyse`] computes which bindings carry
//! derivative lanes (activity analysis, to a fixed point), and [`expand`] writes the module of
//! forward passes. Every unsupported construct is reported at its span, all in one compile,
//! next to the unchanged function so that rustc keeps checking it.
//!
//! See the `fomoh` crate's documentation of `fomoh::fomoh` for what is accepted and generated.

mod analyse;
mod expand;
mod parse;
mod transform;

use proc_macro::TokenStream;
use quote::ToTokens;

/// Generates the second-order forward passes of an `f64` (or `f32`) function.
///
/// Documented in full as `fomoh::fomoh`.
#[proc_macro_attribute]
pub fn fomoh(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand(attr.into(), item.into()).into()
}

/// The whole expansion on `proc_macro2` tokens (unit-testable).
fn expand(attr: proc_macro2::TokenStream, item: proc_macro2::TokenStream) -> proc_macro2::TokenStream {
    let func: syn::ItemFn = match syn::parse2(item.clone()) {
        Ok(f) => f,
        Err(e) => {
            let mut e2 = syn::Error::new(
                proc_macro2::Span::call_site(),
                "#[fomoh] applies to a free function `fn name(...) -> f64 { ... }`",
            );
            e2.combine(e);
            let ce = e2.to_compile_error();
            return quote::quote!(#item #ce);
        }
    };
    let args = parse::args(attr);
    let parsed = match args {
        Ok(a) => parse::parse(a, func.clone()),
        Err(e) => Err(e),
    };
    let parsed = match parsed {
        Ok(p) => p,
        Err(e) => {
            let ce = e.to_compile_error();
            let f = func.to_token_stream();
            return quote::quote!(#f #ce);
        }
    };
    let (activity, errors) = analyse::analyse(&parsed);
    if let Some(e) = parse::combine(errors) {
        let ce = e.to_compile_error();
        let f = func.to_token_stream();
        return quote::quote!(#f #ce);
    }
    let module = expand::module(&parsed, &activity);
    quote::quote!(#func #module)
}
