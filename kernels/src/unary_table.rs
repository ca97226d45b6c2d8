//! The unary op table: every elementwise op of one input, declared once.
//!
//! [`for_each_unary_op!`](crate::for_each_unary_op) holds one entry per op and hands the whole
//! table to a *callback* macro, which picks the fields it needs. From it come:
//!
//! - here: the [`UnaryOp`] enum (variant docs are the entries' doc lines), `name()`, the GPU op
//!   code, [`UnaryOp::ALL`] (each op with its sample parameter), [`UnaryOp::domain`] and
//!   [`UnaryOp::tolerance`] for tests;
//! - `cpu/unary.rs`: one tight loop per op for the forward and the fused backward kernels (the
//!   match stays outside the loop, so each loop vectorises), and the scalar
//!   [`UnaryOp::apply`] / [`UnaryOp::derivative`];
//! - `gpu/unary.rs` (feature `gpu`): the `switch` of `unary.wgsl` and `unary_backward.wgsl`,
//!   whose `default` returns NaN, so an op without a case can never compute a wrong value;
//! - `graft-engine`'s `ops/unary.rs`: the `Tensor` method named after each op.
//!
//! An entry reads
//!
//! ```text
//! /// Doc line (also the Tensor method's doc), with the derivative.
//! Variant(param: f32 = sample) => method_name {
//!     cpu: |x| forward expression of x (and param),
//!     cpu_grad: |x, y| derivative from the input x and/or the output y,
//!     wgsl: "the same forward in WGSL, of x (and the parameter by its name)",
//!     wgsl_grad: "the derivative in WGSL, of x and/or y",
//!     domain: Real | Positive,   // where random test inputs are drawn
//!     tol: EXACT | TRANSCENDENTAL, // GPU against CPU, forward
//! }
//! ```
//!
//! CPU expressions may call the helpers of `cpu/unary.rs` (`relu`, `sigmoid`, `gelu`,
//! `gelu_derivative`); WGSL snippets those of `gpu/unary_prelude.wgsl` (`erf_`, `sigmoid`,
//! `log1p_`) and `common.wgsl` (`pow_c`, `nan_f32`, `inf_f32`). Parameterless variants omit the
//! parenthesis; the method then takes no argument.

/// Calls `$callback! { table }` with every unary op's entry (see the [module](self) doc for an
/// entry's shape). Exported so that `graft-engine` generates its `Tensor` methods from it.
#[macro_export]
macro_rules! for_each_unary_op {
    ($callback:ident) => {
        $callback! {
            /// `−x`. Derivative: −1.
            Neg => neg {
                cpu: |x| -x,
                cpu_grad: |x, y| -1.0,
                wgsl: "-x",
                wgsl_grad: "-1.0",
                domain: Real,
                tol: EXACT,
            }
            /// `eˣ`. Derivative: `y`.
            Exp => exp {
                cpu: |x| x.exp(),
                cpu_grad: |x, y| y,
                wgsl: "exp(x)",
                wgsl_grad: "y",
                domain: Real,
                tol: TRANSCENDENTAL,
            }
            /// Natural logarithm. Derivative: `1/x`.
            Log => log {
                cpu: |x| x.ln(),
                cpu_grad: |x, y| 1.0 / x,
                wgsl: "log(x)",
                wgsl_grad: "1.0 / x",
                domain: Positive,
                tol: TRANSCENDENTAL,
            }
            /// `√x`. Derivative: `1/(2y)`.
            Sqrt => sqrt {
                cpu: |x| x.sqrt(),
                cpu_grad: |x, y| 0.5 / y,
                wgsl: "sqrt(x)",
                wgsl_grad: "0.5 / y",
                domain: Positive,
                tol: TRANSCENDENTAL,
            }
            /// `|x|`. Derivative: `sign(x)` (0 at 0).
            Abs => abs {
                cpu: |x| x.abs(),
                cpu_grad: |x, y| x.signum() * if x == 0.0 { 0.0 } else { 1.0 },
                wgsl: "abs(x)",
                wgsl_grad: "sign(x)",
                domain: Real,
                tol: EXACT,
            }
            /// `max(x, 0)`, NaN kept (as PyTorch). Derivative: `[x > 0]`.
            Relu => relu {
                cpu: |x| relu(x),
                cpu_grad: |x, y| if x > 0.0 { 1.0 } else { 0.0 },
                wgsl: "select(0.0, x, x > 0.0)",
                wgsl_grad: "select(0.0, 1.0, x > 0.0)",
                domain: Real,
                tol: EXACT,
            }
            /// `min(max(x, 0), 6)` (MobileNet's activation, PyTorch's `nn.ReLU6`).
            /// Derivative: 1 inside (0, 6), 0 outside (PyTorch's `hardtanh` gradient).
            Relu6 => relu6 {
                cpu: |x| x.clamp(0.0, 6.0),
                cpu_grad: |x, y| if x > 0.0 && x < 6.0 { 1.0 } else { 0.0 },
                wgsl: "select(clamp(x, 0.0, 6.0), x, x != x)",
                wgsl_grad: "select(0.0, 1.0, x > 0.0 && x < 6.0)",
                domain: Real,
                tol: EXACT,
            }
            /// `x` for positive `x`, `slope · x` otherwise (PyTorch's default slope is 0.01).
            /// Derivative: 1 or `slope`.
            LeakyRelu(slope: f32 = 0.1) => leaky_relu {
                cpu: |x| if x > 0.0 { x } else { slope * x },
                cpu_grad: |x, y| if x > 0.0 { 1.0 } else { slope },
                wgsl: "select(slope * x, x, x > 0.0)",
                wgsl_grad: "select(slope, 1.0, x > 0.0)",
                domain: Real,
                tol: EXACT,
            }
            /// `σ(x) = 1/(1 + e⁻ˣ)`. Derivative: `y(1 − y)`.
            Sigmoid => sigmoid {
                cpu: |x| sigmoid(x),
                cpu_grad: |x, y| y * (1.0 - y),
                wgsl: "sigmoid(x)",
                wgsl_grad: "y * (1.0 - y)",
                domain: Real,
                tol: TRANSCENDENTAL,
            }
            /// `tanh x`. Derivative: `1 − y²`.
            // The WGSL clamp: tanh is ±1 in f32 past |x| = 10, and some drivers compute inf/inf.
            Tanh => tanh {
                cpu: |x| x.tanh(),
                cpu_grad: |x, y| 1.0 - y * y,
                wgsl: "tanh(clamp(x, -15.0, 15.0))",
                wgsl_grad: "1.0 - y * y",
                domain: Real,
                tol: TRANSCENDENTAL,
            }
            /// GELU in its exact erf form, `x Φ(x)` (PyTorch's `nn.GELU()` default).
            /// Derivative: `Φ(x) + x φ(x)`.
            Gelu => gelu {
                cpu: |x| gelu(x),
                cpu_grad: |x, y| gelu_derivative(x),
                wgsl: "0.5 * x * (1.0 + erf_(x * 0.70710678118654752))",
                wgsl_grad: "0.5 * (1.0 + erf_(x * 0.70710678118654752)) + x * (exp(-0.5 * x * x) * 0.39894228040143268)",
                domain: Real,
                tol: TRANSCENDENTAL,
            }
            /// `1/x`. Derivative: `−y²`.
            Recip => recip {
                cpu: |x| 1.0 / x,
                cpu_grad: |x, y| -y * y,
                wgsl: "1.0 / x",
                wgsl_grad: "-y * y",
                domain: Positive,
                tol: TRANSCENDENTAL,
            }
            /// `x²`. Derivative: `2x`.
            Square => square {
                cpu: |x| x * x,
                cpu_grad: |x, y| 2.0 * x,
                wgsl: "x * x",
                wgsl_grad: "2.0 * x",
                domain: Real,
                tol: EXACT,
            }
            /// `x · c`. Derivative: `c`.
            MulScalar(c: f32 = -2.5) => mul_scalar {
                cpu: |x| x * c,
                cpu_grad: |x, y| c,
                wgsl: "x * c",
                wgsl_grad: "c",
                domain: Real,
                tol: EXACT,
            }
            /// `x + c`. Derivative: 1.
            AddScalar(c: f32 = 3.0) => add_scalar {
                cpu: |x| x + c,
                cpu_grad: |x, y| 1.0,
                wgsl: "x + c",
                wgsl_grad: "1.0",
                domain: Real,
                tol: EXACT,
            }
            /// `xᶜ` (C's `powf` conventions). Derivative: `c · xᶜ⁻¹` (0 when `c = 0`).
            PowScalar(c: f32 = 1.7) => pow_scalar {
                cpu: |x| x.powf(c),
                cpu_grad: |x, y| if c == 0.0 { 0.0 } else { c * x.powf(c - 1.0) },
                wgsl: "pow_c(x, c)",
                wgsl_grad: "select(c * pow_c(x, c - 1.0), 0.0, c == 0.0)",
                domain: Positive,
                tol: TRANSCENDENTAL,
            }
            /// `ln(1 + eˣ)`, or `x` past 20 (PyTorch's `F.softplus`, beta 1, threshold 20).
            /// Derivative: `σ(x)`.
            Softplus => softplus {
                cpu: |x| if x > 20.0 { x } else { x.exp().ln_1p() },
                cpu_grad: |x, y| sigmoid(x),
                wgsl: "select(log1p_(exp(x)), x, x > 20.0)",
                wgsl_grad: "sigmoid(x)",
                domain: Real,
                tol: TRANSCENDENTAL,
            }
        }
    };
}

/// Where an op's random test inputs are drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Domain {
    /// Any sign (tests keep away from 0, where relu and abs have kinks).
    Real,
    /// Positive only (log, sqrt, recip, fractional powers).
    Positive,
}

/// `|gpu − cpu| ≤ abs + rel·|cpu|`, the forward agreement expected between back ends.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tolerance {
    pub abs: f32,
    pub rel: f32,
}

impl Tolerance {
    /// Arithmetic that WGSL rounds like Rust.
    pub const EXACT: Tolerance = Tolerance { abs: 1e-5, rel: 1e-5 };
    /// WGSL's `exp`/`log`/`pow`/`tanh` are not correctly rounded.
    pub const TRANSCENDENTAL: Tolerance = Tolerance { abs: 1e-5, rel: 1e-4 };
}

macro_rules! define_unary_op {
    ($(
        $(#[doc = $doc:expr])*
        $variant:ident $(($param:ident : $pty:ty = $sample:expr))? => $name:ident {
            cpu: |$x:ident| $fwd:expr,
            cpu_grad: |$gx:ident, $gy:ident| $grad:expr,
            wgsl: $wgsl:expr,
            wgsl_grad: $wgsl_grad:expr,
            domain: $domain:ident,
            tol: $tol:ident $(,)?
        }
    )*) => {
        /// Elementwise operations of one input, generated from
        /// [`for_each_unary_op!`](crate::for_each_unary_op) (each variant's doc gives its
        /// derivative).
        #[derive(Clone, Copy, Debug, PartialEq)]
        pub enum UnaryOp {
            $( $(#[doc = $doc])* $variant $(($pty))?, )*
        }

        /// The GPU op code of each variant: its position in the table.
        #[repr(u32)]
        #[derive(Clone, Copy)]
        #[allow(dead_code)] // read through `as u32` only, and only by the GPU back end
        pub(crate) enum UnaryOpCode {
            $( $variant, )*
        }

        impl UnaryOp {
            /// Every op, the parameterised ones with a sample parameter, in table order (the
            /// order of the GPU op codes).
            pub const ALL: &'static [UnaryOp] = &[ $( UnaryOp::$variant $(($sample))?, )* ];

            /// A short lowercase name used in errors and op statistics (the `Tensor` method's name).
            pub fn name(self) -> &'static str {
                match self {
                    $( UnaryOp::$variant { .. } => stringify!($name), )*
                }
            }

            /// The op's code in the WGSL `switch` (its position in the table).
            pub fn code(self) -> u32 {
                match self {
                    $( UnaryOp::$variant { .. } => UnaryOpCode::$variant as u32, )*
                }
            }

            /// The scalar parameter of `LeakyRelu`, `MulScalar`, `AddScalar`, `PowScalar`.
            pub fn parameter(self) -> Option<f32> {
                match self {
                    $( UnaryOp::$variant $(($param))? => None $( .or(Some($param)) )?, )*
                }
            }

            /// Where random test inputs for the op are drawn.
            pub fn domain(self) -> Domain {
                match self {
                    $( UnaryOp::$variant { .. } => Domain::$domain, )*
                }
            }

            /// How closely the GPU forward is expected to match the CPU.
            pub fn tolerance(self) -> Tolerance {
                match self {
                    $( UnaryOp::$variant { .. } => Tolerance::$tol, )*
                }
            }
        }
    };
}

crate::for_each_unary_op!(define_unary_op);
