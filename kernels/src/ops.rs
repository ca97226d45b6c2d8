//! The op vocabulary shared by every back end.

/// Elementwise operations of one input.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum UnaryOp {
    Neg,
    Exp,
    Log,
    Sqrt,
    Abs,
    Relu,
    /// `x` if `x > 0`, else `slope * x`.
    LeakyRelu(f32),
    Sigmoid,
    Tanh,
    /// The exact (erf) form, as PyTorch's default `nn.GELU()`.
    Gelu,
    /// `1 / x`.
    Recip,
    Square,
    /// `x * c`.
    MulScalar(f32),
    /// `x + c`.
    AddScalar(f32),
    /// `x ^ c`.
    PowScalar(f32),
}

impl UnaryOp {
    /// A short lowercase name used in errors and op statistics.
    pub fn name(self) -> &'static str {
        match self {
            UnaryOp::Neg => "neg",
            UnaryOp::Exp => "exp",
            UnaryOp::Log => "log",
            UnaryOp::Sqrt => "sqrt",
            UnaryOp::Abs => "abs",
            UnaryOp::Relu => "relu",
            UnaryOp::LeakyRelu(_) => "leaky_relu",
            UnaryOp::Sigmoid => "sigmoid",
            UnaryOp::Tanh => "tanh",
            UnaryOp::Gelu => "gelu",
            UnaryOp::Recip => "recip",
            UnaryOp::Square => "square",
            UnaryOp::MulScalar(_) => "mul_scalar",
            UnaryOp::AddScalar(_) => "add_scalar",
            UnaryOp::PowScalar(_) => "pow_scalar",
        }
    }
}

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
