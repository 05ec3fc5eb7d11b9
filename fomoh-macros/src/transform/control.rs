//! Control flow and macros in a `#[fomoh]` body: `if` and `match` (the branches' kinds
//! joined), and the macros it understands (`vec!`, the `assert!` family).

use super::{Out, Walker};
use crate::analyse::Kind;
use proc_macro2::{Delimiter, Span, TokenStream, TokenTree};
use quote::{quote, ToTokens};
use syn::spanned::Spanned;
use syn::{Expr, Macro, Pat};

impl Walker<'_> {
    pub(super) fn branches(&mut self, outs: Vec<(Out, Span)>) -> (Vec<TokenStream>, Kind) {
        let kind = outs.iter().fold(Kind::Unit, |a, (o, _)| a.join(&o.kind));
        let kind = if kind == Kind::ActiveRef { Kind::Active } else { kind };
        let ts = outs
            .into_iter()
            .map(|(o, s)| {
                if kind == Kind::Active && o.kind != Kind::Active && o.kind != Kind::Unit {
                    let v = self.active(o, s);
                    quote!({ #v })
                } else {
                    o.ts
                }
            })
            .collect();
        (ts, kind)
    }

    pub(super) fn if_expr(&mut self, i: &syn::ExprIf) -> Out {
        self.push();
        let c = self.expr(&i.cond);
        let (then, tk) = self.block(&i.then_branch, false);
        self.pop();
        let mut outs = vec![(Out::new(then, tk), i.then_branch.span())];
        if let Some((_, e)) = &i.else_branch {
            outs.push((self.expr(e), e.span()));
        }
        let has_else = outs.len() == 2;
        let (ts, kind) = self.branches(outs);
        let ct = c.ts;
        let then = &ts[0];
        if has_else {
            let els = &ts[1];
            match &i.else_branch {
                Some((_, e)) if matches!(**e, Expr::Block(_)) => {
                    Out::new(quote!(if #ct #then else #els), kind)
                }
                // An `else if` chain comes back as an `if` expression: keep it in a block.
                _ => Out::new(quote!(if #ct #then else { #els }), kind),
            }
        } else {
            Out::new(quote!(if #ct #then), Kind::Unit)
        }
    }

    pub(super) fn match_expr(&mut self, m: &syn::ExprMatch) -> Out {
        let s = self.expr(&m.expr);
        let mut pats = Vec::new();
        let mut outs = Vec::new();
        for arm in &m.arms {
            self.push();
            let pat = match &arm.pat {
                Pat::Guard(g) => {
                    let (p, _) = self.bind(&g.pat, &s.kind);
                    let gd = self.expr(&g.guard).ts;
                    quote!(#p if #gd)
                }
                p => self.bind(p, &s.kind).0,
            };
            outs.push((self.expr(&arm.body), arm.body.span()));
            self.pop();
            pats.push(pat);
        }
        let (bodies, kind) = self.branches(outs);
        let st = s.ts;
        Out::new(quote!(match #st { #(#pats => #bodies,)* }), kind)
    }

    pub(super) fn mac(&mut self, m: &Macro) -> Out {
        let name = m.path.segments.last().map(|s| s.ident.to_string()).unwrap_or_default();
        let path = &m.path;
        if name == "vec" {
            let tokens = &m.tokens;
            match syn::parse2::<Expr>(quote!([#tokens])) {
                Ok(e) => {
                    let o = self.expr(&e);
                    let strip = |ts: TokenStream| -> TokenStream {
                        let mut it = ts.clone().into_iter();
                        match (it.next(), it.next()) {
                            (Some(TokenTree::Group(g)), None) if g.delimiter() == Delimiter::Bracket => {
                                let inner = g.stream();
                                quote!(#path![#inner])
                            }
                            _ => ts,
                        }
                    };
                    let ts = strip(o.ts);
                    return Out { ts, kind: o.kind, lifted: o.lifted.map(strip) };
                }
                Err(e) => {
                    self.errors.push(e);
                    return Out::new(m.to_token_stream(), Kind::Passive);
                }
            }
        }
        if name.starts_with("assert") || name.starts_with("debug_assert") {
            let parsed = syn::parse::Parser::parse2(
                syn::punctuated::Punctuated::<Expr, syn::Token![,]>::parse_terminated,
                m.tokens.clone(),
            );
            if let Ok(args) = parsed {
                let a: Vec<TokenStream> = args.iter().map(|e| self.expr(e).ts).collect();
                return Out::new(quote!(#path!(#(#a),*)), Kind::Unit);
            }
        }
        if let Some(i) = self.mentions_active(m.tokens.clone()) {
            self.error(
                m.path.span(),
                format!("the macro `{name}!` cannot take the active value `{i}`; #[fomoh] understands `vec!` and the `assert!` family"),
            );
        }
        Out::new(m.to_token_stream(), Kind::Passive)
    }
}
