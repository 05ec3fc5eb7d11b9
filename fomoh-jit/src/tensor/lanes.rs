//! Where the lanes of materialized values live (θ and the tangents, the graph's data and
//! bound inputs, scratch buffers) and how a step reads them.

use super::graph::{TNode, TOp};
use crate::error::{JitError, JitResult};
use crate::float::JitFloat;

/// Where one lane of a materialized value lives.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Src {
    /// Input vector `v` of the mode (0: θ, 1..: tangents), at an offset.
    X(usize, usize),
    /// Data of node `i` (its contents or its bound input), at an offset.
    Data(u32, usize),
    /// Scratch buffer `b`, at an offset.
    Buf(usize, usize),
}

impl Src {
    /// The same location `d` elements further.
    pub(super) fn shifted(self, d: usize) -> Src {
        match self {
            Src::X(v, o) => Src::X(v, o + d),
            Src::Data(i, o) => Src::Data(i, o + d),
            Src::Buf(b, o) => Src::Buf(b, o + d),
        }
    }
}

/// The graph's nodes and data in the float type `T`.
pub(super) type NodeData<'a, T> = (&'a [TNode], &'a [Option<Vec<T>>]);

/// The elements of one lane (empty if its location is out of range).
pub(super) fn lane_slice<'a, T: JitFloat>(
    (nodes, data): NodeData<'a, T>,
    parts: &'a [(&str, &'a [T])],
    inputs: &[&'a [T]],
    bufs: &'a [Vec<T>],
    s: Src,
) -> &'a [T] {
    let (sl, o): (&[T], usize) = match s {
        Src::X(v, o) => (parts.get(v).map_or(&[][..], |p| p.1), o),
        Src::Data(i, o) => match nodes.get(i as usize).map(|n| &n.op) {
            Some(TOp::Data(d)) => {
                let conv = || data.get(i as usize).and_then(|c| c.as_deref());
                (T::from_f64s(d).or_else(conv).unwrap_or(&[]), o)
            }
            Some(TOp::Input(slot)) => (inputs.get(*slot).copied().unwrap_or(&[]), o),
            _ => (&[], 0),
        },
        Src::Buf(b, o) => (bufs.get(b).map_or(&[][..], Vec::as_slice), o),
    };
    sl.get(o..).unwrap_or(&[])
}

/// The `(pointer, readable length)` of a lane, given the scratch buffers.
pub(super) type Resolve<'r, T> = dyn Fn(&Vec<Vec<T>>, Src) -> (*const T, usize) + 'r;

/// The slice of `len` elements at a lane, or an internal error if it is shorter.
pub(super) fn lane<'b, T>(
    bufs: &'b Vec<Vec<T>>,
    resolve: &Resolve<'_, T>,
    s: Src,
    len: usize,
) -> JitResult<&'b [T]> {
    let (p, avail) = resolve(bufs, s);
    if avail < len {
        return Err(JitError::Shape("internal: a matmul operand is too short".into()));
    }
    // SAFETY: `resolve` returns a pointer into a live slice (an input, data, or one of `bufs`,
    // all outliving `'b`) with `avail >= len` elements after it.
    Ok(unsafe { core::slice::from_raw_parts(p, len) })
}

/// The distance between consecutive lanes of `len` elements in one buffer: long lanes are
/// padded by a cache line, so that a loop streaming many lanes at once does not have them all
/// map to the same cache sets (a power-of-two lane length otherwise aliases every lane).
pub(super) fn lane_stride(len: usize) -> usize {
    if len >= 64 {
        len.next_multiple_of(8) + 8
    } else {
        len
    }
}

/// A pointer that may cross to another thread (each user writes a disjoint range).
#[derive(Clone, Copy)]
pub(super) struct SendPtr<P>(pub(super) P);
// SAFETY: only used to hand disjoint ranges of one output (and the shared, read-only pointer
// arrays that locate them) to rayon tasks.
unsafe impl<P> Send for SendPtr<P> {}
unsafe impl<P> Sync for SendPtr<P> {}
