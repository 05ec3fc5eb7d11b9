//! Cranelift code generation for staged graphs.
//!
//! The staged graph is straight-line code over one float type (`f64`, or `f32`, see
//! [`crate::float`]): each segment of it becomes one native function
//! `fn(inputs: *const T, scratch: *mut T, out: *mut T) -> u32` that loads
//! inputs where they are used (inputs and literals are rematerialized at each use instead of
//! being kept live), computes every lane in registers in the order the rules produced them
//! (which consumes values soon after they are made), checks guards as soon as their operands
//! exist, and stores the outputs. Every operation is lowered by the one backend translator
//! (`lower.rs`): transcendentals call registered `extern "C"` wrappers of the
//! runtime's own functions of that type (`f64::sin` for `f64`, `f32::sin` for `f32`), so
//! compiled and interpreted results agree bit for bit; what is this generator's own is the
//! guards and the pairing of a `sin` and a `cos` of the same argument into one `sincos` call. Literals are the graph's `f64` literals, rounded once
//! to `f32` in `f32` code.
//!
//! Very large graphs are split into segments of bounded size (values crossing a segment
//! boundary go through a scratch buffer), so compile time stays roughly linear in the
//! number of nodes.

use crate::cache;
use crate::error::{cg_err, JitError, JitResult};
use crate::externs;
use crate::float::{FloatType, JitFloat};
use crate::ir::{FxMap, Graph, GuardInfo, NodeId, Op};
use crate::lower::{self, float_cc, CodeModule, Lowerer, OwnedCode};
use cranelift_codegen::entity::packed_option::ReservedValue;
use cranelift_codegen::ir::{
    types, AbiParam, InstBuilder, MemFlagsData, StackSlotData, StackSlotKind, UserFuncName, Value,
};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use cranelift_jit::JITModule;
use cranelift_module::{FuncId, Linkage, Module};
use fomoh_runtime::UnaryOp;
use std::time::Duration;

/// Settings of the code generator.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CodegenOptions {
    /// The largest number of computed nodes in one native function (default 256: Cranelift's
    /// compile time grows faster than linearly with the size of one function, and the
    /// staged graph is already folded and CSE'd, so short functions cost little at run time).
    pub segment_nodes: usize,
    /// Run Cranelift's optimizer (`opt_level = "speed"`). On by default: with short
    /// segments it costs ~25% more compile time and gains up to 1.6x at run time in the
    /// k-direction modes (benches/jit.rs prints both).
    pub optimize: bool,
}

impl Default for CodegenOptions {
    fn default() -> Self {
        CodegenOptions { segment_nodes: 256, optimize: true }
    }
}

/// What one compilation produced and what it cost.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CompileStats {
    /// Nodes of the traced graph.
    pub traced_nodes: usize,
    /// Nodes of the staged graph after folding, CSE and dead-code elimination.
    pub staged_nodes: usize,
    /// Native functions (segments) generated.
    pub functions: usize,
    /// Time spent staging derivatives.
    pub stage_time: Duration,
    /// Time spent in Cranelift (IR building, compiling, linking); for a rerolled program,
    /// the tensor program's whole compile time.
    pub codegen_time: Duration,
    /// Whether the program was rerolled into a tensor program (then `staged_nodes` counts
    /// the staged loop-body nodes and `functions` the fused loops).
    pub rerolled: bool,
    /// For a program that was not rerolled: why (rerolling off, a small trace, no sum of
    /// enough isomorphic terms, ...).
    pub not_rerolled: Option<&'static str>,
    /// Whether the rerolled program was instantiated at the requested size from traces at a
    /// few small sizes instead of a trace at that size (see [`crate::Options::instantiate`];
    /// then `traced_nodes` counts the nodes of the largest of those traces).
    pub instantiated: bool,
    /// For the first trace of a program made by [`crate::compile`] or
    /// [`crate::compile_with_inputs`] that was traced at the requested size: why it was not
    /// instantiated (instantiation off, a size below [`crate::Options::instantiate_min_size`],
    /// the small traces differ in structure, the value check failed, ...).
    pub not_instantiated: Option<&'static str>,
}

/// A segment: `(inputs, scratch, out)`, each a pointer to the kernel's float type.
type SegFn = unsafe extern "C" fn(*const u8, *mut u8, *mut u8) -> u32;

/// The number of compiled kernels (native code blocks) currently alive in this process.
pub fn live_kernels() -> usize {
    cache::live_code()
}

/// Native code for one staged graph.
pub(crate) struct Kernel {
    segments: Vec<SegFn>,
    pub n_in: usize,
    pub n_out: usize,
    n_scratch: usize,
    float: FloatType,
    guards: Vec<GuardInfo>,
    // Declared last: dropped after the function pointers.
    _code: OwnedCode,
    pub stats: CompileStats,
}

// SAFETY: the function pointers point to immutable code that stays mapped until `Drop`;
// calling them reads/writes only the buffers passed in, which `run` checks.
unsafe impl Send for Kernel {}
unsafe impl Sync for Kernel {}

impl Kernel {
    /// Runs the kernel. The float type, `inputs` and `out` are checked against the kernel's
    /// before any native code runs.
    pub fn run<T: JitFloat>(&self, inputs: &[T], out: &mut [T]) -> JitResult<()> {
        if T::TYPE != self.float {
            return Err(JitError::Unsupported(format!(
                "a kernel compiled for {} run with {} buffers",
                self.float.name(),
                T::TYPE.name()
            )));
        }
        crate::error::check_len("input buffer", self.n_in, inputs.len())?;
        crate::error::check_len("output buffer", self.n_out, out.len())?;
        // A per-thread scratch buffer, reused across calls (a fresh one if it is in use).
        thread_local! {
            static SCRATCH: core::cell::RefCell<Vec<f64>> = const { core::cell::RefCell::new(Vec::new()) };
        }
        SCRATCH.with(|cell| match cell.try_borrow_mut() {
            Ok(mut buf) => self.run_with(inputs, &mut buf, out),
            Err(_) => self.run_with(inputs, &mut Vec::new(), out),
        })
    }

    fn run_with<T: JitFloat>(&self, inputs: &[T], scratch: &mut Vec<f64>, out: &mut [T]) -> JitResult<()> {
        // `n_scratch` slots of at most 8 bytes each, in an 8-aligned buffer.
        if scratch.len() < self.n_scratch {
            scratch.resize(self.n_scratch, 0.0);
        }
        let (pin, pscr, pout) =
            (inputs.as_ptr() as *const u8, scratch.as_mut_ptr() as *mut u8, out.as_mut_ptr() as *mut u8);
        for f in &self.segments {
            // SAFETY: the code was generated for `T` (checked above): it reads `n_in` values
            // of `T`, at most `n_scratch` scratch slots of `T` and writes `n_out` values of
            // `T` (offsets fixed at compile time); the lengths were checked above.
            let st = unsafe { f(pin, pscr, pout) };
            if st != 0 {
                let site = st - 1;
                let what = self
                    .guards
                    .get(site as usize)
                    .map_or_else(|| format!("guard #{site}"), |g| g.describe(site));
                return Err(JitError::GuardFailed(what));
            }
        }
        Ok(())
    }
}

/// The byte offset of slot `k` of `bytes`-byte values.
fn offset_of(k: usize, bytes: usize) -> JitResult<i32> {
    k.checked_mul(bytes)
        .and_then(|b| i32::try_from(b).ok())
        .ok_or(JitError::GraphTooLarge { stage: "staged", limit: i32::MAX as usize / bytes })
}

fn computed(op: &Op) -> bool {
    !matches!(op, Op::Input(_) | Op::Const(_))
}

/// Compiles a staged graph to native code over `float`.
pub(crate) fn compile(g: &Graph, opts: &CodegenOptions, float: FloatType) -> JitResult<Kernel> {
    let mut module = CodeModule::new(opts)?;
    let (seg_ids, n_scratch) = emit(module.module(), g, opts, float)?;
    let (entries, code) = module.finish(&seg_ids)?;
    let segments = entries
        .into_iter()
        .map(|p| {
            // SAFETY: `p` is the entry of a function compiled with `seg_sig` (three pointers
            // in, an i32 out) in the platform's default calling convention.
            unsafe { core::mem::transmute::<*const u8, SegFn>(p) }
        })
        .collect();
    Ok(Kernel {
        segments,
        n_in: g.n_inputs,
        n_out: g.outputs.len(),
        n_scratch,
        float,
        guards: g.guards.clone(),
        _code: code,
        stats: CompileStats {
            staged_nodes: g.nodes.len(),
            functions: seg_ids.len(),
            ..CompileStats::default()
        },
    })
}

/// Builds, compiles and links every segment of `g` over `float` into `module`; returns the
/// segment functions and the number of scratch slots.
fn emit(
    module: &mut JITModule,
    g: &Graph,
    opts: &CodegenOptions,
    float: FloatType,
) -> JitResult<(Vec<FuncId>, usize)> {
    let n = g.nodes.len();
    let tcfg = module.target_config();
    let ptr = tcfg.pointer_type();
    let (fty, bytes) = (float.clif(), float.bytes());
    let offset = |k: usize| offset_of(k, bytes);

    // Segments, scratch slots, sin/cos partners.
    let seg_size = opts.segment_nodes.max(1);
    let mut seg = vec![0u32; n];
    let (mut s, mut count) = (0u32, 0usize);
    for (i, op) in g.nodes.iter().enumerate() {
        if computed(op) {
            if count == seg_size {
                s += 1;
                count = 0;
            }
            count += 1;
        }
        seg[i] = s;
    }
    let n_seg = s as usize + 1;
    let mut slot = vec![u32::MAX; n];
    let mut n_scratch = 0usize;
    let mut need_slot = |a: NodeId, user_seg: u32, slot: &mut Vec<u32>| {
        if computed(&g.nodes[a as usize]) && seg[a as usize] < user_seg && slot[a as usize] == u32::MAX {
            slot[a as usize] = n_scratch as u32;
            n_scratch += 1;
        }
    };
    let mut partner: FxMap<(NodeId, bool), NodeId> = FxMap::default();
    for (i, op) in g.nodes.iter().enumerate() {
        for a in op.args() {
            need_slot(a, seg[i], &mut slot);
        }
        match *op {
            Op::Unary(UnaryOp::Sin, a) => {
                partner.insert((a, true), i as NodeId);
            }
            Op::Unary(UnaryOp::Cos, a) => {
                partner.insert((a, false), i as NodeId);
            }
            _ => {}
        }
    }
    for &o in &g.outputs {
        need_slot(o, n_seg as u32 - 1, &mut slot);
    }
    offset(g.n_inputs)?;
    offset(g.outputs.len())?;
    offset(n_scratch)?;

    let mut seg_sig = module.make_signature();
    seg_sig.params.extend([AbiParam::new(ptr), AbiParam::new(ptr), AbiParam::new(ptr)]);
    seg_sig.returns.push(AbiParam::new(types::I32));
    let mem = MemFlagsData::trusted();
    let mut ctx = module.make_context();
    let mut fctx = FunctionBuilderContext::new();
    let mut seg_ids = Vec::with_capacity(n_seg);
    let mut node = 0usize;
    for sidx in 0..n_seg as u32 {
        let id = module.declare_function(&format!("seg{sidx}"), Linkage::Local, &seg_sig).map_err(cg_err)?;
        seg_ids.push(id);
        ctx.func.signature = seg_sig.clone();
        ctx.func.name = UserFuncName::user(0, id.as_u32());
        let mut b = FunctionBuilder::new(&mut ctx.func, &mut fctx);
        let entry = b.create_block();
        b.append_block_params_for_function_params(entry);
        b.switch_to_block(entry);
        let (pin, pscr, pout) = {
            let p = b.block_params(entry);
            (p[0], p[1], p[2])
        };
        let mut vals: FxMap<NodeId, Value> = FxMap::default();
        let mut low = Lowerer::new(module, float);
        let mut sincos_slot = None;

        macro_rules! get {
            ($a:expr) => {{
                let a: NodeId = $a;
                match g.nodes[a as usize] {
                    Op::Input(k) => b.ins().load(fty, mem, pin, offset(k as usize)?),
                    Op::Const(c) => lower::float_const(&mut b, float, c),
                    _ => match vals.get(&a) {
                        Some(&v) => v,
                        None => {
                            let v = b.ins().load(fty, mem, pscr, offset(slot[a as usize] as usize)?);
                            vals.insert(a, v);
                            v
                        }
                    },
                }
            }};
        }
        macro_rules! define {
            ($i:expr, $v:expr) => {{
                let (i, v): (NodeId, Value) = ($i, $v);
                vals.insert(i, v);
                if slot[i as usize] != u32::MAX {
                    b.ins().store(mem, v, pscr, offset(slot[i as usize] as usize)?);
                }
            }};
        }

        while node < n && seg[node] == sidx {
            let i = node as NodeId;
            node += 1;
            let op = g.nodes[i as usize];
            if !computed(&op) || vals.contains_key(&i) {
                continue;
            }
            let v = match op {
                Op::Unary(u @ (UnaryOp::Sin | UnaryOp::Cos), a)
                    if partner.get(&(a, u == UnaryOp::Cos)).is_some_and(|&o| seg[o as usize] == sidx) =>
                {
                    // `sin` and `cos` of one argument in this segment: one `sincos` call.
                    let other = partner[&(a, u == UnaryOp::Cos)];
                    let x = get!(a);
                    let ss = *sincos_slot.get_or_insert_with(|| {
                        b.create_sized_stack_slot(StackSlotData::new(StackSlotKind::ExplicitSlot, 16, 3))
                    });
                    let addr = b.ins().stack_addr(ptr, ss, 0);
                    let (module, refs) = low.parts();
                    externs::call(module, &mut b, refs, &externs::sincos(float, ptr), &[x, addr])?;
                    let sv = b.ins().load(fty, mem, addr, 0);
                    let cv = b.ins().load(fty, mem, addr, bytes as i32);
                    let (mine, theirs) = if u == UnaryOp::Sin { (sv, cv) } else { (cv, sv) };
                    define!(other, theirs);
                    mine
                }
                Op::Guard { cmp, a, b: bb, expect, site } => {
                    let (x, y) = (get!(a), get!(bb));
                    let c = b.ins().fcmp(float_cc(cmp), x, y);
                    let (fail, cont) = (b.create_block(), b.create_block());
                    if expect {
                        b.ins().brif(c, cont, &[], fail, &[]);
                    } else {
                        b.ins().brif(c, fail, &[], cont, &[]);
                    }
                    b.switch_to_block(fail);
                    let code = b.ins().iconst(types::I32, site as i64 + 1);
                    b.ins().return_(&[code]);
                    b.switch_to_block(cont);
                    continue;
                }
                _ => {
                    let mut args = [Value::reserved_value(); 4];
                    let mut n_args = 0;
                    for a in op.args() {
                        args[n_args] = get!(a);
                        n_args += 1;
                    }
                    low.op(&mut b, &op, &args[..n_args])?
                }
            };
            define!(i, v);
        }
        if sidx as usize == n_seg - 1 {
            for (j, &o) in g.outputs.iter().enumerate() {
                let v = get!(o);
                b.ins().store(mem, v, pout, offset(j)?);
            }
        }
        let ok = b.ins().iconst(types::I32, 0);
        b.ins().return_(&[ok]);
        b.seal_all_blocks();
        b.finalize(tcfg);
        drop(low);
        module.define_function(id, &mut ctx).map_err(cg_err)?;
        module.clear_context(&mut ctx);
    }
    Ok((seg_ids, n_scratch))
}
