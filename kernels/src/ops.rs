//! The op vocabulary shared by every back end.

/// Elementwise operations of one input, generated from the op table in
/// [`unary_table`](crate::unary_table) (one entry per op: name, formulas, derivative, tests).
pub use crate::unary_table::UnaryOp;

/// Elementwise operations of two inputs, with NumPy broadcasting.
///
/// Comparisons return 1.0 for true and 0.0 for false.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    Pow,
    Max,
    Min,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl BinaryOp {
    pub fn name(self) -> &'static str {
        match self {
            BinaryOp::Add => "add",
            BinaryOp::Sub => "sub",
            BinaryOp::Mul => "mul",
            BinaryOp::Div => "div",
            BinaryOp::Pow => "pow",
            BinaryOp::Max => "maximum",
            BinaryOp::Min => "minimum",
            BinaryOp::Eq => "eq",
            BinaryOp::Ne => "ne",
            BinaryOp::Lt => "lt",
            BinaryOp::Le => "le",
            BinaryOp::Gt => "gt",
            BinaryOp::Ge => "ge",
        }
    }

    #[inline(always)]
    pub fn apply(self, a: f32, b: f32) -> f32 {
        let bool_f = |c: bool| if c { 1.0 } else { 0.0 };
        match self {
            BinaryOp::Add => a + b,
            BinaryOp::Sub => a - b,
            BinaryOp::Mul => a * b,
            BinaryOp::Div => a / b,
            BinaryOp::Pow => a.powf(b),
            // NaN propagates, as in PyTorch's maximum/minimum.
            BinaryOp::Max => {
                if a.is_nan() || b.is_nan() {
                    f32::NAN
                } else {
                    a.max(b)
                }
            }
            BinaryOp::Min => {
                if a.is_nan() || b.is_nan() {
                    f32::NAN
                } else {
                    a.min(b)
                }
            }
            BinaryOp::Eq => bool_f(a == b),
            BinaryOp::Ne => bool_f(a != b),
            BinaryOp::Lt => bool_f(a < b),
            BinaryOp::Le => bool_f(a <= b),
            BinaryOp::Gt => bool_f(a > b),
            BinaryOp::Ge => bool_f(a >= b),
        }
    }
}

/// Reductions along one axis.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReduceOp {
    Sum,
    Max,
    Min,
}

impl ReduceOp {
    pub fn name(self) -> &'static str {
        match self {
            ReduceOp::Sum => "sum",
            ReduceOp::Max => "max",
            ReduceOp::Min => "min",
        }
    }
}
