//! Gradient checking by central finite differences.
//!
//! The function under test runs in f32, as in training. To keep the comparison meaningful the
//! scalar that is differentiated, `L = Σ yᵢ rᵢ` (fixed pseudo-random weights `rᵢ`, so every
//! output element matters and errors cannot cancel), is accumulated in f64 from the f32
//! outputs. With the default step `eps = 1e-3` the finite difference is accurate to about
//! `1e-4 · |y|·√n` for smooth functions, so the default tolerance is
//! `|analytic − numeric| ≤ 2e-3 + 1e-2 · max(|analytic|, |numeric|)`. Inputs must stay farther
//! than `eps` from kinks (relu at 0, ties in max) for the check to be valid there.

use crate::{no_grad, Error, Result, Rng, Tensor};
use std::fmt;

/// Step and tolerances of a gradient check.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GradCheck {
    pub eps: f64,
    pub atol: f64,
    pub rtol: f64,
}

impl Default for GradCheck {
    fn default() -> Self {
        GradCheck { eps: 1e-3, atol: 2e-3, rtol: 1e-2 }
    }
}

/// Why a gradient check failed.
#[derive(Debug)]
pub enum GradCheckError {
    /// The function or its backward pass returned an error.
    Engine(Error),
    /// Analytic and numeric derivatives disagree.
    Mismatch { input: usize, element: usize, analytic: f64, numeric: f64 },
}

impl fmt::Display for GradCheckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GradCheckError::Engine(e) => write!(f, "{e}"),
            GradCheckError::Mismatch { input, element, analytic, numeric } => write!(
                f,
                "gradient of input {input}, element {element}: backward gives {analytic:.6}, finite differences give {numeric:.6}"
            ),
        }
    }
}

impl std::error::Error for GradCheckError {}

impl From<Error> for GradCheckError {
    fn from(e: Error) -> Self {
        GradCheckError::Engine(e)
    }
}

/// Checks the gradients `backward()` gives for `f` with respect to every input against central
/// finite differences. The inputs are copied as fresh leaves; the originals are not touched.
///
/// ```
/// use graft_engine::{gradcheck::{check_gradients, GradCheck}, Tensor};
/// let x = Tensor::from_vec(vec![0.3, -1.2, 2.0], &[3]).unwrap();
/// check_gradients(|t| t[0].tanh(), &[x], GradCheck::default()).unwrap();
/// ```
pub fn check_gradients(
    f: impl Fn(&[Tensor]) -> Result<Tensor>,
    inputs: &[Tensor],
    opts: GradCheck,
) -> std::result::Result<(), GradCheckError> {
    let leaves = inputs.iter().map(|t| t.deep_clone()?.requires_grad_(true)).collect::<Result<Vec<_>>>()?;
    let y = f(&leaves)?;
    let mut rng = Rng::new(0x6AAD_C4EC);
    let weights: Vec<f32> = (0..y.numel()).map(|_| rng.uniform(-1.0, 1.0)).collect();
    let w = Tensor::from_vec(weights.clone(), y.shape())?.to_device(&y.device())?;
    y.mul(&w)?.sum_all()?.backward()?;

    let weighted_sum = |ts: &[Tensor]| -> Result<f64> {
        let out = no_grad(|| f(ts))?.to_vec()?;
        Ok(out.iter().zip(&weights).map(|(&a, &b)| a as f64 * b as f64).sum())
    };
    for (i, leaf) in leaves.iter().enumerate() {
        let analytic = match leaf.grad() {
            Some(g) => g.to_vec()?,
            None => vec![0.0; leaf.numel()],
        };
        let base = leaf.to_vec()?;
        for j in 0..base.len() {
            let probe = |delta: f64| -> Result<f64> {
                let mut data = base.clone();
                data[j] = (base[j] as f64 + delta) as f32;
                let mut ts: Vec<Tensor> = leaves.iter().map(Tensor::detach).collect();
                ts[i] = Tensor::from_vec(data, leaf.shape())?.to_device(&leaf.device())?;
                weighted_sum(&ts)
            };
            let numeric = (probe(opts.eps)? - probe(-opts.eps)?) / (2.0 * opts.eps);
            let a = analytic[j] as f64;
            if (a - numeric).abs() > opts.atol + opts.rtol * a.abs().max(numeric.abs()) {
                return Err(GradCheckError::Mismatch { input: i, element: j, analytic: a, numeric });
            }
        }
    }
    Ok(())
}
