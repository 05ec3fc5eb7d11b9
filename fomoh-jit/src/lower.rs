//! The backend translator: IR operations to Cranelift instructions, and the life of the
//! native code they become.
//!
//! Both code generators (the scalar segments of [`crate::codegen`] and the fused vector
//! loops of `tensor::emit`) lower every computed operation through [`Lowerer::op`]: a
//! native instruction where one exists for the operand type (a scalar of the float type or
//! a 128-bit vector of it), otherwise the operation per lane in scalar form, calling the
//! registered `extern "C"` wrapper of the runtime's own function ([`crate::externs`], one
//! table generated from the list of operations). What stays with each generator is what is
//! particular to its shape: where operands come from (loads, scratch slots, strided inputs),
//! guards (scalar code only), the `sin`/`cos` pairing of the scalar code and the `fma`
//! fusion of the loops.
//!
//! Every compilation goes through one [`CodeModule`]: created with the host's ISA and the
//! wrappers registered, its functions defined, then finished into [`OwnedCode`] (which frees
//! the code memory when the last user is dropped); a module dropped unfinished (an error
//! half-way) frees its memory at once.

use crate::cache::LiveCode;
use crate::codegen::CodegenOptions;
use crate::error::{cg_err, JitError, JitResult};
use crate::externs;
use crate::float::FloatType;
use crate::ir::{Cmp, Op};
use cranelift_codegen::ir::condcodes::FloatCC;
use cranelift_codegen::ir::{types, InstBuilder, Value};
use cranelift_codegen::settings::Configurable;
use cranelift_frontend::FunctionBuilder;
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{default_libcall_names, FuncId};
use fomoh_runtime::{BinaryOp, UnaryOp};
use std::sync::Mutex;

/// The Cranelift condition of a comparison.
pub(crate) fn float_cc(c: Cmp) -> FloatCC {
    match c {
        Cmp::Lt => FloatCC::LessThan,
        Cmp::Le => FloatCC::LessThanOrEqual,
        Cmp::Gt => FloatCC::GreaterThan,
        Cmp::Ge => FloatCC::GreaterThanOrEqual,
        Cmp::Eq => FloatCC::Equal,
        Cmp::Ne => FloatCC::NotEqual,
        Cmp::Unordered => FloatCC::Unordered,
    }
}

/// Whether `u` lowers to instructions on a scalar operand (no call).
pub(crate) fn is_native_unary(u: UnaryOp) -> bool {
    matches!(
        u,
        UnaryOp::Sqrt
            | UnaryOp::Abs
            | UnaryOp::Powi(1 | 2)
            | UnaryOp::Recip
            | UnaryOp::Relu
            | UnaryOp::Clamp(..)
    )
}

/// Whether `u` also lowers to instructions on a vector operand.
fn is_vector_native_unary(u: UnaryOp) -> bool {
    matches!(u, UnaryOp::Sqrt | UnaryOp::Abs | UnaryOp::Powi(1 | 2) | UnaryOp::Recip)
}

/// A float literal of type `float` (an `f64` literal rounded once to `f32` for `f32`).
pub(crate) fn float_const(b: &mut FunctionBuilder, float: FloatType, c: f64) -> Value {
    match float {
        FloatType::F64 => b.ins().f64const(c),
        FloatType::F32 => b.ins().f32const(c as f32),
    }
}

/// A literal of `x`'s type (splat across lanes for a vector).
fn literal_like(b: &mut FunctionBuilder, x: Value, c: f64) -> Value {
    let ty = b.func.dfg.value_type(x);
    let lane = ty.lane_type();
    let s = if lane == types::F32 { b.ins().f32const(c as f32) } else { b.ins().f64const(c) };
    if ty.is_vector() {
        b.ins().splat(ty, s)
    } else {
        s
    }
}

/// The native instructions of a unary op where the operand type has them: `sqrt`, `abs`,
/// `x¹`, `x²`, `1/x` (scalar or vector), `relu` and `clamp` as selects (scalar), computing
/// exactly what the runtime's `eval_float` computes.
fn native_unary(b: &mut FunctionBuilder, u: UnaryOp, x: Value) -> Option<Value> {
    let vector = b.func.dfg.value_type(x).is_vector();
    if vector && !is_vector_native_unary(u) {
        return None;
    }
    Some(match u {
        UnaryOp::Sqrt => b.ins().sqrt(x),
        UnaryOp::Abs => b.ins().fabs(x),
        UnaryOp::Powi(1) => x,
        UnaryOp::Powi(2) => b.ins().fmul(x, x),
        UnaryOp::Recip => {
            let one = literal_like(b, x, 1.0);
            b.ins().fdiv(one, x)
        }
        UnaryOp::Relu => {
            let zero = literal_like(b, x, 0.0);
            let c = b.ins().fcmp(FloatCC::GreaterThanOrEqual, x, zero);
            b.ins().select(c, x, zero)
        }
        UnaryOp::Clamp(lo, hi) => {
            // u = lo >= x ? lo : x; u >= hi ? hi : u  (as `eval_float`)
            let (l, h) = (literal_like(b, x, lo), literal_like(b, x, hi));
            let c = b.ins().fcmp(FloatCC::GreaterThanOrEqual, l, x);
            let u = b.ins().select(c, l, x);
            let c = b.ins().fcmp(FloatCC::GreaterThanOrEqual, u, h);
            b.ins().select(c, h, u)
        }
        _ => return None,
    })
}

/// The native instructions of a binary op where the operand type has them: arithmetic
/// (scalar or vector), and `max`/`min` as a select on `>=` (scalar; ties take the first
/// argument, as the runtime's rule).
fn native_binary(b: &mut FunctionBuilder, op: BinaryOp, x: Value, y: Value) -> Option<Value> {
    let vector = b.func.dfg.value_type(x).is_vector();
    Some(match op {
        BinaryOp::Add => b.ins().fadd(x, y),
        BinaryOp::Sub => b.ins().fsub(x, y),
        BinaryOp::Mul => b.ins().fmul(x, y),
        BinaryOp::Div => b.ins().fdiv(x, y),
        BinaryOp::Max | BinaryOp::Min if !vector => {
            let (p, q) = if op == BinaryOp::Max { (x, y) } else { (y, x) };
            let c = b.ins().fcmp(FloatCC::GreaterThanOrEqual, p, q);
            b.ins().select(c, x, y)
        }
        _ => return None,
    })
}

/// Lowers IR operations into one function of a [`CodeModule`], over one float type.
pub(crate) struct Lowerer<'m> {
    module: &'m mut JITModule,
    float: FloatType,
    refs: externs::Refs,
}

impl<'m> Lowerer<'m> {
    /// A lowerer for one function of `module` over `float`.
    pub(crate) fn new(module: &'m mut JITModule, float: FloatType) -> Self {
        Lowerer { module, float, refs: externs::Refs::default() }
    }

    /// The module, for calls the generator makes itself (e.g. `sincos`).
    pub(crate) fn parts(&mut self) -> (&mut JITModule, &mut externs::Refs) {
        (self.module, &mut self.refs)
    }

    /// One computed operation (`Neg`, `Unary`, `Binary`, `Select`) on `args` (in
    /// `op.args()` order), all of one type: a scalar of the float type, or a vector of it
    /// (an operation without a vector instruction then runs per lane). Leaves and guards
    /// are the generator's: an error here.
    pub(crate) fn op(&mut self, b: &mut FunctionBuilder, op: &Op, args: &[Value]) -> JitResult<Value> {
        let native = match *op {
            Op::Neg(_) => Some(b.ins().fneg(args[0])),
            Op::Unary(u, _) => native_unary(b, u, args[0]),
            Op::Binary(o, ..) => native_binary(b, o, args[0], args[1]),
            Op::Select { cmp, .. } if !b.func.dfg.value_type(args[0]).is_vector() => {
                let c = b.ins().fcmp(float_cc(cmp), args[0], args[1]);
                Some(b.ins().select(c, args[2], args[3]))
            }
            Op::Select { .. } => None,
            Op::Input(_) | Op::Const(_) | Op::Guard { .. } => {
                return Err(JitError::Unsupported("a leaf or a guard given to the op translator".into()))
            }
        };
        if let Some(v) = native {
            return Ok(v);
        }
        let ty = b.func.dfg.value_type(args[0]);
        if !ty.is_vector() {
            let (module, refs, float) = (&mut *self.module, &mut self.refs, self.float);
            return match *op {
                Op::Unary(u, _) => externs::call_unary(module, b, refs, u, float, args[0]),
                Op::Binary(o, ..) => externs::call_binary(module, b, refs, o, float, args[0], args[1]),
                _ => unreachable!("negation and scalar selects are native"),
            };
        }
        // Per lane, in scalar form.
        let mut out = None;
        for l in 0..ty.lane_count() as u8 {
            let la: Vec<Value> = args.iter().map(|&x| b.ins().extractlane(x, l)).collect();
            let s = self.op(b, op, &la)?;
            out = Some(match out {
                None => b.ins().scalar_to_vector(ty, s),
                Some(o) => b.ins().insertlane(o, s, l),
            });
        }
        Ok(out.expect("a vector has lanes"))
    }
}

/// Owner of the code memory; touched only when the code is dropped.
struct ModuleBox(JITModule);

// SAFETY: the module is moved into the box after finalization and is only used again to
// free its memory in `Drop`, behind a `Mutex`; no shared state escapes it.
unsafe impl Send for ModuleBox {}

/// Finalized code memory, released (and uncounted from the live-code counter) on drop.
pub(crate) struct OwnedCode(Mutex<Option<ModuleBox>>, LiveCode);

impl Drop for OwnedCode {
    fn drop(&mut self) {
        let m = self.0.get_mut().map(|m| m.take()).unwrap_or_else(|p| p.into_inner().take());
        if let Some(ModuleBox(m)) = m {
            // SAFETY: `&mut self` (the owner of every function pointer into this code is
            // being dropped) proves no call into this code is running or can start.
            unsafe { m.free_memory() };
        }
        // The `LiveCode` token is dropped next: the code is uncounted once freed.
    }
}

/// A JIT module being filled: the host's ISA, the runtime's `extern "C"` wrappers
/// registered. [`CodeModule::finish`] finalizes it into [`OwnedCode`]; dropped unfinished,
/// it frees its memory (nothing compiled into it was handed out).
pub(crate) struct CodeModule(Option<JITModule>);

impl CodeModule {
    /// A new module with the code generator's settings.
    pub(crate) fn new(opts: &CodegenOptions) -> JitResult<Self> {
        let mut flags = cranelift_codegen::settings::builder();
        let set =
            |f: &mut cranelift_codegen::settings::Builder, k: &str, v: &str| f.set(k, v).map_err(cg_err);
        set(&mut flags, "use_colocated_libcalls", "false")?;
        set(&mut flags, "is_pic", "false")?;
        set(&mut flags, "opt_level", if opts.optimize { "speed" } else { "none" })?;
        set(&mut flags, "enable_verifier", if cfg!(debug_assertions) { "true" } else { "false" })?;
        let isa = cranelift_native::builder()
            .map_err(cg_err)?
            .finish(cranelift_codegen::settings::Flags::new(flags))
            .map_err(cg_err)?;
        let mut jb = JITBuilder::with_isa(isa, default_libcall_names());
        externs::register_symbols(&mut jb);
        Ok(CodeModule(Some(JITModule::new(jb))))
    }

    /// The module, to declare and define functions in.
    pub(crate) fn module(&mut self) -> &mut JITModule {
        self.0.as_mut().expect("a module is only taken by finish")
    }

    /// Finalizes every defined function: the entry address of each of `ids` and the owner
    /// of the code (which must outlive every call through those addresses).
    pub(crate) fn finish(mut self, ids: &[FuncId]) -> JitResult<(Vec<*const u8>, OwnedCode)> {
        let module = self.module();
        module.finalize_definitions().map_err(cg_err)?;
        let entries = ids.iter().map(|&id| module.get_finalized_function(id)).collect();
        let module = self.0.take().expect("not finished yet");
        Ok((entries, OwnedCode(Mutex::new(Some(ModuleBox(module))), LiveCode::new())))
    }
}

impl Drop for CodeModule {
    fn drop(&mut self) {
        if let Some(m) = self.0.take() {
            // SAFETY: the module was not finished: no address into it was handed out, so
            // nothing can call into its memory.
            unsafe { m.free_memory() };
        }
    }
}
