//! The body walker shared by activity analysis and expansion.
//!
//! [`Walker`] rewrites the function body for one [`Mode`] (which number type active values
//! have) while computing every expression's [`Kind`]. Passive subexpressions are emitted
//! exactly as written (plain float arithmetic); where a passive value meets an active one it
//! is either used as a plain float by the mixed operators (`HyperDual * f64`, in the concrete
//! modes) or lifted to a constant (`S::from_f64`, in the generic mode, and wherever a `Scalar`
//! is required). Unsupported constructs are reported at their span; the walk continues so
//! that every error of the function is reported at once.

use crate::analyse::Kind;
use crate::parse::Parsed;
use proc_macro2::{Ident, Span, TokenStream, TokenTree};
use quote::{quote, ToTokens};
use syn::spanned::Spanned;
use syn::{BinOp, Expr, Type, UnOp};

mod calls;
mod control;
mod stmts;

/// The number type of active values in one expansion.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Mode {
    /// `S: Scalar` (the `generic` function).
    Generic,
    /// `HyperDual<F>`.
    HyperDual,
    /// `HyperK<F, K>`.
    HyperK,
    /// `Jet<F>`.
    Jet,
}

/// A rewritten expression.
pub(crate) struct Out {
    pub ts: TokenStream,
    pub kind: Kind,
    /// For array / `vec!` literals of passive floats: the same literal with every float lifted
    /// to an active constant (used when the binding later receives active values).
    pub lifted: Option<TokenStream>,
}

impl Out {
    fn new(ts: TokenStream, kind: Kind) -> Self {
        Out { ts, kind, lifted: None }
    }
}

struct Var {
    name: String,
    id: usize,
    param: bool,
}

/// Walks a function body, rewriting it for one mode.
pub(crate) struct Walker<'a> {
    parsed: &'a Parsed,
    mode: Mode,
    kinds: &'a mut Vec<Kind>,
    /// Whether bindings' kinds may still grow (analysis rounds).
    learn: bool,
    next: usize,
    scopes: Vec<Vec<Var>>,
    /// Errors found by this walk.
    pub errors: Vec<syn::Error>,
    /// Whether some binding's kind grew during this walk.
    pub changed: bool,
}

fn err(errors: &mut Vec<syn::Error>, span: Span, msg: impl std::fmt::Display) {
    errors.push(syn::Error::new(span, msg));
}

impl<'a> Walker<'a> {
    /// A walker over `parsed`'s body; `kinds` persists across walks.
    pub(crate) fn new(parsed: &'a Parsed, mode: Mode, kinds: &'a mut Vec<Kind>, learn: bool) -> Self {
        Walker {
            parsed,
            mode,
            kinds,
            learn,
            next: 0,
            scopes: vec![Vec::new()],
            errors: Vec::new(),
            changed: false,
        }
    }

    fn error(&mut self, span: Span, msg: impl std::fmt::Display) {
        err(&mut self.errors, span, msg);
    }

    /// An error covering all of `tokens` (first to last token).
    fn error_at(&mut self, tokens: impl ToTokens, msg: impl std::fmt::Display) {
        self.errors.push(syn::Error::new_spanned(tokens, msg));
    }

    /// The type of active values.
    pub(crate) fn active_ty(&self) -> TokenStream {
        let f = &self.parsed.float;
        match self.mode {
            Mode::Generic => quote!(S),
            Mode::HyperDual => quote!(::fomoh::HyperDual<#f>),
            Mode::HyperK => quote!(::fomoh::HyperK<#f, K>),
            Mode::Jet => quote!(::fomoh::Jet<#f>),
        }
    }

    /// The name of the pass of another `#[fomoh]` function called for active arguments
    /// (its generics are inferred).
    fn form_name(&self) -> &'static str {
        match self.mode {
            Mode::Generic => "generic",
            Mode::HyperDual => "hyper_dual",
            Mode::HyperK => "hyperplane",
            Mode::Jet => "directional",
        }
    }

    /// The function of another `#[fomoh]` module called for active arguments.
    fn call_form(&self) -> TokenStream {
        match self.mode {
            Mode::Generic => quote!(generic::<S>),
            Mode::HyperDual => quote!(hyper_dual),
            Mode::HyperK => quote!(hyperplane::<K>),
            Mode::Jet => quote!(directional),
        }
    }

    fn lift(&self, ts: TokenStream) -> TokenStream {
        let a = self.active_ty();
        let f = &self.parsed.float;
        quote!(::fomoh::__macro::lift::<#a, #f, _>(#ts))
    }

    fn val(&self, ts: TokenStream) -> TokenStream {
        let f = &self.parsed.float;
        quote!(::fomoh::__macro::val::<#f, _>(#ts))
    }

    /// Replaces the float type by the active type in a type written by the user.
    pub(crate) fn subst(&self, ts: TokenStream) -> TokenStream {
        let a = self.active_ty();
        let f = &self.parsed.float;
        ts.into_iter()
            .map(|tt| match tt {
                TokenTree::Ident(i) if i == *f => a.clone(),
                TokenTree::Group(g) => {
                    let mut ng = proc_macro2::Group::new(g.delimiter(), self.subst(g.stream()));
                    ng.set_span(g.span());
                    TokenTree::Group(ng).into_token_stream()
                }
                tt => tt.into_token_stream(),
            })
            .collect()
    }

    // ----- scopes -----

    fn push(&mut self) {
        self.scopes.push(Vec::new());
    }

    fn pop(&mut self) {
        self.scopes.pop();
    }

    fn declare(&mut self, ident: &Ident, kind: Kind, param: bool) -> usize {
        let id = self.next;
        self.next += 1;
        if id >= self.kinds.len() {
            self.kinds.push(Kind::Passive);
        }
        self.grow(id, &kind);
        self.scopes.last_mut().expect("a scope").push(Var { name: ident.to_string(), id, param });
        id
    }

    fn grow(&mut self, id: usize, kind: &Kind) {
        let j = self.kinds[id].join(kind);
        if j != self.kinds[id] && self.learn {
            self.kinds[id] = j;
            self.changed = true;
        }
    }

    fn lookup(&self, name: &str) -> Option<(usize, bool)> {
        self.scopes
            .iter()
            .rev()
            .flat_map(|s| s.iter().rev())
            .find(|v| v.name == name)
            .map(|v| (v.id, v.param))
    }

    fn mentions_active(&self, ts: TokenStream) -> Option<Ident> {
        for tt in ts {
            match tt {
                TokenTree::Ident(i) => {
                    if let Some((id, _)) = self.lookup(&i.to_string()) {
                        if self.kinds[id].is_active() {
                            return Some(i);
                        }
                    }
                }
                TokenTree::Group(g) => {
                    if let Some(i) = self.mentions_active(g.stream()) {
                        return Some(i);
                    }
                }
                _ => {}
            }
        }
        None
    }

    // ----- coercions -----

    /// The value as an active number (lifting passive floats, dereferencing `&active`).
    fn active(&mut self, o: Out, span: Span) -> TokenStream {
        let ts = o.ts;
        match o.kind {
            Kind::Active | Kind::Unit => ts,
            Kind::ActiveRef => quote!((*#ts)),
            Kind::Passive => self.lift(ts),
            _ => {
                self.error(
                    span,
                    "expected a float here, found a sequence, iterator or tuple of active values",
                );
                ts
            }
        }
    }

    /// An operand of a mixed operator: active values as such, passive floats as plain floats
    /// in the concrete modes (no derivative arithmetic on them).
    fn operand(&mut self, o: Out, span: Span) -> TokenStream {
        if self.mode == Mode::Generic {
            return self.active(o, span);
        }
        match o.kind {
            Kind::Passive => self.val(o.ts),
            _ => self.active(o, span),
        }
    }

    /// The value converted to the kind of the binding it is stored in.
    fn coerce(&mut self, o: Out, target: &Kind, span: Span) -> TokenStream {
        match target {
            Kind::Active => self.active(o, span),
            Kind::Seq(_) if !o.kind.is_active() => match o.lifted {
                Some(l) => l,
                None => {
                    self.error(
                        span,
                        "this container starts with plain floats but later holds active values; \
                         build it with `[0.0; N]`, `vec![0.0; n]`, `Vec::new()` or from active values",
                    );
                    o.ts
                }
            },
            _ => o.ts,
        }
    }

    // ----- expressions -----

    /// Rewrites an expression.
    pub(crate) fn expr(&mut self, e: &Expr) -> Out {
        match e {
            Expr::Lit(l) => Out::new(l.to_token_stream(), Kind::Passive),
            Expr::Path(p) => {
                if let Some(id) = p.path.get_ident() {
                    if let Some((v, _)) = self.lookup(&id.to_string()) {
                        return Out::new(p.to_token_stream(), self.kinds[v].clone());
                    }
                }
                Out::new(p.to_token_stream(), Kind::Passive)
            }
            Expr::Paren(p) => {
                let o = self.expr(&p.expr);
                let ts = o.ts;
                Out { ts: quote!((#ts)), kind: o.kind, lifted: o.lifted.map(|l| quote!((#l))) }
            }
            Expr::Group(g) => self.expr(&g.expr),
            Expr::Binary(b) => self.binary(b),
            Expr::Unary(u) => {
                let o = self.expr(&u.expr);
                let op = &u.op;
                match (op, &o.kind) {
                    (UnOp::Neg(_), k) if k.is_active() => {
                        let v = self.active(o, u.expr.span());
                        Out::new(quote!(#op #v), Kind::Active)
                    }
                    (UnOp::Deref(_), Kind::ActiveRef) => {
                        let ts = o.ts;
                        Out::new(quote!(*#ts), Kind::Active)
                    }
                    (UnOp::Not(_), k) if k.is_active() => {
                        self.error(u.span(), "`!` cannot apply to an active value");
                        Out::new(o.ts, Kind::Passive)
                    }
                    _ => {
                        let ts = o.ts;
                        Out::new(quote!(#op #ts), o.kind)
                    }
                }
            }
            Expr::Assign(a) => {
                let left = self.expr(&a.left);
                let right = self.expr(&a.right);
                self.mark(&a.left, &right.kind, a.span());
                let target = self.place_kind(&a.left).unwrap_or(left.kind.clone());
                let l = left.ts;
                let r = if target.is_active() && right.kind != target {
                    self.coerce(right, &target, a.right.span())
                } else {
                    right.ts
                };
                Out::new(quote!(#l = #r), Kind::Unit)
            }
            Expr::Index(i) => {
                let b = self.expr(&i.expr);
                let ix = self.expr(&i.index);
                if ix.kind.is_active() {
                    self.error(i.index.span(), "an index must be an integer, not an active value");
                }
                let kind = if matches!(&*i.index, Expr::Range(_)) { b.kind.clone() } else { b.kind.index() };
                let (bt, it) = (b.ts, ix.ts);
                Out::new(quote!(#bt[#it]), kind)
            }
            Expr::MethodCall(m) => self.method(m),
            Expr::Call(c) => self.call(c),
            Expr::Cast(c) => self.cast(c),
            Expr::Block(b) => {
                let (ts, kind) = self.block(&b.block, false);
                let label = &b.label;
                Out::new(quote!(#label #ts), kind)
            }
            Expr::If(i) => self.if_expr(i),
            Expr::Match(m) => self.match_expr(m),
            Expr::ForLoop(f) => {
                let it = self.expr(&f.expr);
                let elem = it.kind.element();
                self.push();
                let (pat, _) = self.bind(&f.pat, &elem);
                let (body, _) = self.block(&f.body, false);
                self.pop();
                let (label, its) = (&f.label, it.ts);
                Out::new(quote!(#label for #pat in #its #body), Kind::Unit)
            }
            Expr::While(w) => {
                self.push();
                let c = self.expr(&w.cond);
                let (body, _) = self.block(&w.body, false);
                self.pop();
                let (label, ct) = (&w.label, c.ts);
                Out::new(quote!(#label while #ct #body), Kind::Unit)
            }
            Expr::Loop(l) => {
                let (body, _) = self.block(&l.body, false);
                let label = &l.label;
                Out::new(quote!(#label loop #body), Kind::Unit)
            }
            Expr::Let(l) => {
                let o = self.expr(&l.expr);
                let (pat, _) = self.bind(&l.pat, &o.kind);
                let ts = o.ts;
                Out::new(quote!(let #pat = #ts), Kind::Passive)
            }
            Expr::Return(r) => {
                let v = r.expr.as_ref().map(|e| {
                    let o = self.expr(e);
                    self.active(o, e.span())
                });
                Out::new(quote!(return #v), Kind::Unit)
            }
            Expr::Break(b) => {
                let v = b.expr.as_ref().map(|e| {
                    let o = self.expr(e);
                    if o.kind.is_active() {
                        self.error(e.span(), "`break` with an active value is not supported; assign to a variable declared before the loop");
                    }
                    o.ts
                });
                let label = &b.label;
                Out::new(quote!(break #label #v), Kind::Unit)
            }
            Expr::Continue(c) => Out::new(c.to_token_stream(), Kind::Unit),
            Expr::Range(r) => {
                let s = r.start.as_ref().map(|e| self.expr(e).ts);
                let t = r.end.as_ref().map(|e| self.expr(e).ts);
                let lim = &r.limits;
                Out::new(quote!(#s #lim #t), Kind::Passive)
            }
            Expr::Reference(r) => {
                let o = self.expr(&r.expr);
                if r.mutability.is_some() && o.kind.is_active() {
                    self.error(
                        r.span(),
                        "active values cannot be passed by `&mut`; return the new value instead",
                    );
                }
                let kind = match o.kind {
                    Kind::Active => Kind::ActiveRef,
                    k => k,
                };
                let (m, ts) = (&r.mutability, o.ts);
                Out::new(quote!(& #m #ts), kind)
            }
            Expr::Array(a) => {
                let elems: Vec<Out> = a.elems.iter().map(|e| self.expr(e)).collect();
                self.seq_literal(elems, |xs| quote!([#(#xs),*]), a.span())
            }
            Expr::Repeat(r) => {
                let v = self.expr(&r.expr);
                let n = self.expr(&r.len).ts;
                self.seq_literal(vec![v], |xs| quote!([#(#xs)*; #n]), r.span())
            }
            Expr::Tuple(t) => {
                let elems: Vec<Out> = t.elems.iter().map(|e| self.expr(e)).collect();
                let kinds: Vec<Kind> = elems.iter().map(|o| o.kind.clone()).collect();
                let ts: Vec<TokenStream> = elems.into_iter().map(|o| o.ts).collect();
                let kind = if kinds.iter().any(Kind::is_active) { Kind::Tuple(kinds) } else { Kind::Passive };
                let comma = if ts.len() == 1 { quote!(,) } else { quote!() };
                Out::new(quote!((#(#ts),* #comma)), kind)
            }
            Expr::Macro(m) => self.mac(&m.mac),
            Expr::Closure(c) => {
                if let Some(i) = self.mentions_active(c.body.to_token_stream()) {
                    self.error(
                        i.span(),
                        format!("closures cannot capture the active value `{i}`; write a `for` loop instead"),
                    );
                }
                Out::new(c.to_token_stream(), Kind::Passive)
            }
            Expr::Unsafe(u) => {
                self.error_at(
                    u,
                    "#[fomoh] does not accept `unsafe` blocks; differentiable code must be safe Rust",
                );
                Out::new(u.to_token_stream(), Kind::Passive)
            }
            Expr::Async(a) => {
                self.error(a.async_token.span(), "#[fomoh] does not accept `async` blocks");
                Out::new(a.to_token_stream(), Kind::Passive)
            }
            Expr::Await(a) => {
                self.error(a.await_token.span(), "#[fomoh] does not accept `.await`");
                Out::new(a.to_token_stream(), Kind::Passive)
            }
            Expr::RawAddr(r) => {
                self.error(r.span(), "#[fomoh] does not accept raw pointers (`&raw`)");
                Out::new(r.to_token_stream(), Kind::Passive)
            }
            Expr::Field(f) => {
                let o = self.expr(&f.base);
                if let Kind::Tuple(ks) = &o.kind {
                    if let syn::Member::Unnamed(ix) = &f.member {
                        let k = ks.get(ix.index as usize).cloned().unwrap_or(Kind::Passive);
                        let (ts, m) = (o.ts, &f.member);
                        return Out::new(quote!(#ts.#m), k);
                    }
                }
                if o.kind.is_active() {
                    self.error(f.span(), "field access on an active value is not supported");
                }
                let (ts, m) = (o.ts, &f.member);
                Out::new(quote!(#ts.#m), Kind::Passive)
            }
            Expr::Try(t) => {
                let o = self.expr(&t.expr);
                let ts = o.ts;
                Out::new(quote!(#ts?), Kind::Passive)
            }
            other => {
                if let Some(i) = self.mentions_active(other.to_token_stream()) {
                    self.error(
                        other.span(),
                        format!("#[fomoh] does not support this expression with the active value `{i}`"),
                    );
                }
                Out::new(other.to_token_stream(), Kind::Passive)
            }
        }
    }

    /// An array / `vec!` literal from its rewritten elements.
    fn seq_literal(
        &mut self,
        elems: Vec<Out>,
        build: impl Fn(Vec<TokenStream>) -> TokenStream,
        span: Span,
    ) -> Out {
        let inner = elems.iter().map(|o| o.kind.clone()).fold(Kind::Passive, |a, k| a.join(&k));
        let plain_ts = build(elems.iter().map(|o| o.ts.clone()).collect());
        let lifted: Vec<TokenStream> = elems
            .into_iter()
            .map(|o| match (&o.kind, &o.lifted) {
                (Kind::Seq(_), _) => o.ts,
                (_, Some(l)) => l.clone(),
                _ => self.active(o, span),
            })
            .collect();
        let lifted_ts = build(lifted);
        match inner {
            Kind::Active | Kind::ActiveRef => Out::new(lifted_ts, Kind::Seq(1)),
            Kind::Seq(d) => Out::new(lifted_ts, Kind::Seq(d + 1)),
            _ => {
                // The plain literal stays as written; the lifted one is used if the binding
                // it initialises later receives active values.
                Out { ts: plain_ts, kind: Kind::Passive, lifted: Some(lifted_ts) }
            }
        }
    }

    fn binary(&mut self, b: &syn::ExprBinary) -> Out {
        let op = &b.op;
        let l = self.expr(&b.left);
        let r = self.expr(&b.right);
        let any = l.kind.is_active() || r.kind.is_active();
        let (ls, rs) = (b.left.span(), b.right.span());
        match op {
            BinOp::Add(_) | BinOp::Sub(_) | BinOp::Mul(_) | BinOp::Div(_) if any => {
                let lt = self.operand(l, ls);
                let rt = self.operand(r, rs);
                Out::new(quote!(#lt #op #rt), Kind::Active)
            }
            BinOp::AddAssign(_) | BinOp::SubAssign(_) | BinOp::MulAssign(_) | BinOp::DivAssign(_) => {
                self.mark(&b.left, &r.kind, b.span());
                let target = self.place_kind(&b.left).unwrap_or(l.kind.clone());
                let lt = l.ts;
                let rt = if target.is_active() { self.operand(r, rs) } else { r.ts };
                Out::new(quote!(#lt #op #rt), Kind::Unit)
            }
            BinOp::Lt(_) | BinOp::Le(_) | BinOp::Gt(_) | BinOp::Ge(_) | BinOp::Eq(_) | BinOp::Ne(_)
                if any =>
            {
                let lt = self.active(l, ls);
                let rt = self.active(r, rs);
                Out::new(quote!(#lt #op #rt), Kind::Passive)
            }
            _ if any => {
                self.error(
                    op.span(),
                    "this operator is not differentiable on active values; use `+ - * /`, comparisons \
                     and the `fomoh::Scalar` methods",
                );
                let (lt, rt) = (l.ts, r.ts);
                Out::new(quote!(#lt #op #rt), Kind::Passive)
            }
            _ => {
                let (lt, rt) = (l.ts, r.ts);
                Out::new(quote!(#lt #op #rt), Kind::Passive)
            }
        }
    }

    /// The root variable of a place expression and how many indexings lead to the place.
    fn place_root(e: &Expr) -> Option<(Ident, u8)> {
        match e {
            Expr::Path(p) => p.path.get_ident().map(|i| (i.clone(), 0)),
            Expr::Index(i) => Self::place_root(&i.expr).map(|(r, d)| (r, d + 1)),
            Expr::Paren(p) => Self::place_root(&p.expr),
            _ => None,
        }
    }

    fn place_kind(&self, e: &Expr) -> Option<Kind> {
        let (root, depth) = Self::place_root(e)?;
        let (id, _) = self.lookup(&root.to_string())?;
        let mut k = self.kinds[id].clone();
        for _ in 0..depth {
            k = k.index();
        }
        Some(k)
    }

    /// Records that a value of `kind` is stored into the place `e`.
    fn mark(&mut self, e: &Expr, kind: &Kind, span: Span) {
        if !kind.is_active() {
            return;
        }
        let Some((root, depth)) = Self::place_root(e) else {
            self.error(span, "#[fomoh] can store active values only in local variables and their elements");
            return;
        };
        let Some((id, param)) = self.lookup(&root.to_string()) else {
            self.error(
                root.span(),
                format!("`{root}` is not a local variable; active values can be stored only in locals"),
            );
            return;
        };
        let k = if depth == 0 {
            kind.deref()
        } else {
            match kind {
                Kind::Seq(d) => Kind::Seq(d + depth),
                _ => Kind::Seq(depth),
            }
        };
        if param {
            if !self.kinds[id].is_active() {
                self.error(
                    root.span(),
                    format!("`{root}` is a passive parameter and cannot hold active values; list it in `wrt(...)` or copy it into a local"),
                );
            }
        } else {
            self.grow(id, &k);
        }
    }

    fn cast(&mut self, c: &syn::ExprCast) -> Out {
        let o = self.expr(&c.expr);
        let ty = &c.ty;
        if let Type::Ptr(_) = &**ty {
            self.error_at(ty, "#[fomoh] does not accept raw pointers; index the slice instead");
            return Out::new(o.ts, Kind::Passive);
        }
        if !o.kind.is_active() {
            let ts = o.ts;
            return Out::new(quote!(#ts as #ty), Kind::Passive);
        }
        let float = &self.parsed.float;
        match &**ty {
            Type::Path(p) if p.path.get_ident().is_some_and(|i| i == float) => {
                // A no-op cast of an active value.
                let v = self.active(o, c.expr.span());
                Out::new(v, Kind::Active)
            }
            Type::Path(p) if p.path.get_ident().is_some_and(|i| i == "f32" || i == "f64") => {
                self.error_at(
                    c,
                    format!("an active value cannot change precision: the function computes in `{float}`"),
                );
                Out::new(o.ts, Kind::Active)
            }
            _ => {
                self.error_at(
                    c,
                    format!(
                        "casting an active value to `{}` drops its derivatives; compare it instead \
                         (`x < 1.0` decides by the primal value) or compute the integer from passive data",
                        ty.to_token_stream()
                    ),
                );
                Out::new(o.ts, Kind::Passive)
            }
        }
    }
}

/// The kind of a sequence holding elements of `k`.
fn seq_of(k: &Kind) -> Kind {
    match k {
        Kind::Seq(d) => Kind::Seq(d + 1),
        _ => Kind::Seq(1),
    }
}
