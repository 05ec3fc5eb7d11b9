//! Step 1: the attribute arguments and the function signature.
//!
//! Decides which parameters are active and checks everything the signature can get wrong
//! (async, unsafe, type generics, `&mut` or unsupported active parameters, the return type).
//! Every problem is collected; nothing stops at the first error.

use proc_macro2::{Ident, TokenStream};
use syn::spanned::Spanned;
use syn::{FnArg, GenericParam, ItemFn, Pat, ReturnType, Type};

/// `#[fomoh]` or `#[fomoh(wrt(a, b))]`.
pub(crate) struct Args {
    /// The active parameters, if restricted.
    pub wrt: Option<Vec<Ident>>,
}

/// Parses the attribute arguments.
pub(crate) fn args(attr: TokenStream) -> syn::Result<Args> {
    let mut wrt = None;
    if attr.is_empty() {
        return Ok(Args { wrt });
    }
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident("wrt") {
            let content;
            syn::parenthesized!(content in meta.input);
            let names = content.parse_terminated(<Ident as syn::parse::Parse>::parse, syn::Token![,])?;
            wrt = Some(names.into_iter().collect::<Vec<_>>());
            Ok(())
        } else {
            Err(meta.error(
                "unknown #[fomoh] argument; the only argument is `wrt(a, b, ...)`, the active parameters",
            ))
        }
    });
    syn::parse::Parser::parse2(parser, attr)?;
    Ok(Args { wrt })
}

/// What a parameter's type holds.
#[derive(Clone, Debug)]
pub(crate) enum Shape {
    /// A float (`depth` 0) or nested slices/arrays/`Vec`s of floats, behind shared references.
    Float { depth: u8, float: Ident },
    /// Contains a float in a form `#[fomoh]` cannot make active (`Option<f64>`, tuples, ...).
    OtherFloat,
    /// `&mut` to something holding floats.
    MutFloat(syn::TypeReference),
    /// A raw pointer.
    Pointer(Box<Type>),
    /// `impl Trait`.
    Impl(syn::TypeImplTrait),
    /// No float inside.
    Plain,
}

/// One parameter of the annotated function.
pub(crate) struct Param {
    /// The binding pattern (an identifier for active parameters).
    pub pat: Pat,
    /// The declared type.
    pub ty: Type,
    /// The identifier, if the pattern is one.
    pub ident: Option<Ident>,
    /// `Some(depth)` when active (0: a float, d: d nested sequences of floats).
    pub active: Option<u8>,
}

/// The checked signature.
pub(crate) struct Parsed {
    /// The function as written.
    pub func: ItemFn,
    /// `f64` or `f32` (the return type).
    pub float: Ident,
    /// The parameters in order.
    pub params: Vec<Param>,
}

fn is_float_ident(id: &Ident) -> bool {
    id == "f64" || id == "f32"
}

fn contains_float(ts: TokenStream) -> bool {
    ts.into_iter().any(|tt| match tt {
        proc_macro2::TokenTree::Ident(i) => is_float_ident(&i),
        proc_macro2::TokenTree::Group(g) => contains_float(g.stream()),
        _ => false,
    })
}

/// Classifies a type.
pub(crate) fn shape(ty: &Type) -> Shape {
    use quote::ToTokens;
    match ty {
        Type::Paren(p) => shape(&p.elem),
        Type::Group(g) => shape(&g.elem),
        Type::Ptr(_) => Shape::Pointer(Box::new(ty.clone())),
        Type::Reference(r) if matches!(&*r.elem, Type::Ptr(_)) => Shape::Pointer(Box::new(ty.clone())),
        Type::ImplTrait(i) => Shape::Impl(i.clone()),
        Type::Reference(r) => match shape(&r.elem) {
            Shape::Float { .. } | Shape::OtherFloat if r.mutability.is_some() => Shape::MutFloat(r.clone()),
            s => s,
        },
        Type::Slice(s) => seq(shape(&s.elem)),
        Type::Array(a) => seq(shape(&a.elem)),
        Type::Path(p) if p.qself.is_none() => {
            if let Some(id) = p.path.get_ident() {
                if is_float_ident(id) {
                    return Shape::Float { depth: 0, float: id.clone() };
                }
            }
            let last = p.path.segments.last();
            if let Some(seg) = last {
                if seg.ident == "Vec" {
                    if let syn::PathArguments::AngleBracketed(a) = &seg.arguments {
                        if let Some(syn::GenericArgument::Type(t)) = a.args.first() {
                            return seq(shape(t));
                        }
                    }
                }
            }
            if contains_float(ty.to_token_stream()) {
                Shape::OtherFloat
            } else {
                Shape::Plain
            }
        }
        _ => {
            if contains_float(ty.to_token_stream()) {
                Shape::OtherFloat
            } else {
                Shape::Plain
            }
        }
    }
}

fn seq(inner: Shape) -> Shape {
    match inner {
        Shape::Float { depth, float } => Shape::Float { depth: depth + 1, float },
        s => s,
    }
}

const SUPPORTED_PARAMS: &str = "an active parameter must be `f64`, `&[f64]`, `&[f64; N]`, `&Vec<f64>` or \
     `&[Vec<f64>]` (or the `f32` forms)";

/// Checks the signature and decides the active parameters; all errors combined.
pub(crate) fn parse(args: Args, func: ItemFn) -> Result<Parsed, syn::Error> {
    let mut errors: Vec<syn::Error> = Vec::new();
    let sig = &func.sig;
    if let Some(a) = &sig.asyncness {
        errors.push(syn::Error::new(
            a.span(),
            "#[fomoh] cannot differentiate an `async fn`; write a plain synchronous function",
        ));
    }
    if let syn::Safety::Unsafe(u) = &sig.safety {
        errors.push(syn::Error::new(
            u.span(),
            "#[fomoh] does not accept `unsafe fn`; differentiable code must be safe Rust",
        ));
    }
    if let Some(c) = &sig.constness {
        errors.push(syn::Error::new(c.span(), "#[fomoh] does not accept `const fn`"));
    }
    if let Some(v) = &sig.variadic {
        errors.push(syn::Error::new(v.span(), "#[fomoh] does not accept variadic functions"));
    }
    for g in &sig.generics.params {
        if let GenericParam::Type(t) = g {
            errors.push(syn::Error::new_spanned(
                t,
                format!(
                    "#[fomoh] needs the float type spelled out: the generic parameter `{}` hides it; \
                     write the function with `f64` (or `f32`) and #[fomoh] generates the generic \
                     version `name::generic::<S: Scalar>`",
                    t.ident
                ),
            ));
        }
    }
    let float = match &sig.output {
        ReturnType::Type(_, ty) => match &**ty {
            Type::Path(p) if p.path.get_ident().is_some_and(is_float_ident) => p.path.get_ident().cloned(),
            other => {
                errors.push(syn::Error::new_spanned(
                    other,
                    "#[fomoh] functions must return `f64` or `f32` (the value being differentiated)",
                ));
                None
            }
        },
        ReturnType::Default => {
            errors.push(syn::Error::new(
                sig.ident.span(),
                "#[fomoh] functions must return `f64` or `f32` (the value being differentiated); \
                 add `-> f64`",
            ));
            None
        }
    };
    let wrt_names: Option<Vec<String>> = args.wrt.as_ref().map(|w| w.iter().map(|i| i.to_string()).collect());
    let mut params = Vec::new();
    for arg in &sig.inputs {
        let pt = match arg {
            FnArg::Receiver(r) => {
                errors.push(syn::Error::new(
                    r.span(),
                    "#[fomoh] annotates free functions, not methods; move the body into a free \
                     function and call it from the method",
                ));
                continue;
            }
            FnArg::Typed(pt) => pt,
        };
        let ident = match &*pt.pat {
            Pat::Ident(pi) if pi.subpat.is_none() && pi.by_ref.is_none() => Some(pi.ident.clone()),
            _ => None,
        };
        let sh = shape(&pt.ty);
        let listed = match (&wrt_names, &ident) {
            (Some(names), Some(id)) => names.iter().any(|n| id == n),
            (Some(_), None) => false,
            (None, _) => !matches!(sh, Shape::Plain),
        };
        let mut active = None;
        match &sh {
            Shape::Pointer(s) => errors.push(syn::Error::new_spanned(
                s,
                "#[fomoh] does not accept raw pointers; pass a slice `&[f64]` or a reference",
            )),
            Shape::Impl(s) => errors.push(syn::Error::new_spanned(
                s,
                "#[fomoh] needs concrete parameter types: `impl Trait` hides the float type",
            )),
            Shape::MutFloat(s) if listed => errors.push(syn::Error::new_spanned(
                s,
                "#[fomoh] cannot differentiate through mutation of an active `&mut` parameter; \
                 take `&[f64]` (or `f64`) and return the value instead",
            )),
            Shape::Float { depth, float: f } if listed => {
                if let Some(rf) = &float {
                    if f != rf {
                        errors.push(syn::Error::new_spanned(
                            &pt.ty,
                            format!("this active parameter is `{f}` but the function returns `{rf}`; use one float type"),
                        ));
                    }
                }
                if ident.is_none() {
                    errors.push(syn::Error::new(
                        pt.pat.span(),
                        "an active parameter must be bound to a plain name (no patterns)",
                    ));
                }
                active = Some(*depth);
            }
            Shape::OtherFloat if listed => errors.push(syn::Error::new_spanned(
                &pt.ty,
                format!(
                    "unsupported type for an active parameter; {SUPPORTED_PARAMS}. List the active \
                     parameters with #[fomoh(wrt(...))] to keep this one passive"
                ),
            )),
            Shape::Plain if listed => errors.push(syn::Error::new(
                pt.ty.span(),
                format!("`wrt` lists a parameter without floats; {SUPPORTED_PARAMS}"),
            )),
            _ => {}
        }
        params.push(Param { pat: (*pt.pat).clone(), ty: (*pt.ty).clone(), ident, active });
    }
    if let Some(w) = &args.wrt {
        for name in w {
            if !params.iter().any(|p| p.ident.as_ref() == Some(name)) {
                errors.push(syn::Error::new(
                    name.span(),
                    format!("`wrt` names `{name}`, which is not a parameter"),
                ));
            }
        }
    }
    if errors.is_empty() && !params.iter().any(|p| p.active.is_some()) {
        errors.push(syn::Error::new(
            sig.ident.span(),
            "this function has no active (float) parameter; #[fomoh] differentiates with respect to \
             `f64`/`f32` parameters",
        ));
    }
    match combine(errors) {
        Some(e) => Err(e),
        None => Ok(Parsed { float: float.expect("checked"), params, func }),
    }
}

/// All errors as one.
pub(crate) fn combine(errors: Vec<syn::Error>) -> Option<syn::Error> {
    let mut it = errors.into_iter();
    let mut first = it.next()?;
    for e in it {
        first.combine(e);
    }
    Some(first)
}
