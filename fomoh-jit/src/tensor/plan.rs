//! Compilation of a tensor graph in one mode into a [`Plan`]: every maximal chain of
//! elementwise ops (with a trailing reduction) becomes one fused loop ([`super::emit`]),
//! matmul lanes become dgemm blocks ([`super::gemm`]), copies and windowed maxima become
//! copy steps; large loops are split into chunks for the rayon pool. Plans are shared
//! through the process-wide code cache ([`cached`]).

use super::emit::{emit_loop, vector_width, Reduce};
use super::exec::{Chunk, GatherMap, LoopFn, Step};
use super::fuse::{self, LoopStrategy};
use super::gemm::{matmul_blocks, MatmulPair};
use super::graph::{args, as2, is_elementwise, numel, same_nodes, strides, TNode, TOp};
use super::lanes::{lane_stride, Src};
use crate::cache::Cache;
use crate::codegen::CodegenOptions;
use crate::error::{JitError, JitResult};
use crate::float::FloatType;
use crate::ir::{Graph, NodeId, Op};
use crate::lower::{CodeModule, OwnedCode};
use crate::stage::{stage_lanes, Guards, Mode};
use cranelift_module::FuncId;
use fomoh_runtime::BinaryOp;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

/// A loop awaiting finalization: step index, function, inputs, output buffers.
type PendingLoop = (usize, FuncId, Vec<(Src, usize)>, Vec<(usize, usize)>, usize, Vec<Chunk>, bool);

/// The compiled code of one mode, for one float type.
pub(super) struct Plan {
    /// The float type of the code.
    pub(super) float: FloatType,
    /// The steps, in order.
    pub(super) steps: Vec<Step>,
    /// The length of each scratch buffer.
    pub(super) buf_sizes: Vec<usize>,
    /// The output's lanes (`None`: zero).
    pub(super) out: Vec<Option<Src>>,
    /// What compiling it produced and cost.
    pub(super) stats: TensorStats,
    /// Whether a step makes parallel calls (then a pass enters the rayon pool once, see
    /// [`fomoh_runtime::tensor::on_pool`]).
    pub(super) parallel: bool,
    _code: Option<OwnedCode>,
}

// SAFETY: the function pointers point to immutable code owned by `_code`; the steps only
// read/write buffers passed at run time, whose sizes `exec::run_steps` checks.
unsafe impl Send for Plan {}
unsafe impl Sync for Plan {}

/// What compiling one mode of a tensor graph produced and cost.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct TensorStats {
    /// Fused loops generated.
    pub loops: usize,
    /// Matmul steps.
    pub matmuls: usize,
    /// Staged scalar nodes over all loop bodies.
    pub staged_nodes: usize,
    /// Loops whose body was preaccumulated (see [`LoopStrategy`]).
    pub preaccumulated_loops: usize,
    /// Loops large enough to be split over the rayon pool (see [`PAR_MIN_LOOP_WORK`]).
    pub parallel_loops: usize,
    /// Total compile time (analysis, staging, Cranelift).
    pub compile_time: Duration,
    /// The row tiles a pass runs (1: the whole batch at once; see
    /// [`RowTiling`](super::RowTiling)).
    pub row_tiles: usize,
}

/// Work (elements times the staged cost per element: computed nodes, extern calls weighing
/// 8) below which a fused loop runs on the calling thread alone.
pub const PAR_MIN_LOOP_WORK: usize = 1 << 18;

/// The work of one chunk of a parallel fused loop.
const LOOP_CHUNK_WORK: usize = 1 << 17;

/// The most chunks a fused loop is split into.
pub(super) const MAX_LOOP_CHUNKS: usize = 64;

/// Splits a fused loop's iteration space `rows × cols` into chunks for the rayon pool: one
/// chunk below [`PAR_MIN_LOOP_WORK`], else about one per [`LOOP_CHUNK_WORK`] (at most
/// [`MAX_LOOP_CHUNKS`]), over rows first and then column ranges starting at multiples of the
/// vector width `w` (row reductions keep each row whole). The split depends only on the loop
/// and the float type, never on the thread count, so a summing loop adds its partial sums in
/// the same order on every machine.
pub(super) fn loop_chunks((rows, cols): (usize, usize), reduce: Reduce, cost: usize, w: usize) -> Vec<Chunk> {
    let whole = vec![(0, rows, 0, cols)];
    let work = rows.saturating_mul(cols).saturating_mul(cost.max(1));
    if work < PAR_MIN_LOOP_WORK {
        return whole;
    }
    let n = (work / LOOP_CHUNK_WORK).clamp(2, MAX_LOOP_CHUNKS);
    let nr = n.min(rows);
    let nc = if matches!(reduce, Reduce::Rows | Reduce::MaxRows) { 1 } else { (n / nr).min(cols / w).max(1) };
    if nr * nc < 2 {
        return whole;
    }
    let mut v = Vec::with_capacity(nr * nc);
    for i in 0..nr {
        let (ra, rb) = (rows * i / nr, rows * (i + 1) / nr);
        for j in 0..nc {
            let ca = (cols * j / nc) / w * w;
            let cb = if j + 1 == nc { cols } else { (cols * (j + 1) / nc) / w * w };
            if ra < rb && ca < cb {
                v.push((ra, rb, ca, cb));
            }
        }
    }
    v
}

/// The state of one compilation: where each materialized node's lanes live, the steps and
/// buffers so far, and the module the loops are generated in.
struct Compiler<'a> {
    nodes: &'a [TNode],
    float: FloatType,
    mode: Mode,
    strategy: LoopStrategy,
    lanes: usize,
    loc: HashMap<u32, Vec<Option<Src>>>,
    inline: Vec<bool>,
    buf_sizes: Vec<usize>,
    steps: Vec<Step>,
    pending: Vec<PendingLoop>,
    module: CodeModule,
    stats: TensorStats,
}

impl Compiler<'_> {
    fn new_buf(&mut self, len: usize) -> usize {
        self.buf_sizes.push(len);
        self.buf_sizes.len() - 1
    }

    /// Lanes of a materialized node (compiling producers on the way).
    fn value(&mut self, i: u32) -> JitResult<Vec<Option<Src>>> {
        if let Some(l) = self.loc.get(&i) {
            return Ok(l.clone());
        }
        let node = &self.nodes[i as usize];
        let lanes = self.lanes;
        let r = match node.op {
            TOp::Param(o) => {
                let m = self.mode.input_vectors();
                (0..lanes).map(|l| (l < m).then_some(Src::X(l, o))).collect()
            }
            // A bound input is read like data: from the slice bound to its slot at run time.
            TOp::Data(_) | TOp::Input(_) => (0..lanes).map(|l| (l == 0).then_some(Src::Data(i, 0))).collect(),
            TOp::Reshape(a) => self.value(a)?,
            TOp::Slice(a, start) => {
                let stride = numel(&self.nodes[a as usize].shape[1..]);
                self.value(a)?.into_iter().map(|s| s.map(|s| s.shifted(start * stride))).collect()
            }
            TOp::Matmul(a, b) => self.matmul(i, a, b)?,
            TOp::Gather(ref parts, ref idx) => {
                let (parts, idx) = (parts.clone(), idx.clone());
                self.gather_step(parts, idx, numel(&node.shape))?
            }
            TOp::MaxSelect(a, ref win) => {
                let win = win.clone();
                self.max_step(a, win, numel(&node.shape))?
            }
            _ => self.fused(i)?,
        };
        self.loc.insert(i, r.clone());
        Ok(r)
    }

    fn matmul(&mut self, i: u32, a: u32, b: u32) -> JitResult<Vec<Option<Src>>> {
        let (la, lb) = (self.value(a)?, self.value(b)?);
        let (sa, sb) = (&self.nodes[a as usize].shape, &self.nodes[b as usize].shape);
        let (m, k, n) = (sa[0], sa[1], sb[1]);
        let l = self.lanes;
        // The lanes of a·b, staged from the runtime's product rule.
        let g = Graph {
            nodes: vec![Op::Input(0), Op::Input(1), Op::Binary(BinaryOp::Mul, 0, 1)],
            outputs: vec![2],
            n_inputs: 2,
            ..Graph::default()
        };
        let seed = |x: usize, lane: usize| {
            let lanes = if x == 0 { &la } else { &lb };
            lanes[lane].map(|_| (x * l + lane) as u32)
        };
        let sg = stage_lanes(&g, self.mode, 2 * l, 1 << 20, &seed)?;
        let polys = bilinear(&sg)?;
        let mut lane_terms: Vec<Vec<(f64, Src, Src)>> = Vec::with_capacity(l);
        for &o in &sg.outputs {
            let terms: Vec<(f64, Src, Src)> = polys[o as usize]
                .iter()
                .filter(|(_, &c)| c != 0.0)
                .map(|(&(p, q), &c)| {
                    let (p, q) = (p as usize, q as usize);
                    if p < l && (l..2 * l).contains(&q) {
                        Ok((c, la[p].expect("seeded"), lb[q - l].expect("seeded")))
                    } else {
                        Err(JitError::Unsupported("a matmul lane that is not bilinear".into()))
                    }
                })
                .collect::<JitResult<_>>()?;
            lane_terms.push(terms);
        }
        // The nonzero lanes one after another in one buffer (in lane order), so a block of
        // products that fills consecutive lanes is one dgemm straight into it.
        let count = lane_terms.iter().filter(|t| !t.is_empty()).count();
        self.stats.matmuls += 1;
        if count == 0 {
            return Ok(vec![None; l]);
        }
        let buf = self.new_buf(count * lane_stride(m * n));
        let mut out = Vec::with_capacity(l);
        // Every product `a lane · b lane` the lanes need, with where it goes and its coefficient.
        let mut pairs: Vec<MatmulPair> = Vec::new();
        let mut q = 0;
        for terms in lane_terms {
            if terms.is_empty() {
                out.push(None);
                continue;
            }
            out.push(Some(Src::Buf(buf, q * lane_stride(m * n))));
            for (c, sa, sb) in terms {
                match pairs.iter_mut().find(|x| x.0 == (sa, sb)) {
                    Some(x) => x.1.push((q, c)),
                    None => pairs.push(((sa, sb), vec![(q, c)])),
                }
            }
            q += 1;
        }
        let blocks = matmul_blocks((m, k, n), &pairs);
        let _ = i;
        self.steps.push(Step::Matmul { m, k, n, out: buf, count, blocks });
        Ok(out)
    }

    /// A copy step over every lane of the parts (lanes zero in every part stay zero).
    fn gather_step(
        &mut self,
        parts: Vec<u32>,
        idx: Arc<Vec<usize>>,
        len: usize,
    ) -> JitResult<Vec<Option<Src>>> {
        let srcs: Vec<Vec<Option<Src>>> = parts.iter().map(|&p| self.value(p)).collect::<JitResult<_>>()?;
        let need: Vec<usize> = parts.iter().map(|&p| numel(&self.nodes[p as usize].shape)).collect();
        let map = if parts.len() == 1 {
            GatherMap { part: None, local: idx }
        } else {
            let starts: Vec<usize> =
                need.iter().scan(0, |acc, &n| Some(core::mem::replace(acc, *acc + n))).collect();
            let (mut part, mut local) = (Vec::with_capacity(len), Vec::with_capacity(len));
            for &j in idx.iter() {
                let p = starts.partition_point(|&s| s <= j) - 1;
                part.push(p as u32);
                local.push(j - starts[p]);
            }
            GatherMap { part: Some(part), local: Arc::new(local) }
        };
        let mut out = vec![None; self.lanes];
        let mut lanes = Vec::new();
        for (lane, o) in out.iter_mut().enumerate() {
            let ls: Vec<Option<Src>> = srcs.iter().map(|s| s[lane]).collect();
            if ls.iter().any(Option::is_some) {
                let buf = self.new_buf(len);
                *o = Some(Src::Buf(buf, 0));
                lanes.push((ls, buf));
            }
        }
        if !lanes.is_empty() {
            self.steps.push(Step::Gather { map: Arc::new(map), need, lanes });
        }
        Ok(out)
    }

    /// A windowed-maximum step: argmax from the primal lane, every lane copied at it.
    fn max_step(&mut self, a: u32, windows: Arc<Vec<usize>>, len: usize) -> JitResult<Vec<Option<Src>>> {
        let src = self.value(a)?;
        let need = numel(&self.nodes[a as usize].shape);
        let width = windows.len() / len.max(1);
        let mut out = vec![None; self.lanes];
        let mut lanes = Vec::new();
        for (o, s) in out.iter_mut().zip(&src) {
            if let Some(s) = *s {
                let buf = self.new_buf(len);
                *o = Some(Src::Buf(buf, 0));
                lanes.push((s, buf));
            }
        }
        if !lanes.is_empty() {
            self.steps.push(Step::MaxSelect { windows, width, need, primal: src[0], lanes });
        }
        Ok(out)
    }

    /// Builds, stages and compiles the fused loop rooted at `root`.
    fn fused(&mut self, root: u32) -> JitResult<Vec<Option<Src>>> {
        let (reduce, body_root, iter) = match self.nodes[root as usize].op {
            TOp::Sum(a) => (Reduce::All, a, as2(&self.nodes[a as usize].shape)),
            TOp::SumRows(a) => (Reduce::Rows, a, as2(&self.nodes[a as usize].shape)),
            TOp::MaxRowsPassive(a) => (Reduce::MaxRows, a, as2(&self.nodes[a as usize].shape)),
            _ => (Reduce::None, root, as2(&self.nodes[root as usize].shape)),
        };
        // The scalar body graph: inlined nodes become scalar ops, the rest leaves.
        let mut g = Graph::default();
        let mut leaves: Vec<u32> = Vec::new();
        let mut memo: HashMap<u32, NodeId> = HashMap::new();
        let top = self.body(body_root, true, &mut g, &mut leaves, &mut memo)?;
        g.outputs = vec![top];
        g.n_inputs = leaves.len();
        let leaf_lanes: Vec<Vec<Option<Src>>> =
            leaves.iter().map(|&lf| self.value(lf)).collect::<JitResult<_>>()?;
        let l = self.lanes;
        let mode = if reduce == Reduce::MaxRows { Mode::Primal } else { self.mode };
        let ml = mode.outputs();
        let present = |k: usize, lane: usize| leaf_lanes[k][lane].is_some();
        let (sg, pre) = fuse::choose(&g, mode, self.strategy, 1 << 22, &present)?;
        let sg = fuse::fold_signs(&sg);
        self.stats.staged_nodes += sg.nodes.len();
        self.stats.preaccumulated_loops += usize::from(pre);
        // Inputs actually read, with their strides. Lanes of the same array read with the
        // same strides share one pointer (a constant displacement per lane: Rosenbrock's
        // `x[1..]` and `x[..n-1]`), which spares registers in the loop.
        let mut ins: Vec<(Src, usize)> = Vec::new();
        let mut in_strides: Vec<(usize, usize)> = Vec::new();
        let mut in_index: HashMap<u32, (usize, usize)> = HashMap::new();
        let split = |s: Src| match s {
            Src::X(v, o) => (0u8, v, o),
            Src::Data(i, o) => (1, i as usize, o),
            Src::Buf(b, o) => (2, b, o),
        };
        let mut reads: Vec<(u32, Src, (usize, usize), usize)> = Vec::new();
        let mut base: HashMap<(u8, usize, (usize, usize)), usize> = HashMap::new();
        for op in &sg.nodes {
            if let Op::Input(j) = *op {
                let (k, lane) = (j as usize / ml, j as usize % ml);
                let st = strides(&self.nodes[leaves[k] as usize].shape, iter);
                let last = (iter.0 - 1) * st.0 + (iter.1 - 1) * st.1;
                let src = leaf_lanes[k][lane].expect("seeded");
                let (kind, id, o) = split(src);
                let lo = base.entry((kind, id, st)).or_insert(o);
                *lo = (*lo).min(o);
                reads.push((j, src, st, last));
            }
        }
        let at = |s: Src, o: usize| match s {
            Src::X(v, _) => Src::X(v, o),
            Src::Data(i, _) => Src::Data(i, o),
            Src::Buf(b, _) => Src::Buf(b, o),
        };
        let mut pointer: HashMap<(u8, usize, (usize, usize)), usize> = HashMap::new();
        for (j, src, st, last) in reads {
            let (kind, id, o) = split(src);
            let b0 = base[&(kind, id, st)];
            let (q, disp) = if 8 * (o - b0) <= i32::MAX as usize / 2 {
                let q = *pointer.entry((kind, id, st)).or_insert_with(|| {
                    ins.push((at(src, b0), 0));
                    in_strides.push(st);
                    ins.len() - 1
                });
                (q, o - b0)
            } else {
                // Too far for a load's immediate offset: a pointer of its own.
                ins.push((src, 0));
                in_strides.push(st);
                (ins.len() - 1, 0)
            };
            ins[q].1 = ins[q].1.max(disp + last);
            in_index.insert(j, (q, disp));
        }
        let out_len = match reduce {
            Reduce::None => iter.0 * iter.1,
            Reduce::All => 1,
            Reduce::Rows | Reduce::MaxRows => iter.0,
        };
        let mut out = vec![None; l];
        let mut stored: Vec<(usize, NodeId)> = (sg.outputs.iter().copied().enumerate())
            .filter(|&(_, o)| !matches!(sg.nodes[o as usize], Op::Const(c) if c == 0.0))
            .collect();
        let rank = fuse::update_rank(mode);
        stored.sort_by_key(|&(lane, _)| rank[lane]);
        if stored.is_empty() {
            return Ok(out);
        }
        // All stored lanes in one buffer, in update order (see `fuse::update_rank`).
        let stride = lane_stride(out_len);
        let buf = self.new_buf(stored.len() * stride);
        let mut bufs = Vec::with_capacity(stored.len());
        for (q, &(lane, _)) in stored.iter().enumerate() {
            out[lane] = Some(Src::Buf(buf, q * stride));
            bufs.push((buf, q * stride));
        }
        let fid =
            emit_loop(self.module.module(), self.float, &sg, iter, reduce, &in_index, &in_strides, &stored)?;
        self.stats.loops += 1;
        let chunks = loop_chunks(iter, reduce, fuse::cost(&sg), vector_width(self.float));
        self.stats.parallel_loops += usize::from(chunks.len() > 1);
        let idx = self.steps.len();
        self.steps.push(Step::Matmul { m: 0, k: 0, n: 0, out: 0, count: 0, blocks: vec![] }); // placeholder, patched after finalize
        self.pending.push((idx, fid, ins, bufs, out_len, chunks, reduce == Reduce::All));
        Ok(out)
    }

    fn body(
        &mut self,
        i: u32,
        is_root: bool,
        g: &mut Graph,
        leaves: &mut Vec<u32>,
        memo: &mut HashMap<u32, NodeId>,
    ) -> JitResult<NodeId> {
        if let Some(&id) = memo.get(&i) {
            return Ok(id);
        }
        let node = &self.nodes[i as usize];
        let inl = is_root && is_elementwise(&node.op)
            || self.inline[i as usize]
            || matches!(node.op, TOp::Const(_));
        let op = if !inl {
            leaves.push(i);
            Op::Input(leaves.len() as u32 - 1)
        } else {
            match node.op {
                TOp::Const(c) => Op::Const(c),
                TOp::Neg(a) => Op::Neg(self.body(a, false, g, leaves, memo)?),
                TOp::Unary(u, a) => Op::Unary(u, self.body(a, false, g, leaves, memo)?),
                TOp::Binary(bo, a, b) => {
                    let x = self.body(a, false, g, leaves, memo)?;
                    Op::Binary(bo, x, self.body(b, false, g, leaves, memo)?)
                }
                TOp::Select(cmp, [a, b, t, f]) => {
                    let a = self.body(a, false, g, leaves, memo)?;
                    let b = self.body(b, false, g, leaves, memo)?;
                    let t = self.body(t, false, g, leaves, memo)?;
                    Op::Select { cmp, a, b, t, f: self.body(f, false, g, leaves, memo)? }
                }
                _ => {
                    leaves.push(i);
                    Op::Input(leaves.len() as u32 - 1)
                }
            }
        };
        g.nodes.push(op);
        let id = g.nodes.len() as NodeId - 1;
        memo.insert(i, id);
        Ok(id)
    }
}

/// Bilinear forms of the staged nodes: monomial `(p, q)` (`u32::MAX`: absent) -> coefficient.
#[allow(clippy::type_complexity)]
fn bilinear(g: &Graph) -> JitResult<Vec<BTreeMap<(u32, u32), f64>>> {
    const NO: u32 = u32::MAX;
    let mut v: Vec<BTreeMap<(u32, u32), f64>> = Vec::with_capacity(g.nodes.len());
    let add = |m: &mut BTreeMap<(u32, u32), f64>, k, c: f64| *m.entry(k).or_insert(0.0) += c;
    for op in &g.nodes {
        let mut r = BTreeMap::new();
        match *op {
            Op::Input(j) => add(&mut r, (j, NO), 1.0),
            Op::Const(c) => add(&mut r, (NO, NO), c),
            Op::Neg(a) => {
                for (&k, &c) in &v[a as usize] {
                    add(&mut r, k, -c)
                }
            }
            Op::Binary(BinaryOp::Add | BinaryOp::Sub, a, b) => {
                let s = if matches!(op, Op::Binary(BinaryOp::Sub, ..)) { -1.0 } else { 1.0 };
                for (&k, &c) in &v[a as usize] {
                    add(&mut r, k, c)
                }
                for (&k, &c) in &v[b as usize] {
                    add(&mut r, k, s * c)
                }
            }
            Op::Binary(BinaryOp::Mul, a, b) => {
                for (&(p1, q1), &c1) in &v[a as usize] {
                    for (&(p2, q2), &c2) in &v[b as usize] {
                        let mut f: Vec<u32> = [p1, q1, p2, q2].into_iter().filter(|&x| x != NO).collect();
                        if f.len() > 2 {
                            return Err(JitError::Unsupported("a matmul lane of degree > 2".into()));
                        }
                        f.sort_unstable();
                        f.resize(2, NO);
                        add(&mut r, (f[0], f[1]), c1 * c2);
                    }
                }
            }
            _ => return Err(JitError::Unsupported("a non-polynomial matmul lane".into())),
        }
        v.push(r);
    }
    Ok(v)
}

/// Compiles the graph `nodes` with the output `output` in `mode` over `float`: fuses the
/// elementwise chains into loops, plans the matmul and copy steps and generates the code.
fn compile(
    nodes: &[TNode],
    output: u32,
    mode: Mode,
    float: FloatType,
    (codegen, strategy): (&CodegenOptions, LoopStrategy),
) -> JitResult<Plan> {
    let t0 = Instant::now();
    let mut users = vec![0usize; nodes.len()];
    for n in nodes {
        for a in args(&n.op) {
            users[a as usize] += 1;
        }
    }
    // Inline an elementwise node into its single elementwise/reduction consumer of the
    // same iteration shape.
    let mut inline = vec![false; nodes.len()];
    for (i, n) in nodes.iter().enumerate() {
        let ok = match n.op {
            TOp::Neg(a) | TOp::Unary(_, a) => vec![(a, as2(&n.shape))],
            TOp::Binary(_, a, b) => vec![(a, as2(&n.shape)), (b, as2(&n.shape))],
            TOp::Select(_, ops) => ops.iter().map(|&a| (a, as2(&n.shape))).collect(),
            TOp::Sum(a) | TOp::SumRows(a) | TOp::MaxRowsPassive(a) => {
                vec![(a, as2(&nodes[a as usize].shape))]
            }
            _ => vec![],
        };
        for (a, it) in ok {
            let an = &nodes[a as usize];
            if is_elementwise(&an.op) && users[a as usize] == 1 && a != output && as2(&an.shape) == it {
                inline[a as usize] = true;
            }
        }
        let _ = i;
    }
    let mut c = Compiler {
        nodes,
        float,
        mode,
        strategy,
        lanes: mode.outputs(),
        loc: HashMap::new(),
        inline,
        buf_sizes: Vec::new(),
        steps: Vec::new(),
        pending: Vec::new(),
        module: CodeModule::new(codegen)?,
        stats: TensorStats::default(),
    };
    let out = c.value(output)?;
    let ids: Vec<FuncId> = c.pending.iter().map(|p| p.1).collect();
    let (entries, code) = c.module.finish(&ids)?;
    for ((idx, _, inputs, outputs, out_len, chunks, partial), p) in c.pending.into_iter().zip(entries) {
        // SAFETY: `p` is a function compiled with the loop signature (two pointers and
        // four integers in, nothing out) in the platform's default calling convention.
        let f = unsafe { core::mem::transmute::<*const u8, LoopFn>(p) };
        c.steps[idx] = Step::Fused { f, inputs, outputs, out_len, chunks, partial };
    }
    let mut stats = c.stats;
    stats.compile_time = t0.elapsed();
    stats.row_tiles = 1;
    let parallel = c.steps.iter().any(Step::parallel);
    Ok(Plan { float, steps: c.steps, buf_sizes: c.buf_sizes, out, stats, parallel, _code: Some(code) })
}

/// What identifies a compiled plan in the code cache: the graph (its nodes, shared with the
/// program, its output and its parameter count), the mode, the float type and the code
/// generator's settings.
pub(super) struct PlanKey {
    /// The nodes (shared with the program).
    pub(super) nodes: Arc<Vec<TNode>>,
    /// The output node.
    pub(super) output: u32,
    /// The parameter count.
    pub(super) n_params: usize,
    /// The mode compiled.
    pub(super) mode: Mode,
    /// With or without the zero-tangent guards.
    pub(super) guards: Guards,
    /// The float type of the code.
    pub(super) float: FloatType,
    /// The code generator's options.
    pub(super) codegen: CodegenOptions,
    /// The loop-body strategy.
    pub(super) strategy: LoopStrategy,
}

impl PartialEq for PlanKey {
    /// The same graph (data and literals compared bit for bit, see [`same_nodes`]) in the same
    /// mode, float type and settings.
    fn eq(&self, k: &PlanKey) -> bool {
        self.mode == k.mode
            && self.guards == k.guards
            && self.float == k.float
            && self.codegen == k.codegen
            && self.strategy == k.strategy
            && self.output == k.output
            && self.n_params == k.n_params
            && (Arc::ptr_eq(&self.nodes, &k.nodes) || same_nodes(&self.nodes, &k.nodes))
    }
}

/// The process-wide cache of compiled plans.
static PLANS: LazyLock<Cache<PlanKey, Plan>> = LazyLock::new(Cache::new);

/// The compiled plan of `key`, whose graph has the structural hash `hash`
/// ([`structural_hash`](super::graph::structural_hash)): from the
/// process-wide code cache, or compiled now (and entered there). Counted in the same hits and
/// misses as the scalar kernels ([`crate::cache_stats`]).
pub(super) fn cached(key: PlanKey, hash: u64) -> JitResult<Arc<Plan>> {
    PLANS.get_or_compile(hash, key, |k| {
        k.guards.scope(|| compile(&k.nodes, k.output, k.mode, k.float, (&k.codegen, k.strategy)))
    })
}
