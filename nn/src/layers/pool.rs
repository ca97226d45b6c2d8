use super::conv::pair;
use crate::module::Module;
use graft_engine::{Error, Pool2dOptions, Result, Tensor};

/// Max pooling over `[n, c, h, w]` (PyTorch's `nn.MaxPool2d`, floor mode).
pub struct MaxPool2d(pub Pool2dOptions);

/// Average pooling over `[n, c, h, w]` (PyTorch's `nn.AvgPool2d`, padding counted).
pub struct AvgPool2d(pub Pool2dOptions);

/// Mean over the spatial axes: `[n, c, h, w] → [n, c]` (Keras' `GlobalAveragePooling2D`,
/// PyTorch's `AdaptiveAvgPool2d(1)` followed by flatten).
pub struct GlobalAvgPool;

fn pool_spec(name: &str, o: &Pool2dOptions) -> String {
    let mut s = format!("{name}({}", pair(o.kernel));
    if o.stride != o.kernel {
        s += &format!(",stride={}", pair(o.stride));
    }
    if o.padding != (0, 0) {
        s += &format!(",padding={}", pair(o.padding));
    }
    s + ")"
}

impl Module for MaxPool2d {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.max_pool2d(self.0)
    }
    fn spec(&self) -> String {
        pool_spec("maxpool2d", &self.0)
    }
    /// Max pooling keeps each window's first maximum (or first NaN); a ReLU keeps NaN, never
    /// makes a smaller value larger than a bigger one, and maps every value `<= 0` to `+0`.
    /// So the pooled value and the position its gradient goes to agree in both orders, and
    /// wherever they could pick different positions (all of a window `<= 0`) the gradient
    /// is zero either way.
    fn commutes_with_relu(&self) -> bool {
        true
    }
    fn clone_module(&self) -> Result<Box<dyn Module>> {
        Ok(Box::new(MaxPool2d(self.0)))
    }
}

impl Module for AvgPool2d {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.avg_pool2d(self.0)
    }
    fn spec(&self) -> String {
        pool_spec("avgpool2d", &self.0)
    }
    fn clone_module(&self) -> Result<Box<dyn Module>> {
        Ok(Box::new(AvgPool2d(self.0)))
    }
}

impl Module for GlobalAvgPool {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        if x.rank() != 4 {
            return Err(Error::BadShape {
                op: "global_avg_pool",
                shape: x.shape().to_vec(),
                reason: "expects [n, c, h, w]".into(),
            });
        }
        x.flatten(2, 3)?.mean(2, false)
    }
    fn spec(&self) -> String {
        "globalavgpool".into()
    }
    fn clone_module(&self) -> Result<Box<dyn Module>> {
        Ok(Box::new(GlobalAvgPool))
    }
}

#[cfg(test)]
mod tests {
    use crate::{parse_spec, Module};
    use graft_engine::{Rng, Tensor};

    /// `relu, maxpool2d` runs the pool first inside a Sequential; its values must be bit for
    /// bit, and its input gradients equal to, those of the layers run one by one as written,
    /// on data with ties, signed zeros, negatives-only windows, NaNs and an odd width. (The
    /// gradients may differ in the sign of a zero: the ReLU's backward as written multiplies
    /// a negative upstream value by 0.)
    #[test]
    fn a_relu_moved_behind_a_max_pool_gives_the_same_bits() {
        let mut rng = Rng::new(3);
        let shape = [2, 3, 6, 7];
        let n: usize = shape.iter().product();
        let special = [0.0, -0.0, 1.5, 1.5, -2.0, f32::NAN, -1.0, 0.25];
        let data: Vec<f32> = Tensor::randn(&[n], 0.0, 1.0, &mut rng)
            .to_vec()
            .expect("a CPU tensor reads back")
            .into_iter()
            .enumerate()
            .map(|(i, v)| if i % 5 == 0 { special[(i / 5) % special.len()] } else { v })
            .collect();
        for spec in ["relu,maxpool2d(2)", "relu,maxpool2d(3,stride=2,padding=1)"] {
            let net = parse_spec(spec, 0).expect("a valid spec");
            let run = |as_written: bool| {
                let x = Tensor::from_vec(data.clone(), &shape).and_then(|x| x.requires_grad_(true)).expect("fits");
                let mut h = x.clone();
                if as_written {
                    for (_, layer) in net.iter() {
                        h = layer.forward(&h).expect("layers run");
                    }
                } else {
                    h = net.forward(&x).expect("the model runs");
                }
                let bits =
                    |t: &Tensor| -> Vec<u32> { t.to_vec().expect("reads back").iter().map(|v| v.to_bits()).collect() };
                let out = bits(&h);
                let up = Tensor::randn(h.shape(), 0.0, 1.0, &mut Rng::new(5));
                h.mul(&up).and_then(|p| p.sum_to(&[])).and_then(|l| l.backward()).expect("backward runs");
                (out, x.grad().expect("x has a gradient").to_vec().expect("reads back"))
            };
            let ((moved, moved_grad), (written, written_grad)) = (run(false), run(true));
            assert_eq!(moved, written, "{spec}: values");
            assert!(written_grad.iter().all(|g| g.is_finite()), "{spec}: the check needs finite gradients");
            assert_eq!(moved_grad, written_grad, "{spec}: gradients");
        }
    }
}
