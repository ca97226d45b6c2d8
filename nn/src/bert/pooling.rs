//! Sentence-transformers' pooling: masked mean over tokens, then L2 normalisation (the engine's
//! `masked_mean` and `l2_normalize` ops, with the shape check and eps sentence-transformers uses).

use graft_engine::{Error, Result, Tensor};

/// The mean of `h` `[batch, seq, hidden]` over the positions where `mask` `[batch, seq]` is 1
/// (a row with no tokens gives 0, as sentence-transformers' clamp of the count to 1e-9 does).
pub fn masked_mean_pool(h: &Tensor, mask: &Tensor) -> Result<Tensor> {
    let (shape, m) = (h.shape(), mask.shape());
    if shape.len() != 3 || m != &shape[..2] {
        return Err(Error::ShapeMismatch {
            op: "masked_mean_pool",
            lhs: shape.to_vec(),
            rhs: m.to_vec(),
            hint: "hidden states are [batch, seq, hidden] and the mask [batch, seq]".into(),
        });
    }
    h.masked_mean(&mask.to_device(&h.device())?)
}

/// Each row of `x` `[batch, features]` divided by its Euclidean norm, or by 1e-12 when the
/// norm is smaller (PyTorch's `F.normalize(x, p=2, dim=1)`).
pub fn l2_normalize(x: &Tensor) -> Result<Tensor> {
    x.l2_normalize(1e-12)
}

#[cfg(test)]
mod tests {
    use super::*;
    use graft_engine::gradcheck::{check_gradients, GradCheck};
    use graft_engine::Rng;

    #[test]
    fn mean_pool_averages_only_the_kept_tokens() {
        let h = Tensor::from_vec((0..12).map(|v| v as f32).collect(), &[2, 3, 2]).unwrap();
        let mask = Tensor::from_vec(vec![1.0, 1.0, 0.0, 1.0, 0.0, 0.0], &[2, 3]).unwrap();
        assert_eq!(masked_mean_pool(&h, &mask).unwrap().to_vec().unwrap(), vec![1.0, 2.0, 6.0, 7.0]);
        let e = masked_mean_pool(&h, &Tensor::ones(&[2, 2])).unwrap_err().to_string();
        assert!(e.contains("masked_mean_pool"), "{e}");
    }

    #[test]
    fn normalised_rows_have_unit_norm_and_zero_rows_stay_zero() {
        let x = Tensor::from_vec(vec![3.0, 4.0, 0.0, 0.0], &[2, 2]).unwrap();
        assert_eq!(l2_normalize(&x).unwrap().to_vec().unwrap(), vec![0.6, 0.8, 0.0, 0.0]);
    }

    #[test]
    fn pooling_and_normalisation_pass_the_gradient_check() {
        let mut rng = Rng::new(3);
        let h = Tensor::randn(&[2, 4, 3], 0.0, 1.0, &mut rng);
        let mask = Tensor::from_vec(vec![1.0, 1.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0], &[2, 4]).unwrap();
        check_gradients(|t| l2_normalize(&masked_mean_pool(&t[0], &mask)?), &[h], GradCheck::default()).unwrap();
    }
}
