//! Step 2: activity analysis.
//!
//! Every binding (parameter, `let`, pattern) gets a [`Kind`]: passive (plain data, never
//! depends on an active input), active (carries derivative lanes), a reference to an active
//! value, a (nested) sequence of active values, an iterator or a tuple of those. Kinds only
//! grow (passive -> active), so the analysis walks the body repeatedly, joining the kinds of
//! everything stored into each binding, until nothing changes. The walk is the same one that
//! expands the body ([`crate::transform::Walker`]), so analysis and expansion cannot disagree.

use crate::parse::Parsed;
use crate::transform::{Mode, Walker};

/// What a binding or expression holds.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Kind {
    /// `()` or a diverging expression (`return`, `break`, loops).
    Unit,
    /// Plain data: integers, bools, passive floats, passive containers.
    Passive,
    /// An active float.
    Active,
    /// `&` an active float (from iterating an active slice).
    ActiveRef,
    /// `depth` nested sequences (slice, array, `Vec`) of active floats.
    Seq(u8),
    /// An iterator over the given kind.
    Iter(Box<Kind>),
    /// A tuple.
    Tuple(Vec<Kind>),
}

impl Kind {
    /// Whether any derivative lane lives in it.
    pub(crate) fn is_active(&self) -> bool {
        match self {
            Kind::Unit | Kind::Passive => false,
            Kind::Active | Kind::ActiveRef | Kind::Seq(_) => true,
            Kind::Iter(k) => k.is_active(),
            Kind::Tuple(ks) => ks.iter().any(Kind::is_active),
        }
    }

    /// The least kind holding both.
    pub(crate) fn join(&self, other: &Kind) -> Kind {
        use Kind::*;
        match (self, other) {
            (a, b) if a == b => a.clone(),
            (Unit | Passive, b) => b.clone(),
            (a, Unit | Passive) => a.clone(),
            (Active | ActiveRef, Active | ActiveRef) => Active,
            (Seq(a), Seq(b)) => Seq(*a.max(b)),
            (Iter(a), Iter(b)) => Iter(Box::new(a.join(b))),
            (Tuple(a), Tuple(b)) if a.len() == b.len() => {
                Tuple(a.iter().zip(b).map(|(x, y)| x.join(y)).collect())
            }
            (a, _) => a.clone(),
        }
    }

    /// The kind behind a `*` or a `&pattern`.
    pub(crate) fn deref(&self) -> Kind {
        match self {
            Kind::ActiveRef => Kind::Active,
            k => k.clone(),
        }
    }

    /// The kind of one element when iterating over a value of this kind.
    pub(crate) fn element(&self) -> Kind {
        match self {
            Kind::Iter(k) => (**k).clone(),
            Kind::Seq(1) => Kind::ActiveRef,
            Kind::Seq(d) => Kind::Seq(d - 1),
            _ => Kind::Passive,
        }
    }

    /// The kind of `self[i]`.
    pub(crate) fn index(&self) -> Kind {
        match self {
            Kind::Seq(1) => Kind::Active,
            Kind::Seq(d) => Kind::Seq(d - 1),
            _ => Kind::Passive,
        }
    }
}

/// The kinds of all bindings, in walk order (parameters first).
pub(crate) struct Activity {
    pub kinds: Vec<Kind>,
}

/// Runs the analysis to its fixed point. Returns the kinds and the errors of the last walk.
pub(crate) fn analyse(parsed: &Parsed) -> (Activity, Vec<syn::Error>) {
    let mut kinds = Vec::new();
    // Each round only raises kinds, and there are finitely many bindings and levels.
    for _ in 0..64 {
        let mut w = Walker::new(parsed, Mode::Generic, &mut kinds, true);
        w.body();
        let changed = w.changed;
        let errors = std::mem::take(&mut w.errors);
        if !changed {
            return (Activity { kinds }, errors);
        }
    }
    let e = syn::Error::new(parsed.func.sig.ident.span(), "#[fomoh]: activity analysis did not converge");
    (Activity { kinds }, vec![e])
}
