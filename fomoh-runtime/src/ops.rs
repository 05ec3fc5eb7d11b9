//! The operation enums, generated from the one list of operations (`fomoh_ops`).
//!
//! [`UnaryOp`] and [`BinaryOp`] have one variant per entry of `fomoh_ops::for_each_unary!` /
//! `for_each_binary!` (plus [`UnaryOp::Custom`] for a user's [`crate::Primitive`]); their
//! names, parameters, hashing and the list the tests walk ([`UnaryOp::samples`]) are
//! generated here too. The rules themselves are in [`crate::rules`].

use crate::primitive::CustomOp;

/// A constant parameter of a unary operation (`powi`'s exponent, `clamp`'s bounds).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum OpParam {
    /// An integer parameter.
    Int(i32),
    /// A real parameter.
    Real(f64),
}

/// How a parameter type becomes an [`OpParam`] and enters a hash.
trait Param: Copy {
    fn param(self) -> OpParam;
}
impl Param for i32 {
    fn param(self) -> OpParam {
        OpParam::Int(self)
    }
}
impl Param for f64 {
    fn param(self) -> OpParam {
        OpParam::Real(self)
    }
}

impl core::hash::Hash for OpParam {
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        match *self {
            OpParam::Int(n) => (0u8, n as u64).hash(state),
            OpParam::Real(p) => (1u8, p.to_bits()).hash(state),
        }
    }
}

macro_rules! unary_enum {
    ([] $( $doc:literal $V:ident $( ( $($p:ident : $pt:ty = $s:expr),+ ) )? $m:ident [$lo:expr, $hi:expr] ; )*) => {
        /// The elementary unary functions: one variant per entry of the operation list, and
        /// [`UnaryOp::Custom`] for a user's [`crate::Primitive`]. The JIT's IR uses the same
        /// enum for its elementwise ops.
        #[derive(Clone, Copy, Debug, PartialEq)]
        pub enum UnaryOp {
            $(#[doc = $doc] $V $( ( $($pt),+ ) )?,)*
            /// A user-defined primitive (see [`crate::Primitive`]).
            Custom(CustomOp),
        }

        impl UnaryOp {
            /// The method name on `Real`/`Scalar` (`"exp"`, `"powi"`; a primitive's `NAME`).
            pub fn method(self) -> &'static str {
                match self {
                    $(UnaryOp::$V { .. } => stringify!($m),)*
                    UnaryOp::Custom(c) => c.name(),
                }
            }

            /// The constant parameters, in order (`[Int(3)]` for `powi(3)`).
            pub fn params(self) -> Vec<OpParam> {
                match self {
                    $(UnaryOp::$V $( ( $($p),+ ) )? => vec![$($(Param::param($p)),+)?],)*
                    UnaryOp::Custom(_) => Vec::new(),
                }
            }

            /// Every operation of the list, with the sample parameters of the list (the
            /// operations the per-operation tests walk), each with the interval inside its
            /// domain where tests sample points.
            pub fn samples() -> Vec<(UnaryOp, [f64; 2])> {
                vec![$((UnaryOp::$V $( ( $($s),+ ) )?, [$lo, $hi])),*]
            }
        }
    };
}
fomoh_ops::for_each_unary!(unary_enum);

impl Eq for UnaryOp {}

impl core::hash::Hash for UnaryOp {
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        core::mem::discriminant(self).hash(state);
        match self {
            UnaryOp::Custom(c) => c.hash(state),
            op => op.params().hash(state),
        }
    }
}

impl UnaryOp {
    /// A short lower-case name (`"exp"`, `"powi(3)"`, `"clamp(-1, 1)"`), used in IR dumps and
    /// error messages.
    pub fn name(self) -> String {
        let params = self.params();
        if params.is_empty() {
            return self.method().to_string();
        }
        let shown: Vec<String> = params
            .iter()
            .map(|p| match p {
                OpParam::Int(n) => n.to_string(),
                OpParam::Real(r) => r.to_string(),
            })
            .collect();
        format!("{}({})", self.method(), shown.join(", "))
    }

    /// The unary operation of the primitive `P` (value lane; see [`crate::Primitive`]).
    pub fn custom<P: crate::Primitive>() -> UnaryOp {
        UnaryOp::Custom(CustomOp::of::<P>())
    }
}

macro_rules! binary_enum {
    ([] ops { $($od:literal $O:ident $on:ident [$($ol:tt)*] [$($oh:tt)*];)* }
        fns { $( $doc:literal $V:ident $m:ident [$($a:tt)*] [$($b:tt)*] ; )* }) => {
        /// The binary functions (arithmetic included, for IR and generic lifting): one variant
        /// per entry of the operation list.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum BinaryOp {
            $(#[doc = $od] $O,)*
            $(#[doc = $doc] $V,)*
        }

        impl BinaryOp {
            /// A short lower-case name (`"add"`, `"atan2"`).
            pub fn name(self) -> &'static str {
                match self {
                    $(BinaryOp::$O => stringify!($on),)*
                    $(BinaryOp::$V => stringify!($m),)*
                }
            }

            /// Every binary operation of the list with the intervals where tests sample its
            /// two arguments.
            pub fn samples() -> Vec<(BinaryOp, [f64; 2], [f64; 2])> {
                vec![$((BinaryOp::$O, [$($ol)*], [$($oh)*]),)* $((BinaryOp::$V, [$($a)*], [$($b)*]),)*]
            }

            /// Whether the operation is an arithmetic operator (`+ - * /`) rather than a method.
            pub fn is_arithmetic(self) -> bool {
                matches!(self, $(BinaryOp::$O)|*)
            }
        }
    };
}
fomoh_ops::for_each_binary!(binary_enum);
