//! Method and function calls in a `#[fomoh]` body: the `fomoh::Scalar` methods of the list
//! of operations on active values, methods on sequences and iterators of active values,
//! `f64::`-style calls, user primitives (`fomoh::custom::<P>(x)`), and calls of other
//! `#[fomoh]` functions and of functions generic over `S: Scalar` (any other function called
//! with active values is refused with a message naming it).

use super::{seq_of, Out, Walker};
use crate::analyse::Kind;
use crate::vocab::{binary_fn, is_scalar_method, method_help, takes_active_args, unary_op};
use proc_macro2::{Ident, Span, TokenStream};
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;
use syn::Expr;

/// The most arguments of a call through `fomoh::__macro::Callee` (its impls go this far);
/// longer calls coerce the callee to a function pointer returning the active type.
const MAX_CALLEE_ARGS: usize = 24;

impl Walker<'_> {
    /// A `fomoh::Scalar` method applied to an active receiver.
    pub(super) fn scalar_method(
        &mut self,
        method: &Ident,
        recv: Out,
        rspan: Span,
        args: Vec<(Out, Span)>,
        whole: Span,
    ) -> Out {
        let name = method.to_string();
        let a = self.active_ty();
        let r = self.active(recv, rspan);
        let call = |m: &str, args: Vec<TokenStream>| {
            let m = Ident::new(m, method.span());
            quote_spanned!(method.span()=> <#a as ::fomoh::Scalar>::#m(#r, #(#args),*))
        };
        let f = self.parsed.float.clone();
        if name == "powf" && args.len() == 1 && args[0].0.kind.is_active() {
            let (o, s) = args.into_iter().next().expect("one");
            let y = self.active(o, s);
            return Out::new(call("pow", vec![y]), Kind::Active);
        }
        if let Some(op) = unary_op(&name).filter(|op| op.params.len() == args.len()) {
            let mut params = Vec::with_capacity(args.len());
            for ((o, s), kind) in args.into_iter().zip(op.params) {
                if o.kind.is_active() {
                    self.error(s, format!("the argument of `{name}` must be a passive constant"));
                }
                let p = o.ts;
                params.push(match kind {
                    fomoh_ops::ParamKind::Int => p,
                    fomoh_ops::ParamKind::Real => quote!(::fomoh::__macro::to_f64::<#f, _>(#p)),
                });
            }
            return Out::new(call(&name, params), Kind::Active);
        }
        let n = args.len();
        if (binary_fn(&name) && n == 1) || (name == "mul_add" && n == 2) {
            let ys: Vec<TokenStream> = args.into_iter().map(|(o, s)| self.active(o, s)).collect();
            return Out::new(call(&name, ys), Kind::Active);
        }
        let help = method_help();
        self.error(whole, format!("`{name}` is not a differentiable method on an active value; {help}"));
        Out::new(r, Kind::Active)
    }

    pub(super) fn method(&mut self, m: &syn::ExprMethodCall) -> Out {
        let recv = self.expr(&m.receiver);
        let args: Vec<(Out, Span)> = m.args.iter().map(|a| (self.expr(a), a.span())).collect();
        let name = m.method.to_string();
        let any_arg = args.iter().any(|(o, _)| o.kind.is_active());
        let whole = m.method.span();
        match recv.kind.clone() {
            Kind::Active | Kind::ActiveRef => {
                if name == "clone" && args.is_empty() {
                    let v = self.active(recv, m.receiver.span());
                    return Out::new(v, Kind::Active);
                }
                self.scalar_method(&m.method, recv, m.receiver.span(), args, whole)
            }
            Kind::Passive | Kind::Unit if !any_arg => {
                let (r, meth, tf) = (recv.ts, &m.method, &m.turbofish);
                let a = args.into_iter().map(|(o, _)| o.ts);
                Out::new(quote!(#r.#meth #tf (#(#a),*)), Kind::Passive)
            }
            Kind::Passive | Kind::Unit => {
                if takes_active_args(&name) {
                    let m2 =
                        if name == "powf" { Ident::new("pow", m.method.span()) } else { m.method.clone() };
                    let o = self.scalar_method(&m2, recv, m.receiver.span(), args, whole);
                    return o;
                }
                if name == "push" && args.len() == 1 {
                    self.mark(&m.receiver, &Kind::Seq(1).join(&seq_of(&args[0].0.kind)), m.span());
                    return self.push_call(m, recv, args);
                }
                if name == "zip" && args.len() == 1 {
                    let k = Kind::Iter(Box::new(Kind::Tuple(vec![Kind::Passive, args[0].0.kind.element()])));
                    let (r, a) = (recv.ts, &args[0].0.ts);
                    return Out::new(quote!(#r.zip(#a)), k);
                }
                let help = method_help();
                self.error(whole, format!("the method `{name}` cannot take active arguments; {help}"));
                Out::new(recv.ts, Kind::Passive)
            }
            Kind::Seq(d) => {
                let (r, meth) = (recv.ts.clone(), &m.method);
                match (name.as_str(), args.len()) {
                    ("len" | "is_empty", 0) => Out::new(quote!(#r.#meth()), Kind::Passive),
                    ("iter" | "into_iter", 0) => {
                        Out::new(quote!(#r.#meth()), Kind::Iter(Box::new(Kind::Seq(d).element())))
                    }
                    ("to_vec" | "clone", 0) => Out::new(quote!(#r.#meth()), Kind::Seq(d)),
                    ("chunks" | "chunks_exact" | "windows", 1) => {
                        let a = &args[0].0.ts;
                        Out::new(quote!(#r.#meth(#a)), Kind::Iter(Box::new(Kind::Seq(d))))
                    }
                    ("push", 1) => {
                        self.mark(&m.receiver, &seq_of(&args[0].0.kind), m.span());
                        self.push_call(m, recv, args)
                    }
                    _ => {
                        self.error(
                            whole,
                            format!("`{name}` is not supported on a sequence of active values; use indexing, `.len()`, `.iter()` (with `.zip`, `.enumerate`, `.rev`), `.push`, or a `for` loop"),
                        );
                        Out::new(r, Kind::Passive)
                    }
                }
            }
            Kind::Iter(k) => {
                let (r, meth) = (recv.ts.clone(), &m.method);
                let a: Vec<TokenStream> = args.iter().map(|(o, _)| o.ts.clone()).collect();
                let same = |k: Kind| Out::new(quote!(#r.#meth(#(#a),*)), Kind::Iter(Box::new(k)));
                match (name.as_str(), args.len()) {
                    ("rev", 0) | ("skip" | "take" | "step_by", 1) => same(*k),
                    ("enumerate", 0) => same(Kind::Tuple(vec![Kind::Passive, *k])),
                    ("copied" | "cloned", 0) => same(k.deref()),
                    ("zip", 1) => same(Kind::Tuple(vec![*k, args[0].0.kind.element()])),
                    ("sum", 0) => {
                        let at = self.active_ty();
                        let it = if *k == Kind::ActiveRef { quote!(#r.copied()) } else { r };
                        Out::new(quote!(::core::iter::Iterator::sum::<#at>(#it)), Kind::Active)
                    }
                    _ => {
                        self.error(
                            whole,
                            format!("the iterator method `{name}` is not supported over active values; use `.zip`, `.enumerate`, `.rev`, `.skip`, `.take`, `.step_by`, `.copied`, `.sum()` or write a `for` loop"),
                        );
                        Out::new(r, Kind::Passive)
                    }
                }
            }
            Kind::Tuple(_) => {
                self.error(whole, "methods on tuples holding active values are not supported");
                Out::new(recv.ts, Kind::Passive)
            }
        }
    }

    pub(super) fn push_call(&mut self, m: &syn::ExprMethodCall, recv: Out, args: Vec<(Out, Span)>) -> Out {
        let target = self.place_kind(&m.receiver).map(|k| k.index()).unwrap_or(Kind::Passive);
        let (o, s) = args.into_iter().next().expect("one argument");
        let v = if target.is_active() { self.coerce(o, &target, s) } else { o.ts };
        let r = recv.ts;
        Out::new(quote!(#r.push(#v)), Kind::Unit)
    }

    pub(super) fn call(&mut self, c: &syn::ExprCall) -> Out {
        let args: Vec<(Out, Span)> = c.args.iter().map(|a| (self.expr(a), a.span())).collect();
        let any = args.iter().any(|(o, _)| o.kind.is_active());
        let Expr::Path(p) = &*c.func else {
            let f = self.expr(&c.func);
            if any {
                self.error(c.func.span(), "calling a closure or function value with active arguments is not supported; call by name a #[fomoh] function or a function generic over `S: fomoh::Scalar`");
            }
            let ft = f.ts;
            let a = args.into_iter().map(|(o, _)| o.ts);
            return Out::new(quote!(#ft(#(#a),*)), Kind::Passive);
        };
        let segs: Vec<String> = p.path.segments.iter().map(|s| s.ident.to_string()).collect();
        let path = &p.path;
        if segs == ["Vec", "new"] || segs == ["Vec", "with_capacity"] {
            let a = args.into_iter().map(|(o, _)| o.ts);
            let ts = quote!(#path(#(#a),*));
            return Out { ts: ts.clone(), kind: Kind::Passive, lifted: Some(ts) };
        }
        let float_fn = matches!(segs.as_slice(), [f, _] | [_, f, _] if f == "f64" || f == "f32");
        let last = p.path.segments.last().expect("a path has segments");
        let primitive = last.ident == "custom"
            && matches!(last.arguments, syn::PathArguments::AngleBracketed(_))
            && matches!(segs.as_slice(), [_] | [_, _] if segs[0] == "fomoh" || segs.len() == 1);
        if primitive && any {
            // `fomoh::custom::<P>(x)` on an active value: the primitive's lifted rule.
            let ga = &last.arguments;
            let a = self.active_ty();
            if args.len() != 1 {
                self.error_at(path, "`fomoh::custom::<P>` takes one argument");
                return Out::new(TokenStream::new(), Kind::Active);
            }
            let (o, s) = args.into_iter().next().expect("one argument");
            let x = self.active(o, s);
            return Out::new(
                quote_spanned!(p.span()=> <#a as ::fomoh::Scalar>::custom #ga (#x)),
                Kind::Active,
            );
        }
        if !any {
            let a = args.into_iter().map(|(o, _)| o.ts);
            return Out::new(quote!(#path(#(#a),*)), Kind::Passive);
        }
        if float_fn {
            let method = p.path.segments.last().expect("segments").ident.clone();
            let mut it = args.into_iter();
            let (recv, rs) = it.next().expect("an active argument");
            let name = method.to_string();
            if !is_scalar_method(&name) {
                let shown = path.to_token_stream().to_string().replace(' ', "");
                let help = method_help();
                self.error_at(path, format!("`{shown}` is not differentiable by #[fomoh]; {help}"));
                return Out::new(recv.ts, Kind::Active);
            }
            return self.scalar_method(&method, recv, rs, it.collect(), p.span());
        }
        if p.qself.is_some() || matches!(segs.first().map(String::as_str), Some("std" | "core" | "alloc")) {
            self.error_at(
                path,
                format!(
                    "`{}` is not differentiable by #[fomoh]; active values can go to the `fomoh::Scalar` methods, `f64::max`-style calls and other #[fomoh] functions",
                    path.to_token_stream().to_string().replace(' ', "")
                ),
            );
            return Out::new(TokenStream::new(), Kind::Active);
        }
        if let [name] = segs.as_slice() {
            if self.lookup(name).is_some() {
                self.error_at(
                    path,
                    format!("`{name}` is a local variable (a closure or function value); calling it with active arguments is not supported: inline its body, or call by name a #[fomoh] function or a function generic over `S: fomoh::Scalar`"),
                );
                return Out::new(TokenStream::new(), Kind::Active);
            }
        }
        let a: Vec<TokenStream> = args
            .into_iter()
            .map(|(o, s)| match o.kind {
                Kind::ActiveRef => self.active(o, s),
                _ => o.ts,
            })
            .collect();
        if p.qself.is_none() && path.segments.iter().all(|s| s.arguments.is_empty()) {
            let idents: Vec<&Ident> = path.segments.iter().map(|s| &s.ident).collect();
            let (name, prefix) = idents.split_last().expect("a path has segments");
            let global = path.leading_colon.is_some();
            return Out::new(self.callee_call(global, prefix, name, a, p.span()), Kind::Active);
        }
        // A path with generic arguments: call the matching form of the generated module of
        // the #[fomoh] function it names.
        let form = self.call_form();
        let first = path.segments.first().map(|s| &s.ident);
        let rest = path.segments.iter().skip(1).map(ToTokens::to_token_stream);
        let path = module_path(path.leading_colon.is_some(), first, rest.collect(), 1);
        Out::new(quote_spanned!(p.span()=> #path::#form(#(#a),*)), Kind::Active)
    }

    /// `prefix::name(args)` with active arguments, `name` a function in scope (or at the
    /// module path `prefix`): its `#[fomoh]` pass of this mode if it has one, else `name`
    /// itself, through `fomoh::__macro::Callee`. The stand-in module `name` declared here
    /// holds `name` as the pass; a `#[fomoh]` function's own module `name`, brought into the
    /// inner block by a glob import of `prefix`, shadows it. `Callee` then calls the function
    /// when it returns the active type (a `#[fomoh]` pass, or a function generic over
    /// `S: Scalar`), and otherwise refuses the call at compile time with a message naming the
    /// function (`ActiveFn`): the macro cannot tell these apart, it sees only its own
    /// function. Past `MAX_CALLEE_ARGS` arguments the callee is coerced to a function pointer
    /// returning the active type instead, so a plain function is refused by a type mismatch
    /// that names it.
    fn callee_call(
        &self,
        global: bool,
        prefix: &[&Ident],
        name: &Ident,
        args: Vec<TokenStream>,
        span: Span,
    ) -> TokenStream {
        let form = Ident::new(self.form_name(), span);
        let active = self.active_ty();
        let binds: Vec<Ident> =
            (0..args.len()).map(|i| format_ident!("__fomoh_arg{}", i, span = span)).collect();
        let holes: Vec<TokenStream> = binds.iter().map(|_| quote_spanned!(span=> _)).collect();
        let (first, rest) = match prefix.split_first() {
            Some((first, rest)) => (Some(*first), rest.iter().map(ToTokens::to_token_stream).collect()),
            None => (None, Vec::new()),
        };
        // Seen from the pass (a child of the user's module) and from the stand-in (its child).
        let from_pass = module_path(global, first, rest.clone(), 1);
        let from_stand_in = module_path(global, first, rest, 2);
        let call = if args.len() <= MAX_CALLEE_ARGS {
            quote_spanned! {span=>
                #[allow(unused_imports)]
                use ::fomoh::__macro::{ActiveCallee as _, PlainCallee as _};
                (&::fomoh::__macro::Callee::<#active, _, (#(#holes,)*)>::new(__fomoh_callee)).pick()(#(#binds),*)
            }
        } else {
            quote_spanned! {span=>
                let __fomoh_callee: fn(#(#holes),*) -> #active = __fomoh_callee;
                __fomoh_callee(#(#binds),*)
            }
        };
        // In parentheses: at the start of a statement a bare `match` would end it.
        quote_spanned! {span=>
            (match (#(#args,)*) {
                (#(#binds,)*) => {
                    #[allow(non_snake_case, unused_imports)]
                    mod #name {
                        #[allow(unused_imports)]
                        use super::*;
                        pub(super) use #from_stand_in::#name as #form;
                    }
                    let __fomoh_callee = {
                        #[allow(unused_imports)]
                        use #from_pass::*;
                        #name::#form
                    };
                    #call
                }
            })
        }
    }
}

/// A module path the user wrote (relative to the user's module: `a::b`, `self::a`,
/// `super::a`, `crate::a`, `::krate::a`, or empty for the user's module itself), as seen from
/// a module `depth` levels below the user's module. A relative `a::b` is left as it is: the
/// generated modules glob-import their parent, so `a` resolves as in the user's module, and an
/// extern crate `a` still resolves.
fn module_path(global: bool, first: Option<&Ident>, rest: Vec<TokenStream>, depth: usize) -> TokenStream {
    let up = (0..depth).map(|_| quote!(super));
    let head = match first {
        None => quote!(#(#up)::*),
        Some(f) if global => quote!(::#f),
        Some(f) if f == "self" => quote!(#(#up)::*),
        Some(f) if f == "super" => quote!(#(#up)::*::super),
        Some(f) => quote!(#f),
    };
    if rest.is_empty() {
        head
    } else {
        quote!(#head::#(#rest)::*)
    }
}
