//! Matmul steps: the products a matmul's lanes need, grouped into few large dgemm blocks
//! (`matrixmultiply`'s `dgemm`, or `sgemm` in `f32`) over lane planes, and their scheduling
//! on the rayon pool.

use super::lanes::{lane, lane_stride, Resolve, SendPtr, Src};
use crate::error::{JitError, JitResult};
use crate::float::JitFloat;
use rayon::prelude::*;

/// One dgemm of a matmul step: the `a` lanes `ps` stacked vertically (`|ps|·m × k`) times the
/// `b` lanes `qs` side by side (`k × |qs|·n`), so product block `(i, j)` is `ps[i] · qs[j]`.
/// The blocks of a step cover every product its lanes need exactly once.
#[derive(Debug)]
pub(super) struct MatmulBlock {
    /// The left lanes.
    pub(super) ps: Vec<Src>,
    /// The `ps` lie one after another, `m·k` apart, from `ps[0]`: read in place, no copy.
    pub(super) a_contig: bool,
    /// The right lanes.
    pub(super) qs: Vec<Src>,
    /// Per product `(i, j, output lane, coef)`: the step's output lane (its place in the
    /// output buffer) it is added into with `coef`.
    pub(super) uses: Vec<(usize, usize, usize, f64)>,
    /// `Some((lane, coef))`: one right lane, and product `i` goes only to output lane
    /// `lane + i` with the same `coef`, so the dgemm writes straight into the output buffer.
    pub(super) direct: Option<(usize, f64)>,
}

/// A product a matmul step needs: `(a lane, b lane)` and its `(output lane, coef)` uses.
pub(super) type MatmulPair = ((Src, Src), Vec<(usize, f64)>);

/// The products a matmul step needs.
pub(super) type MatmulPairs = [MatmulPair];

/// Lanes of a stacked left operand and of a side-by-side right operand.
type LaneSets = (Vec<Src>, Vec<Src>);

/// A scratch product added into an output lane: `(block, i, j, coef)`.
type Added = (usize, usize, usize, f64);

/// Multiply-adds below which a dgemm runs on the calling thread alone.
const PAR_MIN_MACS: usize = 1 << 21;

/// Elements added (over all lanes) below which a matmul step's scratch products are added
/// into its output lanes on the calling thread alone.
const PAR_MIN_ADDS: usize = 1 << 16;

/// Splits a matmul's products into dgemm blocks (see [`MatmulBlock`]).
///
/// Two exact covers are considered: right lanes grouped by the set of left lanes they meet
/// (`[a_1; …; a_P] · [b_1 | …]`), and left lanes grouped by their right lanes. Each group is
/// kept whole or split into single right (or left) lanes, whichever a rough memory-traffic
/// model finds cheaper (a stacked left operand is free when its lanes are contiguous; a
/// side-by-side right operand is always a copy; every call packs its operands), and the
/// cheaper cover wins.
pub(super) fn matmul_blocks((m, k, n): (usize, usize, usize), pairs: &MatmulPairs) -> Vec<MatmulBlock> {
    // Products of several left lanes go straight into consecutive output lanes only if
    // those lanes are not padded apart.
    let tall_direct = lane_stride(m * n) == m * n;
    let (mut ps, mut qs): (Vec<Src>, Vec<Src>) = (Vec::new(), Vec::new());
    for &((a, b), _) in pairs {
        if !ps.contains(&a) {
            ps.push(a);
        }
        if !qs.contains(&b) {
            qs.push(b);
        }
    }
    let need = |p: Src, q: Src| pairs.iter().any(|x| x.0 == (p, q));
    // Left lanes in buffer order, so lanes written one after another are read in place.
    let sorted = |mut v: Vec<Src>| {
        v.sort_by_key(|s| match *s {
            Src::Buf(b, o) => (0, b, o),
            Src::Data(i, o) => (1, i as usize, o),
            Src::X(x, o) => (2, x, o),
        });
        v
    };
    let contig = |v: &[Src]| match v.first() {
        Some(&Src::Buf(b, o)) => {
            v.iter().enumerate().all(|(i, &s)| s == Src::Buf(b, o + i * m * k)) && v.len() > 1
        }
        _ => false,
    };
    let cost = |p: &[Src], q: &[Src]| {
        let (pl, ql) = (p.len(), q.len());
        let copy_a = if pl > 1 && !contig(p) { pl * m * k } else { 0 };
        let copy_b = if ql > 1 { k * ql * n } else { 0 };
        // Straight into the output (see `MatmulBlock::direct`), or through a scratch product.
        let direct = ql == 1 && (pl == 1 || tall_direct) && {
            let uses: Vec<&Vec<(usize, f64)>> =
                p.iter().filter_map(|&a| pairs.iter().find(|x| x.0 == (a, q[0])).map(|x| &x.1)).collect();
            uses.len() == pl
                && uses
                    .iter()
                    .enumerate()
                    .all(|(i, u)| u.len() == 1 && u[0].0 == uses[0][0].0 + i && u[0].1 == uses[0][0].1)
        };
        let scatter = if direct { 0 } else { pl * ql * m * n };
        2 * (copy_a + copy_b) + pl * m * k + k * ql * n + scatter + 4096
    };
    // One group (P, Q), whole or split along the side it was grouped by.
    let choose = |p: Vec<Src>, q: Vec<Src>, split_q: bool| -> (usize, Vec<LaneSets>) {
        let p = sorted(p);
        let whole = cost(&p, &q);
        let parts: Vec<LaneSets> = if split_q {
            q.iter().map(|&x| (p.clone(), vec![x])).collect()
        } else {
            p.iter().map(|&x| (vec![x], q.clone())).collect()
        };
        let split: usize = parts.iter().map(|(p, q)| cost(p, q)).sum();
        if parts.len() > 1 && split < whole {
            (split, parts)
        } else {
            (whole, vec![(p, q)])
        }
    };
    let mut by_right: Vec<LaneSets> = Vec::new();
    for &q in &qs {
        let set: Vec<Src> = ps.iter().copied().filter(|&p| need(p, q)).collect();
        match by_right.iter_mut().find(|g| g.0 == set) {
            Some(g) => g.1.push(q),
            None => by_right.push((set, vec![q])),
        }
    }
    let mut by_left: Vec<LaneSets> = Vec::new();
    for &p in &ps {
        let set: Vec<Src> = qs.iter().copied().filter(|&q| need(p, q)).collect();
        match by_left.iter_mut().find(|g| g.1 == set) {
            Some(g) => g.0.push(p),
            None => by_left.push((vec![p], set)),
        }
    }
    let cover = |groups: Vec<LaneSets>, split_q: bool| {
        groups.into_iter().map(|(p, q)| choose(p, q, split_q)).fold(
            (0, Vec::new()),
            |(c, mut v), (c1, v1)| {
                v.extend(v1);
                (c + c1, v)
            },
        )
    };
    let (cr, r) = cover(by_right, true);
    let (cl, l) = cover(by_left, false);
    let chosen = if cr <= cl { r } else { l };
    chosen
        .into_iter()
        .map(|(ps, qs)| {
            let mut uses = Vec::new();
            for (i, &p) in ps.iter().enumerate() {
                for (j, &q) in qs.iter().enumerate() {
                    let x = pairs.iter().find(|x| x.0 == (p, q)).expect("covered");
                    uses.extend(x.1.iter().map(|&(lane, c)| (i, j, lane, c)));
                }
            }
            let a_contig = contig(&ps);
            let direct = (qs.len() == 1 && uses.len() == ps.len() && (ps.len() == 1 || tall_direct))
                .then(|| (uses[0].2, uses[0].3))
                .filter(|&(o, c)| uses.iter().enumerate().all(|(i, u)| u.0 == i && u.2 == o + i && u.3 == c));
            MatmulBlock { ps, a_contig, qs, uses, direct }
        })
        .collect()
}

/// `c = alpha · a · b + beta · c` for row-major `a` (`rows × k`), `b` (`k × cols`), `c`
/// (`rows × cols`); `beta = 0` ignores `c`'s old contents. Large products are split into row
/// (or, for short wide ones, column) ranges run on the rayon pool.
#[allow(clippy::too_many_arguments)]
fn gemm_par<T: JitFloat>(
    rows: usize,
    k: usize,
    cols: usize,
    alpha: T,
    a: &[T],
    b: &[T],
    beta: T,
    c: &mut [T],
) -> JitResult<()> {
    if a.len() < rows * k || b.len() < k * cols || c.len() < rows * cols {
        return Err(JitError::Shape("internal: a matmul operand is too short".into()));
    }
    let c = &mut c[..rows * cols];
    if rows == 0 || cols == 0 {
        return Ok(());
    }
    if k == 0 {
        c.iter_mut().for_each(|v| *v = if beta == T::cst(0.0) { T::cst(0.0) } else { beta * *v });
        return Ok(());
    }
    let threads = rayon::current_num_threads().max(1);
    let big = rows * k * cols >= PAR_MIN_MACS && threads > 1;
    // SAFETY (all calls below): `a` holds `rows·k`, `b` `k·cols` and `c` `rows·cols` elements
    // (checked above); each call reads and writes only its own rows/columns inside them.
    let call = |r: usize, r0: usize, c0: usize, w: usize, out: *mut T| unsafe {
        T::gemm(
            (r, k, w),
            alpha,
            (a.as_ptr().add(r0 * k), k as isize, 1),
            (b.as_ptr().add(c0), cols as isize, 1),
            beta,
            (out, cols as isize, 1),
        )
    };
    if big && rows >= 16 {
        let chunk = rows.div_ceil(threads.min(rows / 8)).next_multiple_of(8);
        c.par_chunks_mut(chunk * cols).enumerate().for_each(|(i, cc)| {
            call(cc.len() / cols, i * chunk, 0, cols, cc.as_mut_ptr());
        });
    } else if big && cols >= 64 {
        let chunk = cols.div_ceil(threads).next_multiple_of(8);
        let base = SendPtr(c.as_mut_ptr());
        (0..cols.div_ceil(chunk)).into_par_iter().for_each(|i| {
            let (c0, base) = (i * chunk, base);
            // SAFETY: `c0 < cols`, inside `c`; the ranges of different `i` are disjoint.
            call(rows, 0, c0, chunk.min(cols - c0), unsafe { base.0.add(c0) });
        });
    } else {
        call(rows, 0, 0, cols, c.as_mut_ptr());
    }
    Ok(())
}

/// One matmul step: every output lane `Σ coef · a lane · b lane`, from its [`MatmulBlock`]s.
///
/// Blocks that are not direct are dgemms into scratch products, run in parallel (a stacked
/// left operand is read in place when contiguous, else copied; right lanes are copied side by
/// side). Then the direct blocks write straight into the output buffer, one after another
/// (each split over threads when large), and finally every output lane (in parallel) adds
/// its scratch products.
pub(super) fn matmul_step<T: JitFloat>(
    (m, k, n): (usize, usize, usize),
    (out, count): (usize, usize),
    blocks: &[MatmulBlock],
    bufs: &mut Vec<Vec<T>>,
    resolve: &Resolve<'_, T>,
) -> JitResult<()> {
    // Scratch for copies and products, kept per thread (`JitFloat::take_scratch`). It is
    // taken out (not borrowed) while in use, since a rayon worker may run another step
    // meanwhile; every element is written before it is read (copies, then dgemm with β = 0),
    // so it is never cleared.
    // The output buffer is taken out first (it is never an operand of its own step), so every
    // operand is read from `bufs` while it is written.
    let mut o = match bufs.get_mut(out) {
        Some(o) if o.len() >= count * lane_stride(m * n) => core::mem::take(o),
        _ => return Err(JitError::Shape("internal: a matmul output is too short".into())),
    };
    let mut scratch = T::take_scratch();
    let r = matmul_blocks_run(
        (m, k, n),
        blocks,
        bufs,
        resolve,
        &mut scratch,
        (&mut o[..count * lane_stride(m * n)], count),
    );
    T::set_scratch(scratch);
    bufs[out] = o;
    r
}

/// A direct dgemm of [`matmul_blocks_run`]: first output lane, left lanes, coefficient, left,
/// right.
type DirectJob<'a, T> = (usize, usize, f64, &'a [T], &'a [T]);

/// A dgemm of [`matmul_blocks_run`]: rows, columns, left, right, product (`None`: direct).
type BlockJob<'a, T> = (usize, usize, &'a [T], &'a [T], Option<&'a mut [T]>);

/// [`matmul_step`] with its scratch and its output lanes (`m·n` each) taken out of `bufs`.
fn matmul_blocks_run<T: JitFloat>(
    (m, k, n): (usize, usize, usize),
    blocks: &[MatmulBlock],
    bufs: &Vec<Vec<T>>,
    resolve: &Resolve<'_, T>,
    scratch: &mut Vec<T>,
    (out, count): (&mut [T], usize),
) -> JitResult<()> {
    // Per block: (copied a, copied b, product) lengths.
    let sizes: Vec<(usize, usize, usize)> = blocks
        .iter()
        .map(|bl| {
            let (pl, ql) = (bl.ps.len(), bl.qs.len());
            let a = if pl > 1 && !bl.a_contig { pl * m * k } else { 0 };
            let b = if ql > 1 { k * ql * n } else { 0 };
            (a, b, if bl.direct.is_some() { 0 } else { pl * m * ql * n })
        })
        .collect();
    let total: usize = sizes.iter().map(|s| s.0 + s.1 + s.2).sum();
    if scratch.len() < total {
        scratch.resize(total, T::cst(0.0));
    }
    let mut jobs: Vec<BlockJob<'_, T>> = Vec::with_capacity(blocks.len());
    let mut rest: &mut [T] = &mut scratch[..total];
    for (bl, &(la, lb, lt)) in blocks.iter().zip(&sizes) {
        let (pl, ql) = (bl.ps.len(), bl.qs.len());
        let (ca, r) = core::mem::take(&mut rest).split_at_mut(la);
        let (cb, r) = r.split_at_mut(lb);
        let (t, r) = r.split_at_mut(lt);
        rest = r;
        let a: &[T] = if la == 0 {
            lane(bufs, resolve, bl.ps[0], pl * m * k)?
        } else {
            for (i, &p) in bl.ps.iter().enumerate() {
                ca[i * m * k..(i + 1) * m * k].copy_from_slice(lane(bufs, resolve, p, m * k)?);
            }
            ca
        };
        let w = ql * n;
        let b: &[T] = if lb == 0 {
            lane(bufs, resolve, bl.qs[0], k * n)?
        } else {
            for (j, &q) in bl.qs.iter().enumerate() {
                let src = lane(bufs, resolve, q, k * n)?;
                for r in 0..k {
                    cb[r * w + j * n..r * w + (j + 1) * n].copy_from_slice(&src[r * n..(r + 1) * n]);
                }
            }
            cb
        };
        jobs.push((pl * m, w, a, b, bl.direct.is_none().then_some(t)));
    }
    let run = |j: &mut BlockJob<'_, T>| match j {
        (rows, w, a, b, Some(t)) => gemm_par(*rows, k, *w, T::cst(1.0), a, b, T::cst(0.0), t),
        _ => Ok(()),
    };
    let work: usize = jobs.iter().filter(|j| j.4.is_some()).map(|j| j.0 * k * j.1).sum();
    if work >= PAR_MIN_MACS && jobs.iter().filter(|j| j.4.is_some()).count() > 1 {
        jobs.par_iter_mut().map(run).collect::<JitResult<()>>()?;
    } else {
        jobs.iter_mut().try_for_each(run)?;
    }
    let mut written = vec![false; count];
    let ls = lane_stride(m * n);
    // The direct blocks, in block order: first output lane, lanes, coefficient, operands.
    let mut direct: Vec<DirectJob<'_, T>> = blocks
        .iter()
        .zip(&jobs)
        .filter_map(|(bl, j)| bl.direct.map(|(o, c)| (o, bl.ps.len(), c, j.2, j.3)))
        .collect();
    let mut spans_at: Vec<(usize, usize)> = direct.iter().map(|d| (d.0, d.1)).collect();
    spans_at.sort_unstable();
    let disjoint = spans_at.windows(2).all(|w| w[0].0 + w[0].1 <= w[1].0)
        && spans_at.last().is_none_or(|d| d.0 + d.1 <= count);
    let direct_work: usize = direct.iter().map(|d| d.1 * m * k * n).sum();
    if disjoint && direct.len() > 1 && direct_work >= PAR_MIN_MACS {
        // Pairwise disjoint lanes, each written once (β = 0): in parallel.
        direct.sort_by_key(|d| d.0);
        let mut rest: &mut [T] = out;
        let mut at = 0;
        let mut spans = Vec::with_capacity(direct.len());
        for &(o, pl, c, a, b) in &direct {
            let (_, r) = core::mem::take(&mut rest).split_at_mut((o - at) * ls);
            let (span, r) = r.split_at_mut(((pl - 1) * ls + m * n).min(r.len()));
            spans.push((pl, c, a, b, span));
            written[o..o + pl].fill(true);
            (rest, at) = (r, o + pl);
            // the span ends inside lane `o + pl - 1`; skip the rest of that lane's stride
            let skip = (ls - m * n).min(rest.len());
            rest = &mut core::mem::take(&mut rest)[skip..];
        }
        spans
            .into_par_iter()
            .map(|(pl, c, a, b, span)| gemm_par(pl * m, k, n, T::cst(c), a, b, T::cst(0.0), span))
            .collect::<JitResult<()>>()?;
    } else {
        // One after another: β = 0 on lanes not yet written (zeroed first if the block also
        // covers written ones).
        for &(o, pl, c, a, b) in &direct {
            let ws = written
                .get_mut(o..o + pl)
                .ok_or_else(|| JitError::Shape("internal: a matmul lane".into()))?;
            let dst = &mut out[o * ls..(o + pl - 1) * ls + m * n];
            let beta = if ws.iter().all(|w| !w) {
                T::cst(0.0)
            } else {
                for (w, d) in ws.iter().zip(dst.chunks_mut(ls.max(1))) {
                    if !w {
                        d.fill(T::cst(0.0));
                    }
                }
                T::cst(1.0)
            };
            ws.fill(true);
            gemm_par(pl * m, k, n, T::cst(c), a, b, beta, dst)?;
        }
    }
    // Per output lane: its scratch products `(block, i, j, coef)`.
    let mut added: Vec<Vec<Added>> = vec![Vec::new(); count];
    for (bi, bl) in blocks.iter().enumerate().filter(|b| b.1.direct.is_none()) {
        for &(i, j, o, c) in &bl.uses {
            added
                .get_mut(o)
                .ok_or_else(|| JitError::Shape("internal: a matmul lane".into()))?
                .push((bi, i, j, c));
        }
    }
    let products: Vec<&[T]> = jobs.into_iter().map(|j| j.4.map_or(&[][..], |t| &*t)).collect();
    let fill = |((out, added), &done): ((&mut [T], &Vec<Added>), &bool)| {
        let mut first = !done;
        for &(bi, i, j, c) in added {
            let w = blocks[bi].qs.len() * n;
            let t = products[bi];
            if t.len() < blocks[bi].ps.len() * m * w {
                return Err(JitError::Shape("internal: a matmul product is too short".into()));
            }
            // Row `r` of the product is `n` elements at `(i·m + r)·w + j·n`; with one right
            // lane (`w == n`) the whole product is one contiguous run.
            let (rows, len, step) = if w == n { (1, m * n, m * n) } else { (m, n, w) };
            let src = t[(i * m) * w + j * n..].chunks(step.max(1)).take(rows);
            let c1 = c == 1.0;
            let c = T::cst(c);
            for (o, tr) in out[..m * n].chunks_exact_mut(len.max(1)).zip(src) {
                let tr = &tr[..len];
                match (first, c1) {
                    (true, true) => o.copy_from_slice(tr),
                    (true, false) => o.iter_mut().zip(tr).for_each(|(o, &v)| *o = c * v),
                    (false, true) => o.iter_mut().zip(tr).for_each(|(o, &v)| *o += v),
                    (false, false) => o.iter_mut().zip(tr).for_each(|(o, &v)| *o += c * v),
                }
            }
            first = false;
        }
        if first {
            out.fill(T::cst(0.0));
        }
        Ok(())
    };
    let mut lanes: Vec<&mut [T]> = out.chunks_mut(lane_stride(m * n).max(1)).collect();
    lanes.resize_with(count, Default::default);
    let per_lane = lanes.into_iter().zip(&added).zip(&written);
    let adds: usize = added.iter().map(Vec::len).sum();
    if count > 1 && adds * m * n >= PAR_MIN_ADDS {
        per_lane.collect::<Vec<_>>().into_par_iter().map(fill).collect::<JitResult<()>>()
    } else {
        { per_lane }.try_for_each(fill)
    }
}
