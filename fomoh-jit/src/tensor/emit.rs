//! Lowering to Cranelift: a fused loop over a 2-D iteration space whose body is a staged
//! scalar graph, run on 128-bit vectors of columns with a scalar remainder, its lanes
//! stored or reduced (summed, or maximized) per row or over the whole loop.

use super::fuse;
use crate::error::{cg_err, JitError, JitResult};
use crate::float::FloatType;
use crate::ir::{Graph, NodeId, Op};
use crate::lower::{self, Lowerer};
use cranelift_codegen::entity::packed_option::ReservedValue;
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{types, AbiParam, InstBuilder, MemFlagsData, UserFuncName, Value};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext, Variable};
use cranelift_module::{FuncId, Linkage, Module};
use std::collections::HashMap;

/// What a fused loop does with its body's lanes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Reduce {
    /// Every element stored.
    None,
    /// Summed over the whole loop (one element per lane).
    All,
    /// Summed along each row (one element per row and lane).
    Rows,
    /// The maximum of each row (one element per row and lane).
    MaxRows,
}

/// The scalar and the 128-bit vector Cranelift type of `float`, and the vector's lanes.
fn float_types(float: FloatType) -> (types::Type, types::Type, usize) {
    match float {
        FloatType::F64 => (types::F64, types::F64X2, 2),
        FloatType::F32 => (types::F32, types::F32X4, 4),
    }
}

/// The columns one vector iteration of a fused loop covers (`f64x2`: 2, `f32x4`: 4).
pub(super) fn vector_width(float: FloatType) -> usize {
    float_types(float).2
}

/// Emits one loop `fn(inputs: *const *const T, outputs: *const *mut T, r0, r1, c0, c1)`
/// over `iter`, for `T` = `float`.
///
/// Each row runs the body on 128-bit vectors over consecutive columns (`f64x2` or `f32x4`;
/// broadcast inputs are splat; the ops without a vector instruction run per lane), then in
/// scalar form on the last columns that do not fill a vector. Reduced lanes keep a vector
/// and a scalar accumulator, combined at the end of the row (or of the loop).
#[allow(clippy::too_many_arguments)]
pub(super) fn emit_loop(
    module: &mut cranelift_jit::JITModule,
    float: FloatType,
    g: &Graph,
    iter: (usize, usize),
    reduce: Reduce,
    in_index: &HashMap<u32, (usize, usize)>,
    in_strides: &[(usize, usize)],
    stored: &[(usize, NodeId)],
) -> JitResult<FuncId> {
    let ptr = module.target_config().pointer_type();
    let mut sig = module.make_signature();
    sig.params.extend([AbiParam::new(ptr), AbiParam::new(ptr)]);
    sig.params.extend([AbiParam::new(types::I64); 4]);
    let name = format!("loop{}", module.declarations().get_functions().count());
    let id = module.declare_function(&name, Linkage::Local, &sig).map_err(cg_err)?;
    let mut ctx = module.make_context();
    ctx.func.signature = sig;
    ctx.func.name = UserFuncName::user(1, id.as_u32());
    let mut fctx = FunctionBuilderContext::new();
    let mem = MemFlagsData::trusted();
    let tcfg = module.target_config();
    let outs: Vec<NodeId> = stored.iter().map(|&(_, o)| o).collect();
    let summed = matches!(reduce, Reduce::All | Reduce::Rows);
    // Without a native `fma` (checked on the ISA), nothing is fused.
    let fusion = fuse::Fusion::plan(g, &outs, summed, module.isa().has_native_fma(), 4);
    // Columns run as vectors of `w` lanes, then a scalar remainder. A chunk starts at a
    // multiple of `w`, so only a row length that is not one leaves a remainder (of fewer
    // than `w` columns).
    let (sty, vty, w) = float_types(float);
    let es = float.bytes();
    let (vector, tail) = (iter.1 >= w, !iter.1.is_multiple_of(w));
    let mut e =
        BodyEmitter { float, g, fusion: &fusion, in_index, in_strides, low: Lowerer::new(module, float) };
    {
        let mut b = FunctionBuilder::new(&mut ctx.func, &mut fctx);
        let entry = b.create_block();
        b.append_block_params_for_function_params(entry);
        b.switch_to_block(entry);
        let (pin, pout) = (b.block_params(entry)[0], b.block_params(entry)[1]);
        let [r0, r1, c0, c1] = [2, 3, 4, 5].map(|i| b.block_params(entry)[i]);
        // The end of the vectors: `c1` rounded down to a multiple of `w` (as `c0` is).
        let vend = b.ins().band_imm_s(c1, -(w as i64));
        let bases: Vec<Value> =
            (0..in_strides.len()).map(|j| b.ins().load(ptr, mem, pin, (8 * j) as i32)).collect();
        let obases: Vec<Value> =
            (0..stored.len()).map(|q| b.ins().load(ptr, mem, pout, (8 * q) as i32)).collect();
        let init = if reduce == Reduce::MaxRows { f64::NEG_INFINITY } else { 0.0 };
        let r = b.declare_var(types::I64);
        // Per part (vector, scalar): the column variable and the accumulators.
        let tail_start = if vector { vend } else { c0 };
        let parts = [(vector, vty, c0, vend, w), (tail, sty, tail_start, c1, 1)];
        let cvars: Vec<Variable> = parts.iter().map(|_| b.declare_var(types::I64)).collect();
        let accs: Vec<Vec<Variable>> =
            parts.iter().map(|p| stored.iter().map(|_| b.declare_var(p.1)).collect()).collect();
        let def_init = |b: &mut FunctionBuilder| {
            for (p, acc) in parts.iter().zip(&accs) {
                let mut fi = lower::float_const(b, float, init);
                if p.1 != sty {
                    fi = b.ins().splat(p.1, fi);
                }
                for &a in acc {
                    b.def_var(a, fi);
                }
            }
        };
        b.def_var(r, r0);
        def_init(&mut b);
        let (outer, row_end, exit) = (b.create_block(), b.create_block(), b.create_block());
        let any = b.ins().icmp(IntCC::SignedLessThan, r0, r1);
        b.ins().brif(any, outer, &[], exit, &[]);
        b.switch_to_block(outer);
        if matches!(reduce, Reduce::Rows | Reduce::MaxRows) {
            def_init(&mut b);
        }
        for (pi, &(on, ty, c0, c1, w)) in parts.iter().enumerate() {
            if !on {
                continue;
            }
            let (inner, next) = (b.create_block(), b.create_block());
            b.def_var(cvars[pi], c0);
            let any = b.ins().icmp(IntCC::SignedLessThan, c0, c1);
            b.ins().brif(any, inner, &[], next, &[]);
            b.switch_to_block(inner);
            let (rv, cv) = (b.use_var(r), b.use_var(cvars[pi]));
            let vals = e.body(&mut b, ty, &bases, rv, cv)?;
            for (q, &(_, o)) in stored.iter().enumerate() {
                let av = accs[pi][q];
                if !fusion.acc_terms[q].is_empty() {
                    let mut acc = b.use_var(av);
                    for t in &fusion.acc_terms[q] {
                        let p = vals[t.p as usize];
                        acc = match (t.q, t.negate) {
                            (Some(r), false) => b.ins().fma(p, vals[r as usize], acc),
                            (Some(r), true) => {
                                let np = b.ins().fneg(p);
                                b.ins().fma(np, vals[r as usize], acc)
                            }
                            (None, false) => b.ins().fadd(acc, p),
                            (None, true) => b.ins().fsub(acc, p),
                        };
                    }
                    b.def_var(av, acc);
                    continue;
                }
                let v = vals[o as usize];
                match reduce {
                    Reduce::None => {
                        let a = b.ins().imul_imm_s(rv, (es * iter.1) as i64);
                        let cc = b.ins().imul_imm_s(cv, es as i64);
                        let off = b.ins().iadd(a, cc);
                        let addr = b.ins().iadd(obases[q], off);
                        b.ins().store(MemFlagsData::new().with_notrap(), v, addr, 0);
                    }
                    Reduce::All | Reduce::Rows => {
                        let acc = b.use_var(av);
                        let s = b.ins().fadd(acc, v);
                        b.def_var(av, s);
                    }
                    Reduce::MaxRows => {
                        let acc = b.use_var(av);
                        let s = b.ins().fmax(acc, v);
                        b.def_var(av, s);
                    }
                }
            }
            let c1v = b.ins().iadd_imm_s(cv, w as i64);
            b.def_var(cvars[pi], c1v);
            let more = b.ins().icmp(IntCC::SignedLessThan, c1v, c1);
            b.ins().brif(more, inner, &[], next, &[]);
            b.switch_to_block(next);
        }
        b.ins().jump(row_end, &[]);
        b.switch_to_block(row_end);
        // The row's (or the loop's) total of every reduced lane: vector lanes, then scalar.
        let total = |b: &mut FunctionBuilder, q: usize| -> Value {
            let mut t: Option<Value> = None;
            for (p, acc) in parts.iter().zip(&accs) {
                if !p.0 {
                    continue;
                }
                let v = b.use_var(acc[q]);
                let lanes: Vec<Value> = if p.1 == sty {
                    vec![v]
                } else {
                    (0..w as u8).map(|l| b.ins().extractlane(v, l)).collect()
                };
                for x in lanes {
                    t = Some(match t {
                        None => x,
                        Some(s) if reduce == Reduce::MaxRows => b.ins().fmax(s, x),
                        Some(s) => b.ins().fadd(s, x),
                    });
                }
            }
            t.unwrap_or_else(|| lower::float_const(b, float, init))
        };
        let rv = b.use_var(r);
        if matches!(reduce, Reduce::Rows | Reduce::MaxRows) {
            for (q, &ob) in obases.iter().enumerate() {
                let v = total(&mut b, q);
                let off = b.ins().imul_imm_s(rv, es as i64);
                let addr = b.ins().iadd(ob, off);
                b.ins().store(mem, v, addr, 0);
            }
        }
        let rnext = b.ins().iadd_imm_s(rv, 1);
        b.def_var(r, rnext);
        let more = b.ins().icmp(IntCC::SignedLessThan, rnext, r1);
        b.ins().brif(more, outer, &[], exit, &[]);
        b.switch_to_block(exit);
        if reduce == Reduce::All {
            for (q, &ob) in obases.iter().enumerate() {
                let v = total(&mut b, q);
                b.ins().store(mem, v, ob, 0);
            }
        }
        b.ins().return_(&[]);
        b.seal_all_blocks();
        b.finalize(tcfg);
    }
    drop(e);
    module.define_function(id, &mut ctx).map_err(cg_err)?;
    module.clear_context(&mut ctx);
    Ok(id)
}

/// Emits the body of a fused loop at one element (scalar type) or one vector of
/// consecutive columns.
struct BodyEmitter<'a> {
    float: FloatType,
    g: &'a Graph,
    fusion: &'a fuse::Fusion,
    in_index: &'a HashMap<u32, (usize, usize)>,
    in_strides: &'a [(usize, usize)],
    low: Lowerer<'a>,
}

impl BodyEmitter<'_> {
    /// The values of every node at row `rv`, column `cv` (skipped nodes: a reserved value).
    fn body(
        &mut self,
        b: &mut FunctionBuilder,
        ty: types::Type,
        bases: &[Value],
        rv: Value,
        cv: Value,
    ) -> JitResult<Vec<Value>> {
        let g = self.g;
        let (sty, _, _) = float_types(self.float);
        let es = self.float.bytes();
        // The inputs are not written while the loop runs (the outputs are other buffers)
        // and every address read is in bounds (checked before the call): the loads may
        // move to their first use (or out of the loop), which shortens their live ranges.
        let input = MemFlagsData::new().with_notrap().with_readonly().with_can_move();
        let mut vals: Vec<Value> = Vec::with_capacity(g.nodes.len());
        for (i, op) in g.nodes.iter().enumerate() {
            if self.fusion.skip[i] {
                // Consumed by an `fma` or an accumulator update; never read on its own.
                vals.push(Value::reserved_value());
                continue;
            }
            let v = |a: NodeId| vals[a as usize];
            let val = if let Some(m) = self.fusion.fma[i] {
                // An `fneg` feeding `fma` lowers into `fnmadd` / `fmsub`, not an instruction.
                let p = if m.neg_product { b.ins().fneg(v(m.p)) } else { v(m.p) };
                let r = if m.neg_addend { b.ins().fneg(v(m.r)) } else { v(m.r) };
                b.ins().fma(p, v(m.q), r)
            } else {
                match *op {
                    Op::Input(j) => {
                        let (q, disp) = self.in_index[&j];
                        let (rs, cs) = self.in_strides[q];
                        let disp = (es * disp) as i32;
                        let a = b.ins().imul_imm_s(rv, (es * rs) as i64);
                        let cc = b.ins().imul_imm_s(cv, (es * cs) as i64);
                        let off = b.ins().iadd(a, cc);
                        let addr = b.ins().iadd(bases[q], off);
                        if ty == sty || cs == 0 {
                            let x = b.ins().load(sty, input.with_aligned(), addr, disp);
                            if ty == sty {
                                x
                            } else {
                                b.ins().splat(ty, x)
                            }
                        } else {
                            b.ins().load(ty, input, addr, disp)
                        }
                    }
                    Op::Const(k) => {
                        let x = lower::float_const(b, self.float, k);
                        if ty == sty {
                            x
                        } else {
                            b.ins().splat(ty, x)
                        }
                    }
                    Op::Guard { .. } => return Err(JitError::Unsupported("guards in a tensor loop".into())),
                    _ => {
                        let args: Vec<Value> = op.args().map(v).collect();
                        self.low.op(b, op, &args)?
                    }
                }
            };
            vals.push(val);
        }
        Ok(vals)
    }
}
