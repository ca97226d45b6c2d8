//! Weight initialisers by name (seeded, so a seed fixes a model's starting point).
//!
//! Each name behaves as in the framework it comes from:
//!
//! | name | weights | biases |
//! | --- | --- | --- |
//! | `torch_default` (graft's default) | PyTorch's Linear/Conv2d default, `U(−1/√fan_in, 1/√fan_in)` | the same |
//! | `he_normal` (Keras) | truncated normal, σ = √(2/fan_in) / 0.8796, cut at ±2σ | zeros |
//! | `he_uniform` (Keras) | `U(−√(6/fan_in), √(6/fan_in))` | zeros |
//! | `glorot_normal` (Keras) | truncated normal, σ = √(2/(fan_in+fan_out)) / 0.8796, cut at ±2σ | zeros |
//! | `glorot_uniform` (Keras' default) | `U(−√(6/(fan_in+fan_out)), …)` | zeros |
//! | `kaiming_normal` (PyTorch `kaiming_normal_`) | `N(0, 2/fan_in)` | PyTorch default |
//! | `kaiming_uniform` (PyTorch `kaiming_uniform_`, ReLU gain) | `U(−√(6/fan_in), √(6/fan_in))` | PyTorch default |
//! | `xavier_normal` (PyTorch) | `N(0, 2/(fan_in+fan_out))` | PyTorch default |
//! | `xavier_uniform` (PyTorch) | `U(−√(6/(fan_in+fan_out)), …)` | PyTorch default |
//! | `zeros` | zeros | zeros |
//!
//! Keras' truncated normals divide σ by 0.8796 (the spread of a unit normal cut at ±2) so the
//! drawn values keep the variance the name promises; PyTorch's normals are not truncated.
//! `fan_in`/`fan_out` for a weight `[out, in, k...]` are `in·Πk` and `out·Πk`, as PyTorch and
//! Keras compute them.
//!
//! ```
//! use graft_nn::init::Init;
//! let init: Init = "he_normal".parse()?;
//! assert_eq!(init, Init::HeNormal);
//! assert_eq!(init.name(), "he_normal");
//! # Ok::<(), graft_nn::NnError>(())
//! ```

use crate::NnError;
use graft_engine::{Rng, Tensor};

/// How to draw a layer's initial weights (and, by the convention of the name's framework, its
/// biases); see the [module](self) for each name's formula.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Init {
    /// PyTorch's default for Linear and Conv2d: `U(−1/√fan_in, 1/√fan_in)`, biases too.
    #[default]
    TorchDefault,
    /// Keras `he_normal`: truncated normal with variance `2/fan_in`; zero biases.
    HeNormal,
    /// Keras `he_uniform`: `U(−√(6/fan_in), √(6/fan_in))`; zero biases.
    HeUniform,
    /// Keras `glorot_normal`: truncated normal with variance `2/(fan_in+fan_out)`; zero biases.
    GlorotNormal,
    /// Keras `glorot_uniform` (Keras' default): `U(−√(6/(fan_in+fan_out)), …)`; zero biases.
    GlorotUniform,
    /// PyTorch `kaiming_normal_` (ReLU gain): `N(0, 2/fan_in)`; PyTorch's default biases.
    KaimingNormal,
    /// PyTorch `kaiming_uniform_` (ReLU gain): `U(−√(6/fan_in), √(6/fan_in))`; PyTorch's default biases.
    KaimingUniform,
    /// PyTorch `xavier_normal_`: `N(0, 2/(fan_in+fan_out))`; PyTorch's default biases.
    XavierNormal,
    /// PyTorch `xavier_uniform_`: `U(−√(6/(fan_in+fan_out)), …)`; PyTorch's default biases.
    XavierUniform,
    /// All zeros, weights and biases.
    Zeros,
}

/// `(fan_in, fan_out)` of a weight of `shape` laid out `[out, in, k...]`.
pub fn fans(shape: &[usize]) -> (usize, usize) {
    let receptive: usize = shape.iter().skip(2).product();
    let fan_in = shape.get(1).copied().unwrap_or(1) * receptive;
    let fan_out = shape.first().copied().unwrap_or(1) * receptive;
    (fan_in, fan_out)
}

/// Standard deviation of a unit normal truncated to `[−2, 2]` (Keras' correction factor).
const TRUNCATED_STD: f32 = 0.879_625_7;

impl Init {
    /// Every initialiser, in the order the docs list them.
    pub const ALL: [Init; 10] = [
        Init::TorchDefault,
        Init::HeNormal,
        Init::HeUniform,
        Init::GlorotNormal,
        Init::GlorotUniform,
        Init::KaimingNormal,
        Init::KaimingUniform,
        Init::XavierNormal,
        Init::XavierUniform,
        Init::Zeros,
    ];

    /// The name specs and the CLI use (`he_normal`, `torch_default`, …).
    pub fn name(self) -> &'static str {
        match self {
            Init::TorchDefault => "torch_default",
            Init::HeNormal => "he_normal",
            Init::HeUniform => "he_uniform",
            Init::GlorotNormal => "glorot_normal",
            Init::GlorotUniform => "glorot_uniform",
            Init::KaimingNormal => "kaiming_normal",
            Init::KaimingUniform => "kaiming_uniform",
            Init::XavierNormal => "xavier_normal",
            Init::XavierUniform => "xavier_uniform",
            Init::Zeros => "zeros",
        }
    }

    /// The initialiser of a layer's bias under this name's convention: Keras names start
    /// biases at zero (Keras' `bias_initializer="zeros"`), PyTorch names keep PyTorch's default.
    pub fn bias_init(self) -> Init {
        match self {
            Init::HeNormal | Init::HeUniform | Init::GlorotNormal | Init::GlorotUniform | Init::Zeros => Init::Zeros,
            Init::TorchDefault
            | Init::KaimingNormal
            | Init::KaimingUniform
            | Init::XavierNormal
            | Init::XavierUniform => Init::TorchDefault,
        }
    }

    /// Draws a tensor of `shape` whose fans are `(fan_in, fan_out)`.
    pub fn sample(self, shape: &[usize], fan_in: usize, fan_out: usize, rng: &mut Rng) -> Tensor {
        let (fi, fo) = (fan_in.max(1) as f32, fan_out.max(1) as f32);
        let uniform = |bound: f32, rng: &mut Rng| Tensor::rand_uniform(shape, -bound, bound, rng);
        match self {
            Init::TorchDefault => uniform(1.0 / fi.sqrt(), rng),
            Init::HeUniform | Init::KaimingUniform => uniform((6.0 / fi).sqrt(), rng),
            Init::GlorotUniform | Init::XavierUniform => uniform((6.0 / (fi + fo)).sqrt(), rng),
            Init::HeNormal => truncated_normal(shape, (2.0 / fi).sqrt() / TRUNCATED_STD, rng),
            Init::GlorotNormal => truncated_normal(shape, (2.0 / (fi + fo)).sqrt() / TRUNCATED_STD, rng),
            Init::KaimingNormal => Tensor::randn(shape, 0.0, (2.0 / fi).sqrt(), rng),
            Init::XavierNormal => Tensor::randn(shape, 0.0, (2.0 / (fi + fo)).sqrt(), rng),
            Init::Zeros => Tensor::zeros(shape),
        }
    }
}

/// `N(0, std²)` redrawn until within ±2·std, as Keras' `TruncatedNormal`.
fn truncated_normal(shape: &[usize], std: f32, rng: &mut Rng) -> Tensor {
    let n: usize = shape.iter().product();
    let values = (0..n)
        .map(|_| loop {
            let z = rng.normal();
            if z.abs() <= 2.0 {
                break z * std;
            }
        })
        .collect();
    Tensor::from_vec(values, shape).expect("the values were drawn for exactly this shape")
}

impl std::str::FromStr for Init {
    type Err = NnError;

    /// Parses a name (case-insensitive; `-` works for `_`). Unknown names are refused with the
    /// list of known ones.
    fn from_str(s: &str) -> Result<Init, NnError> {
        let key = s.trim().to_ascii_lowercase().replace('-', "_");
        Init::ALL.into_iter().find(|i| i.name() == key).ok_or_else(|| {
            let names: Vec<&str> = Init::ALL.iter().map(|i| i.name()).collect();
            NnError::Spec(format!("unknown initialiser `{s}`; known initialisers: {}", names.join(", ")))
        })
    }
}

impl std::fmt::Display for Init {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(v: &[f32]) -> (f32, f32) {
        let n = v.len() as f64;
        let mean = v.iter().map(|&x| f64::from(x)).sum::<f64>() / n;
        let var = v.iter().map(|&x| (f64::from(x) - mean).powi(2)).sum::<f64>() / n;
        (mean as f32, var as f32)
    }

    #[test]
    fn every_initialiser_has_the_mean_variance_and_bounds_of_its_formula() {
        // [out, in, kh, kw] = [64, 32, 3, 3]: fan_in 288, fan_out 576; 18 432 values.
        let shape = [64, 32, 3, 3];
        let (fi, fo) = fans(&shape);
        assert_eq!((fi, fo), (288, 576));
        let (fi, fo) = (fi as f32, fo as f32);
        for init in Init::ALL {
            let w = init.sample(&shape, 288, 576, &mut Rng::new(3)).to_vec().unwrap();
            let (mean, var) = stats(&w);
            let (want_var, bound) = match init {
                Init::TorchDefault => (1.0 / (3.0 * fi), Some(1.0 / fi.sqrt())),
                Init::HeUniform | Init::KaimingUniform => (2.0 / fi, Some((6.0 / fi).sqrt())),
                Init::GlorotUniform | Init::XavierUniform => (2.0 / (fi + fo), Some((6.0 / (fi + fo)).sqrt())),
                Init::HeNormal => (2.0 / fi, Some(2.0 * (2.0 / fi).sqrt() / TRUNCATED_STD)),
                Init::GlorotNormal => (2.0 / (fi + fo), Some(2.0 * (2.0 / (fi + fo)).sqrt() / TRUNCATED_STD)),
                Init::KaimingNormal => (2.0 / fi, None),
                Init::XavierNormal => (2.0 / (fi + fo), None),
                Init::Zeros => (0.0, Some(0.0)),
            };
            // 18 432 draws: the sample variance is within about 3 % of the true one (4 σ),
            // the mean within 4 σ of 0.
            assert!((var - want_var).abs() <= 0.04 * want_var, "{init}: variance {var}, want {want_var}");
            assert!(mean.abs() <= 4.0 * (want_var / w.len() as f32).sqrt(), "{init}: mean {mean}");
            if let Some(b) = bound {
                assert!(w.iter().all(|v| v.abs() <= b * 1.000_001), "{init}: a value beyond ±{b}");
                if init != Init::Zeros {
                    assert!(w.iter().any(|v| v.abs() > 0.95 * b), "{init}: nothing near the bound {b}");
                }
            } else {
                // Untruncated normals reach past 2σ (about 4.6 % of draws).
                let beyond = w.iter().filter(|v| v.abs() > 2.0 * want_var.sqrt()).count();
                assert!(beyond > w.len() / 40, "{init}: only {beyond} values beyond 2σ");
            }
        }
    }

    #[test]
    fn a_seed_fixes_the_draw() {
        for init in Init::ALL {
            let a = init.sample(&[5, 7], 7, 5, &mut Rng::new(11)).to_vec().unwrap();
            let b = init.sample(&[5, 7], 7, 5, &mut Rng::new(11)).to_vec().unwrap();
            assert_eq!(a, b, "{init}");
        }
        let a = Init::HeNormal.sample(&[5, 7], 7, 5, &mut Rng::new(1)).to_vec().unwrap();
        let b = Init::HeNormal.sample(&[5, 7], 7, 5, &mut Rng::new(2)).to_vec().unwrap();
        assert_ne!(a, b);
    }

    #[test]
    fn names_parse_and_unknown_ones_list_the_known() {
        for init in Init::ALL {
            assert_eq!(init.name().parse::<Init>().unwrap(), init);
        }
        assert_eq!("He-Normal".parse::<Init>().unwrap(), Init::HeNormal);
        let e = "he_norm".parse::<Init>().unwrap_err().to_string();
        assert!(e.contains("unknown initialiser `he_norm`") && e.contains("glorot_uniform"), "{e}");
        assert_eq!(Init::HeNormal.bias_init(), Init::Zeros);
        assert_eq!(Init::KaimingNormal.bias_init(), Init::TorchDefault);
        assert_eq!(Init::default(), Init::TorchDefault);
    }
}
