//! The function's body, blocks, statements and bindings in a `#[fomoh]` body: parameters
//! declared, `let` bindings whose kind grows with what they receive, patterns.

use super::Walker;
use crate::analyse::Kind;
use proc_macro2::{Ident, TokenStream};
use quote::{quote, ToTokens};
use syn::spanned::Spanned;
use syn::{Block, Local, Pat, Stmt};

impl Walker<'_> {
    /// Declares the parameters and rewrites the body (its value is the active result).
    pub(crate) fn body(&mut self) -> TokenStream {
        let parsed = self.parsed;
        for p in &parsed.params {
            let kind = match p.active {
                Some(0) => Kind::Active,
                Some(d) => Kind::Seq(d),
                None => Kind::Passive,
            };
            match (&p.ident, p.active) {
                (Some(id), _) => {
                    self.declare(id, kind, true);
                }
                (None, _) => self.declare_pat_idents(&p.pat, true),
            }
        }
        let block = &parsed.func.block;
        self.block(block, true).0
    }

    pub(super) fn declare_pat_idents(&mut self, pat: &Pat, param: bool) {
        struct Collect(Vec<Ident>);
        impl<'ast> syn::visit::Visit<'ast> for Collect {
            fn visit_pat_ident(&mut self, p: &'ast syn::PatIdent) {
                self.0.push(p.ident.clone());
                syn::visit::visit_pat_ident(self, p);
            }
        }
        let mut c = Collect(Vec::new());
        syn::visit::Visit::visit_pat(&mut c, pat);
        for i in c.0 {
            self.declare(&i, Kind::Passive, param);
        }
    }

    /// Rewrites a block; with `result` its value is made active (the function body).
    pub(super) fn block(&mut self, b: &Block, result: bool) -> (TokenStream, Kind) {
        self.push();
        let mut out = Vec::new();
        let mut kind = Kind::Unit;
        let n = b.stmts.len();
        for (i, s) in b.stmts.iter().enumerate() {
            match s {
                Stmt::Local(l) => out.push(self.local(l)),
                Stmt::Item(it) => out.push(it.to_token_stream()),
                Stmt::Expr(e, semi) => {
                    let o = self.expr(e);
                    if semi.is_none() && i + 1 == n {
                        kind = o.kind.clone();
                        let ts = if result {
                            kind = Kind::Active;
                            self.active(o, e.span())
                        } else {
                            o.ts
                        };
                        out.push(ts);
                    } else {
                        let ts = o.ts;
                        out.push(quote!(#ts #semi));
                    }
                }
                Stmt::Macro(m) => {
                    let o = self.mac(&m.mac);
                    let ts = o.ts;
                    let semi = &m.semi_token;
                    if semi.is_none() && i + 1 == n {
                        kind = o.kind;
                    }
                    out.push(quote!(#ts #semi));
                }
            }
        }
        self.pop();
        (quote!({ #(#out)* }), kind)
    }

    pub(super) fn local(&mut self, l: &Local) -> TokenStream {
        let init = l.init.as_ref().map(|i| (self.expr(&i.expr), i.expr.span()));
        if let Some(i) = &l.init {
            if let Some((_, d)) = &i.diverge {
                if self.mentions_active(d.to_token_stream()).is_some()
                    || self.mentions_active(i.expr.to_token_stream()).is_some()
                {
                    self.error(
                        l.let_token.span(),
                        "`let ... else` is not supported with active values; use `match`",
                    );
                }
            }
        }
        let init_kind = init.as_ref().map(|(o, _)| o.kind.clone()).unwrap_or(Kind::Passive);
        let (pat, id) = self.bind(&l.pat, &init_kind);
        let init_ts = init.map(|(o, span)| match id {
            Some(id) => {
                let target = self.kinds[id].clone();
                if target.is_active() && !o.kind.is_active()
                    || target == Kind::Active && o.kind == Kind::ActiveRef
                {
                    self.coerce(o, &target, span)
                } else {
                    o.ts
                }
            }
            None => o.ts,
        });
        let diverge = l.init.as_ref().and_then(|i| i.diverge.as_ref()).map(|(e, x)| quote!(#e #x));
        match init_ts {
            Some(ts) => quote!(let #pat = #ts #diverge;),
            None => quote!(let #pat;),
        }
    }

    /// Binds a pattern to a value of `kind`; returns the rewritten pattern and, for a plain
    /// name, its binding id.
    pub(super) fn bind(&mut self, pat: &Pat, kind: &Kind) -> (TokenStream, Option<usize>) {
        match pat {
            Pat::Ident(pi) if pi.subpat.is_none() => {
                let id = self.declare(&pi.ident, kind.clone(), false);
                (pi.to_token_stream(), Some(id))
            }
            Pat::Type(pt) => {
                let (inner, id) = self.bind(&pt.pat, kind);
                let ty = pt.ty.to_token_stream();
                let active = id.map(|id| self.kinds[id].is_active()).unwrap_or(kind.is_active());
                let ty = if active { self.subst(ty) } else { ty };
                (quote!(#inner: #ty), id)
            }
            Pat::Reference(pr) => {
                let (inner, id) = self.bind(&pr.pat, &kind.deref());
                let m = &pr.mutability;
                (quote!(& #m #inner), id)
            }
            Pat::Paren(pp) => {
                let (inner, id) = self.bind(&pp.pat, kind);
                (quote!((#inner)), id)
            }
            Pat::Tuple(pt) => {
                let kinds: Vec<Kind> = match kind {
                    Kind::Tuple(ks) if ks.len() == pt.elems.len() => ks.clone(),
                    _ => vec![Kind::Passive; pt.elems.len()],
                };
                if kind.is_active() && !matches!(kind, Kind::Tuple(_)) {
                    self.error(pat.span(), "this pattern cannot destructure an active value");
                }
                let elems: Vec<TokenStream> =
                    pt.elems.iter().zip(&kinds).map(|(p, k)| self.bind(p, k).0).collect();
                (quote!((#(#elems),*)), None)
            }
            Pat::Wild(_) => (pat.to_token_stream(), None),
            _ => {
                if kind.is_active() {
                    self.error(
                        pat.span(),
                        "unsupported pattern for an active value; bind it to a name (`x`, `&x`, `(i, &x)`)",
                    );
                }
                self.declare_pat_idents(pat, false);
                (pat.to_token_stream(), None)
            }
        }
    }
}
