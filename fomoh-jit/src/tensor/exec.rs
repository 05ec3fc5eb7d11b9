//! The steps of a compiled plan and how they run: fused loops (split into chunks on the
//! rayon pool), matmul steps ([`super::gemm`]), copies and windowed maxima, over scratch
//! buffers of lanes.

use super::gemm::{matmul_step, MatmulBlock};
use super::lanes::{lane_slice, NodeData, SendPtr, Src};
use crate::error::{JitError, JitResult};
use crate::float::JitFloat;
use rayon::prelude::*;
use std::sync::Arc;

/// A fused loop: input and output pointer arrays (to elements of the plan's float type),
/// then the rows `r0..r1` and columns `c0..c1` of the iteration space it runs (`c0` a
/// multiple of the vector width).
pub(super) type LoopFn = unsafe extern "C" fn(*const *const u8, *const *mut u8, i64, i64, i64, i64);

/// One part of a fused loop's iteration space: rows `r0..r1`, columns `c0..c1`.
pub(super) type Chunk = (usize, usize, usize, usize);

/// One step of a plan.
pub(super) enum Step {
    /// A fused loop.
    Fused {
        f: LoopFn,
        /// Per staged input: the lane's location and the last element index it reads.
        inputs: Vec<(Src, usize)>,
        /// Per stored lane: its buffer and offset there (the lanes of one loop lie one after
        /// another in one buffer, so a matmul reads them in place as one tall matrix).
        outputs: Vec<(usize, usize)>,
        /// The elements the loop writes per stored lane.
        out_len: usize,
        /// The parts of the iteration space, run in parallel when more than one.
        chunks: Vec<Chunk>,
        /// The loop sums everything into one element per lane: each chunk stores its partial
        /// sums apart and they are added in chunk order.
        partial: bool,
    },
    /// A matmul (see [`MatmulBlock`]).
    Matmul {
        m: usize,
        k: usize,
        n: usize,
        /// The output buffer: the nonzero lanes one after another.
        out: usize,
        /// The nonzero lanes.
        count: usize,
        /// The dgemms that compute them.
        blocks: Vec<MatmulBlock>,
    },
    /// A copy (gather, concat, broadcast, im2col) of every lane.
    Gather {
        map: Arc<GatherMap>,
        /// The elements each part must have (checked before reading).
        need: Vec<usize>,
        /// Per output lane: the parts' lanes and the output buffer.
        lanes: Vec<(Vec<Option<Src>>, usize)>,
    },
    /// A windowed maximum: the argmax of each window from the primal lane, then every lane
    /// copied at it.
    MaxSelect {
        windows: Arc<Vec<usize>>,
        width: usize,
        /// The elements the input must have (largest index + 1).
        need: usize,
        /// The input's primal lane (`None`: zero, the first candidate wins).
        primal: Option<Src>,
        /// Per output lane: the input lane and the output buffer.
        lanes: Vec<(Src, usize)>,
    },
}

impl Step {
    /// Whether running the step makes parallel calls on the rayon pool (several chunks, a
    /// matrix product, a long copy).
    pub(super) fn parallel(&self) -> bool {
        match self {
            Step::Fused { chunks, .. } => chunks.len() > 1,
            Step::Matmul { .. } => true,
            Step::Gather { map, .. } => map.local.len() >= PAR_MIN_COPY,
            Step::MaxSelect { windows, .. } => windows.len() >= PAR_MIN_COPY,
        }
    }
}

/// Where each element of a gathered output comes from.
pub(super) struct GatherMap {
    /// The part of each element (`None`: a single part).
    pub(super) part: Option<Vec<u32>>,
    /// The index inside its part.
    pub(super) local: Arc<Vec<usize>>,
}

/// Runs the fused loop `f` over its chunks, in parallel when there are several; a summing
/// loop (`partial`) has each chunk store its sums apart, then adds them in chunk order into
/// the outputs.
///
/// # Safety
/// `ip` and `op` must be valid input and output pointers of `f` for its whole iteration
/// space, and the chunks disjoint parts of that space (see
/// [`loop_chunks`](super::plan::loop_chunks)).
pub(super) unsafe fn run_loop<T: JitFloat>(
    f: LoopFn,
    ip: &[*const T],
    op: &[*mut T],
    chunks: &[Chunk],
    partial: bool,
) {
    let ins = SendPtr(ip.as_ptr());
    let call = move |o: *const *mut T, (r0, r1, c0, c1): Chunk| {
        let ins = ins;
        // SAFETY: the caller's contract; a chunk lies inside the iteration space (and `f`
        // was compiled for `T`, checked by `TensorProgram::run`).
        unsafe { f(ins.0.cast(), o.cast(), r0 as i64, r1 as i64, c0 as i64, c1 as i64) }
    };
    match chunks {
        [one] => call(op.as_ptr(), *one),
        _ if !partial => {
            let outs = SendPtr(op.as_ptr());
            // Disjoint chunks write disjoint elements.
            chunks.par_iter().for_each(move |&ch| {
                let outs = outs;
                call(outs.0, ch)
            });
        }
        _ => {
            let nq = op.len();
            let mut sums = vec![T::cst(0.0); chunks.len() * nq];
            let base = sums.as_mut_ptr();
            // SAFETY: `i < chunks.len() * nq`, inside `sums`.
            let slots: Vec<*mut T> = (0..sums.len()).map(|i| unsafe { base.add(i) }).collect();
            let slots = SendPtr(slots.as_ptr());
            // Chunk `i` writes only its own `nq` slots.
            (0..chunks.len()).into_par_iter().for_each(move |i| {
                let slots = slots;
                // SAFETY: `i * nq` is inside `slots`.
                call(unsafe { slots.0.add(i * nq) }, chunks[i])
            });
            for (q, &o) in op.iter().enumerate() {
                let total = (0..chunks.len()).fold(T::cst(0.0), |t, i| t + sums[i * nq + q]);
                // SAFETY: each output lane has at least one writable element (the caller's
                // contract).
                unsafe { *o = total };
            }
        }
    }
}

/// Elements below which a copy step (gather, windowed maximum) runs on the calling thread.
pub(super) const PAR_MIN_COPY: usize = 1 << 15;

/// `out[i] = f(i)` for every `i`, in chunks on the rayon pool when `out` is long.
pub(super) fn fill_each<T: JitFloat>(out: &mut [T], f: impl Fn(usize) -> T + Sync) {
    if out.len() >= PAR_MIN_COPY {
        const CHUNK: usize = 1 << 13;
        out.par_chunks_mut(CHUNK).enumerate().for_each(|(c, o)| {
            o.iter_mut().enumerate().for_each(|(k, v)| *v = f(c * CHUNK + k));
        });
    } else {
        out.iter_mut().enumerate().for_each(|(i, v)| *v = f(i));
    }
}

/// Runs the steps of a plan over the scratch buffers `bufs` (lengths as planned) and reads
/// its output lanes `result` (`None`: zero). A step's operands are resolved in θ and the
/// tangents (`parts`), the graph's data (`nd`), the bound `inputs` and the buffers. Returns
/// the lanes and the buffers (for reuse).
///
/// Every step writes all of its output buffers before they are read (fused loops store every
/// element or row, a matmul lane starts with β = 0), so a reused set needs no clearing.
pub(super) fn run_steps<T: JitFloat>(
    steps: &[Step],
    result: &[Option<Src>],
    nd: NodeData<'_, T>,
    parts: &[(&str, &[T])],
    inputs: &[&[T]],
    mut bufs: Vec<Vec<T>>,
) -> JitResult<(Vec<T>, Vec<Vec<T>>)> {
    let resolve = |bufs: &Vec<Vec<T>>, s: Src| -> (*const T, usize) {
        let sl = lane_slice(nd, parts, inputs, bufs, s);
        (sl.as_ptr(), sl.len())
    };
    for step in steps {
        match step {
            Step::Fused { f, inputs, outputs, out_len, chunks, partial } => {
                let mut ip = Vec::with_capacity(inputs.len());
                for &(s, last) in inputs {
                    let (p, avail) = resolve(&bufs, s);
                    if last >= avail {
                        return Err(JitError::Shape("internal: a loop input is too short".into()));
                    }
                    ip.push(p);
                }
                let mut op: Vec<*mut T> = Vec::with_capacity(outputs.len());
                for &(b, o) in outputs {
                    match bufs.get_mut(b) {
                        Some(v) if v.len() >= o + out_len => op.push(v[o..].as_mut_ptr()),
                        _ => return Err(JitError::Shape("internal: a loop output is too short".into())),
                    }
                }
                // SAFETY: every input pointer has at least `last + 1` readable elements
                // (checked above) and the loop reads no further; each output lane has
                // `out_len` writable elements (checked above), the loop writes no more,
                // the lanes do not overlap, and their buffer is distinct from every input.
                // The chunks lie inside the iteration space and are disjoint, so parallel
                // chunks write disjoint elements (or, summing, their own partials).
                unsafe { run_loop(*f, &ip, &op, chunks, *partial) };
            }
            Step::Matmul { m, k, n, out, count, blocks } => {
                matmul_step((*m, *k, *n), (*out, *count), blocks, &mut bufs, &resolve)?
            }
            Step::Gather { map, need, lanes } => {
                let short = || JitError::Shape("internal: a gather operand is too short".into());
                for (srcs, buf) in lanes {
                    let mut out = core::mem::take(&mut bufs[*buf]);
                    let ins: Vec<Option<&[T]>> = srcs
                        .iter()
                        .zip(need)
                        .map(|(s, &n)| match s {
                            Some(s) => {
                                let sl = lane_slice(nd, parts, inputs, &bufs, *s);
                                (sl.len() >= n).then_some(Some(sl)).ok_or_else(short)
                            }
                            None => Ok(None),
                        })
                        .collect::<JitResult<_>>()?;
                    if out.len() != map.local.len() {
                        return Err(short());
                    }
                    let local = &map.local[..];
                    match &map.part {
                        None => {
                            let src = ins[0].ok_or_else(short)?;
                            fill_each(&mut out, |i| src[local[i]]);
                        }
                        Some(part) => {
                            fill_each(&mut out, |i| {
                                ins[part[i] as usize].map_or(T::cst(0.0), |s| s[local[i]])
                            });
                        }
                    }
                    bufs[*buf] = out;
                }
            }
            Step::MaxSelect { windows, width, need, primal, lanes } => {
                let short = || JitError::Shape("internal: a max operand is too short".into());
                let sel: Vec<usize> = match primal {
                    Some(s) => {
                        let p = lane_slice(nd, parts, inputs, &bufs, *s);
                        if p.len() < *need {
                            return Err(short());
                        }
                        // The first largest element (its value carried along).
                        let argmax = |w: &[usize]| {
                            let first = (w[0], p[w[0]]);
                            w[1..]
                                .iter()
                                .fold(first, |(b, pb), &j| if p[j] > pb { (j, p[j]) } else { (b, pb) })
                                .0
                        };
                        if windows.len() >= PAR_MIN_COPY {
                            windows.par_chunks(*width).map(argmax).collect()
                        } else {
                            windows.chunks(*width).map(argmax).collect()
                        }
                    }
                    None => windows.chunks(*width).map(|w| w[0]).collect(),
                };
                for &(s, buf) in lanes {
                    let mut out = core::mem::take(&mut bufs[buf]);
                    let src = lane_slice(nd, parts, inputs, &bufs, s);
                    if src.len() < *need || out.len() != sel.len() {
                        return Err(short());
                    }
                    fill_each(&mut out, |i| src[sel[i]]);
                    bufs[buf] = out;
                }
            }
        }
    }
    let out = result
        .iter()
        .map(|s| {
            s.map_or(T::cst(0.0), |s| {
                let (p, n) = resolve(&bufs, s);
                // SAFETY: `n >= 1` is checked; `p` points into a live slice.
                if n == 0 {
                    T::cst(f64::NAN)
                } else {
                    unsafe { *p }
                }
            })
        })
        .collect();
    Ok((out, bufs))
}
