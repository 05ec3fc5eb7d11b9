//! ndarray: the number types as scalar operands (`&array * x`, `array += x`).
//!
//! Arrays of numbers need nothing more: their elementwise arithmetic and `dot` (through
//! `ndarray::LinalgScalar`, which `Zero`, `One` and the operators give) already work.

use super::for_each_number;
use crate::hyperk::{Dim, Packed};
use crate::real::RealNum;
use crate::{HyperDual, HyperK, Jet};

macro_rules! scalar_operand_impl {
    ([$($g:tt)*] $ty:ty, [$($w:tt)*]) => {
        impl<$($g)*> ndarray::ScalarOperand for $ty where $($w)* {}
    };
}

for_each_number!(scalar_operand_impl);
