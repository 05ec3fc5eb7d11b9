//! The native functions compiled code calls, generated from the one list of operations.
//!
//! Every unary operation of `fomoh_ops::for_each_unary!` and every binary function of
//! `for_each_binary!` gets an `extern "C"` wrapper in `f64` and in `f32` that calls the
//! runtime's own primal (`UnaryOp::eval_float`), so compiled and interpreted results agree
//! bit for bit; the operation's constant parameters (`powi`'s exponent, `clamp`'s bounds)
//! are passed as further arguments (`i32` or `f64`, whatever the float type). A user's
//! [`fomoh_runtime::Primitive`] is called through the `extern "C"` entry points of its
//! descriptor, registered by name the first time a program uses it: a second primitive with
//! the same name is an error ([`JitError::PrimitiveNameClash`]), never a silent mix-up.
//! The scalar and the tensor code generators both call through [`call_unary`],
//! [`call_binary`] and [`call`].

use crate::error::{cg_err, JitError, JitResult};
use crate::float::FloatType;
use crate::ir::FxMap;
use cranelift_codegen::ir::{types, AbiParam, FuncRef, InstBuilder, Value};
use cranelift_frontend::FunctionBuilder;
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{Linkage, Module};
use fomoh_runtime::{BinaryOp, CustomOp, OpParam, UnaryOp};
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

/// A native function: its symbol, argument types and result type.
#[derive(Clone, Debug)]
pub(crate) struct Callee {
    name: Cow<'static, str>,
    params: Vec<types::Type>,
    ret: Option<types::Type>,
}

macro_rules! unary_wrappers {
    ([] $( $doc:literal $V:ident $( ( $($p:ident : $pt:ty = $s:expr),+ ) )? $m:ident [$lo:expr, $hi:expr] ; )*) => {
        /// The `f64` wrappers, one per listed unary operation.
        mod unary_f64 {
            use fomoh_runtime::UnaryOp;
            $(pub(super) extern "C" fn $m(x: f64 $($(, $p: $pt)+)?) -> f64 {
                UnaryOp::$V $( ( $($p),+ ) )?.eval_float(x)
            })*
        }
        /// The `f32` wrappers (parameters keep their list types).
        mod unary_f32 {
            use fomoh_runtime::UnaryOp;
            $(pub(super) extern "C" fn $m(x: f32 $($(, $p: $pt)+)?) -> f32 {
                UnaryOp::$V $( ( $($p),+ ) )?.eval_float(x)
            })*
        }
        /// Every listed unary wrapper: `(symbol, f64 address, f32 address)`.
        fn unary_symbols() -> Vec<(&'static str, *const u8, *const u8)> {
            vec![$((
                stringify!($m),
                unary_f64::$m as extern "C" fn(f64 $($(, $pt)+)?) -> f64 as *const u8,
                unary_f32::$m as extern "C" fn(f32 $($(, $pt)+)?) -> f32 as *const u8,
            )),*]
        }
    };
}
fomoh_runtime::for_each_unary!(unary_wrappers);

macro_rules! binary_wrappers {
    ([] ops { $($od:literal $O:ident $on:ident [$($ol:tt)*] [$($oh:tt)*];)* }
        fns { $( $doc:literal $V:ident $m:ident [$($a:tt)*] [$($b:tt)*] ; )* }) => {
        /// The `f64` wrappers, one per listed binary function.
        mod binary_f64 {
            use fomoh_runtime::BinaryOp;
            $(pub(super) extern "C" fn $m(x: f64, y: f64) -> f64 { BinaryOp::$V.eval_float(x, y) })*
        }
        /// The `f32` wrappers.
        mod binary_f32 {
            use fomoh_runtime::BinaryOp;
            $(pub(super) extern "C" fn $m(x: f32, y: f32) -> f32 { BinaryOp::$V.eval_float(x, y) })*
        }
        /// Every listed binary wrapper: `(symbol, f64 address, f32 address)`.
        fn binary_symbols() -> Vec<(&'static str, *const u8, *const u8)> {
            vec![$((
                stringify!($m),
                binary_f64::$m as extern "C" fn(f64, f64) -> f64 as *const u8,
                binary_f32::$m as extern "C" fn(f32, f32) -> f32 as *const u8,
            )),*]
        }
    };
}
fomoh_runtime::for_each_binary!(binary_wrappers);

extern "C" fn sincos_f64(x: f64, out: *mut f64) {
    let (s, c) = x.sin_cos();
    // SAFETY: generated code passes a 16-byte, 8-aligned stack slot.
    unsafe {
        *out = s;
        *out.add(1) = c;
    }
}
extern "C" fn sincos_f32(x: f32, out: *mut f32) {
    let (s, c) = x.sin_cos();
    // SAFETY: generated code passes a 16-byte, 8-aligned stack slot.
    unsafe {
        *out = s;
        *out.add(1) = c;
    }
}

/// The symbol of a listed wrapper in `float`.
fn symbol(base: &str, float: FloatType) -> String {
    match float {
        FloatType::F64 => format!("fomoh_jit_{base}"),
        FloatType::F32 => format!("fomoh_jit_{base}_f32"),
    }
}

/// The primitives registered so far, by name (the value lane of each).
static PRIMITIVES: LazyLock<Mutex<HashMap<&'static str, CustomOp>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

const CUSTOM_PREFIX: &str = "fomoh_custom:";

/// Registers `c`'s primitive under its name; an error if another primitive has that name.
fn register(c: CustomOp) -> JitResult<()> {
    let mut reg = PRIMITIVES.lock().unwrap_or_else(|p| p.into_inner());
    let known = *reg.entry(c.name()).or_insert(c.with_part(0));
    if known.type_id() != c.type_id() {
        return Err(JitError::PrimitiveNameClash(c.name().to_string()));
    }
    Ok(())
}

/// The address behind a primitive's symbol (`fomoh_custom:<part>:<f64|f32>:<name>`).
fn custom_address(sym: &str) -> Option<*const u8> {
    let rest = sym.strip_prefix(CUSTOM_PREFIX)?;
    let (part, rest) = rest.split_once(':')?;
    let (float, name) = rest.split_once(':')?;
    let c = PRIMITIVES.lock().unwrap_or_else(|p| p.into_inner()).get(name).copied()?;
    let c = c.with_part(part.parse().ok()?);
    match float {
        "f64" => Some(c.entry_f64() as *const u8),
        "f32" => Some(c.entry_f32() as *const u8),
        _ => None,
    }
}

/// Registers every wrapper's symbol with `jb`, and the lookup of primitives' symbols.
pub(crate) fn register_symbols(jb: &mut JITBuilder) {
    for (base, p64, p32) in unary_symbols().into_iter().chain(binary_symbols()) {
        jb.symbol(symbol(base, FloatType::F64), p64);
        jb.symbol(symbol(base, FloatType::F32), p32);
    }
    jb.symbol(symbol("sincos", FloatType::F64), sincos_f64 as extern "C" fn(f64, *mut f64) as *const u8);
    jb.symbol(symbol("sincos", FloatType::F32), sincos_f32 as extern "C" fn(f32, *mut f32) as *const u8);
    jb.symbol_lookup_fn(Box::new(custom_address));
}

/// The native function of a unary operation and its constant arguments (`powi`'s `i32`
/// exponent, `clamp`'s `f64` bounds) materialized in `b`.
fn unary_callee(b: &mut FunctionBuilder, op: UnaryOp, float: FloatType) -> JitResult<(Callee, Vec<Value>)> {
    let t = float.clif();
    if let UnaryOp::Custom(c) = op {
        register(c)?;
        let fl = match float {
            FloatType::F64 => "f64",
            FloatType::F32 => "f32",
        };
        let name = format!("{CUSTOM_PREFIX}{}:{fl}:{}", c.part(), c.name());
        return Ok((Callee { name: name.into(), params: vec![t], ret: Some(t) }, Vec::new()));
    }
    let (mut params, mut extra) = (vec![t], Vec::new());
    for p in op.params() {
        let (ty, v) = match p {
            OpParam::Int(n) => (types::I32, b.ins().iconst(types::I32, n as i64)),
            OpParam::Real(r) => (types::F64, b.ins().f64const(r)),
        };
        params.push(ty);
        extra.push(v);
    }
    Ok((Callee { name: symbol(op.method(), float).into(), params, ret: Some(t) }, extra))
}

/// The `sincos(x, out)` function of `float` (writes `sin x`, `cos x` to `out`).
pub(crate) fn sincos(float: FloatType, ptr: types::Type) -> Callee {
    Callee { name: symbol("sincos", float).into(), params: vec![float.clif(), ptr], ret: None }
}

/// The functions declared in one function under construction, by symbol.
pub(crate) type Refs = FxMap<Cow<'static, str>, FuncRef>;

/// Calls `callee` with `args` from the function `b` builds in `module`; its result if any.
pub(crate) fn call(
    module: &mut JITModule,
    b: &mut FunctionBuilder,
    refs: &mut Refs,
    callee: &Callee,
    args: &[Value],
) -> JitResult<Option<Value>> {
    let fr = match refs.get(&callee.name) {
        Some(&r) => r,
        None => {
            let mut s = module.make_signature();
            s.params.extend(callee.params.iter().map(|&t| AbiParam::new(t)));
            s.returns.extend(callee.ret.map(AbiParam::new));
            let fid = module.declare_function(&callee.name, Linkage::Import, &s).map_err(cg_err)?;
            let r = module.declare_func_in_func(fid, b.func);
            refs.insert(callee.name.clone(), r);
            r
        }
    };
    let inst = b.ins().call(fr, args);
    Ok(b.inst_results(inst).first().copied())
}

/// `op(x)` through its native function.
pub(crate) fn call_unary(
    module: &mut JITModule,
    b: &mut FunctionBuilder,
    refs: &mut Refs,
    op: UnaryOp,
    float: FloatType,
    x: Value,
) -> JitResult<Value> {
    let (callee, extra) = unary_callee(b, op, float)?;
    let mut args = vec![x];
    args.extend(extra);
    call(module, b, refs, &callee, &args)?
        .ok_or_else(|| JitError::Codegen(format!("`{}` returned nothing", op.name())))
}

/// `op(x, y)` through its native function (the functions of the list, not the operators).
pub(crate) fn call_binary(
    module: &mut JITModule,
    b: &mut FunctionBuilder,
    refs: &mut Refs,
    op: BinaryOp,
    float: FloatType,
    x: Value,
    y: Value,
) -> JitResult<Value> {
    if op.is_arithmetic() {
        return Err(JitError::Unsupported(format!("`{}` is an instruction, not a call", op.name())));
    }
    let t = float.clif();
    let callee = Callee { name: symbol(op.name(), float).into(), params: vec![t, t], ret: Some(t) };
    call(module, b, refs, &callee, &[x, y])?
        .ok_or_else(|| JitError::Codegen(format!("`{}` returned nothing", op.name())))
}
