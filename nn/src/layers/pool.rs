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
