//! # fomoh-macros
//!
//! The `#[fomoh]` attribute (use it as `fomoh::fomoh`): compile-time generation of the
//! second-order forward passes of an ordinary `f64` (or `f32`) function.
//!
//! The pipeline follows serde_derive and thiserror: `parse` checks the attribute and the
//! signature and decides the active parameters, `analyse` computes which bindings carry
//! derivative lanes (activity analysis, to a fixed point), and `expand` writes the module of
//! forward passes. Every unsupported construct is reported at its span, all in one compile,
//! next to the unchanged function so that rustc keeps checking it.
//!
//! See the `fomoh` crate's documentation of `fomoh::fomoh` for what is accepted and generated.

#![warn(missing_docs)]

mod analyse;
mod expand;
mod parse;
mod transform;
mod vocab;

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

#[cfg(test)]
mod tests {
    use quote::quote;

    /// The text of the generated function `form` in the expansion.
    fn form(expansion: &str, form: &str) -> String {
        let start =
            expansion.find(&format!("pub fn {form}")).unwrap_or_else(|| panic!("no {form} in {expansion}"));
        let rest = &expansion[start..];
        let end = rest[1..].find("pub fn").map(|e| e + 1).unwrap_or(rest.len());
        rest[..end].to_string()
    }

    fn text(ts: proc_macro2::TokenStream) -> String {
        ts.to_string()
    }

    /// Passive data and everything computed from it alone stay plain `f64` in the concrete
    /// passes: no lifting, no hyper-dual arithmetic; they meet active values only through
    /// the mixed operators (`HyperDual * f64`).
    #[test]
    fn passive_data_stays_plain_in_the_expansion() {
        let item = quote! {
            fn loss(w: &[f64], data: &[f64], n: usize) -> f64 {
                let mut s = 0.0;
                for i in 0..n {
                    let xi = data[2 * i];
                    let yi = data[2 * i + 1];
                    let scaled = (xi * 2.0).exp() + yi;
                    s += (w[0] * scaled - yi).powi(2);
                }
                s
            }
        };
        let out = text(super::expand(quote!(wrt(w)), item));
        let hd = form(&out, "hyper_dual");
        for passive in [
            quote!(let xi = data[2 * i];),
            quote!(let yi = data[2 * i + 1];),
            quote!(let scaled = (xi * 2.0).exp() + yi;),
        ] {
            assert!(hd.contains(&text(passive.clone())), "passive statement rewritten: {passive}\n{hd}");
        }
        // The active product uses the plain float directly.
        let mixed = text(quote!(
            w[0] * ::fomoh::__macro::val::<f64, _>(scaled) - ::fomoh::__macro::val::<f64, _>(yi)
        ));
        assert!(hd.contains(&mixed), "{hd}");
        // The only lift: the accumulator's initial 0.0 (it later holds active values).
        assert_eq!(hd.matches("lift").count(), 1, "{hd}");
        assert!(hd.contains(&text(
            quote!(let mut s = ::fomoh::__macro::lift::<::fomoh::HyperDual<f64>, f64, _>(0.0);)
        )));
        // `powi` on the active value goes through the rule table.
        assert!(hd.contains(&text(quote!(<::fomoh::HyperDual<f64> as ::fomoh::Scalar>::powi))), "{hd}");
        // The generic form lifts passive values where they meet active ones instead.
        let g = form(&out, "generic");
        assert!(g.contains(&text(quote!(let scaled = (xi * 2.0).exp() + yi;))));
        assert!(g.contains(&text(quote!(w[0] * ::fomoh::__macro::lift::<S, f64, _>(scaled)))), "{g}");
    }

    #[test]
    fn all_errors_are_reported_together() {
        let item = quote! {
            fn bad(x: &[f64]) -> f64 {
                let a = x[0] as usize;
                let b = x[1].fract();
                let c = std::hint::black_box(x[2]);
                x[0]
            }
        };
        let out = text(super::expand(quote!(), item));
        assert_eq!(out.matches("compile_error").count(), 3, "{out}");
        assert!(out.contains("drops its derivatives"), "{out}");
        assert!(out.contains("`fract` is not a differentiable method"), "{out}");
        assert!(out.contains("std::hint::black_box"), "{out}");
        // The original function is kept so that rustc keeps checking it.
        assert!(out.starts_with("fn bad"), "{out}");
    }

    /// The messages of the `compile_error!`s in an expansion, in order.
    fn messages(ts: proc_macro2::TokenStream) -> Vec<String> {
        let mut out = Vec::new();
        let mut it = ts.into_iter().peekable();
        while let Some(tt) = it.next() {
            match tt {
                proc_macro2::TokenTree::Ident(i) if i == "compile_error" => {
                    it.next(); // `!`
                    if let Some(proc_macro2::TokenTree::Group(g)) = it.next() {
                        let lit: syn::LitStr = syn::parse2(g.stream()).expect("a message");
                        out.push(lit.value());
                    }
                }
                proc_macro2::TokenTree::Group(g) => out.extend(messages(g.stream())),
                _ => {}
            }
        }
        out
    }

    /// Every trybuild case (`tests/ui/*.rs`) expanded here, without rustc: the macro's
    /// messages are exactly the `error:` lines of the pinned `.stderr` (the trybuild test,
    /// `cargo test --test macro_ui`, also pins their spans).
    #[test]
    fn ui_messages_match_the_pinned_stderr() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/ui");
        let mut cases = 0;
        for entry in std::fs::read_dir(&dir).expect("tests/ui") {
            let path = entry.expect("entry").path();
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let src = std::fs::read_to_string(&path).expect("case");
            let stderr = std::fs::read_to_string(path.with_extension("stderr")).expect("pinned stderr");
            let file = syn::parse_file(&src).expect("a Rust file");
            let mut got = Vec::new();
            for item in file.items {
                if let syn::Item::Fn(mut f) = item {
                    let Some(pos) = f.attrs.iter().position(|a| a.path().is_ident("fomoh")) else { continue };
                    let attr = f.attrs.remove(pos);
                    let args = match attr.meta {
                        syn::Meta::List(l) => l.tokens,
                        _ => proc_macro2::TokenStream::new(),
                    };
                    got.extend(messages(super::expand(args, quote!(#f))));
                }
            }
            let want: Vec<String> =
                stderr.lines().filter_map(|l| l.strip_prefix("error: ")).map(str::to_string).collect();
            assert_eq!(got, want, "{}", path.display());
            cases += 1;
        }
        assert!(cases >= 12, "only {cases} UI cases");
    }
}
