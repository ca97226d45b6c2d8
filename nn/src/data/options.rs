//! [`LoadOptions`]: how a loader turns stored arrays into a [`Dataset`](super::Dataset).

/// The shape the inputs are given after loading.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ImageLayout {
    /// As stored in the file (`[n, 28, 28]` for IDX images).
    #[default]
    AsStored,
    /// `[n, features]`: every axis after the first flattened, for MLPs (`[n, 784]`).
    Flat,
    /// `[n, c, h, w]`, PyTorch's layout for convnets: `[n, h, w]` gains a channel axis
    /// (`[n, 1, 28, 28]`); 4-d inputs are kept as they are.
    Chw,
}

/// What the second array of a dataset file holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TargetKind {
    /// Integer arrays of one label per sample become [`Targets::Classes`](super::Targets::Classes);
    /// anything else (floats, booleans, several values per sample) becomes
    /// [`Targets::Values`](super::Targets::Values).
    #[default]
    Auto,
    /// Class labels: whole non-negative numbers, one per sample (`[n]` or `[n, 1]`), of any dtype.
    Classes,
    /// Values converted to f32 with their shape kept (regression, or 0/1 targets for BCE).
    Values,
}

/// How a loader converts stored arrays.
///
/// u8 inputs (image pixels) are always scaled to f32 in `[0, 1]` (divided by 255); other
/// dtypes are converted to f32 unchanged. `normalize` then maps `v → (v − mean) / std`.
///
/// ```
/// use graft_nn::data::{ImageLayout, LoadOptions};
/// // Fashion-MNIST for a convnet, normalised with the training set's statistics.
/// let opts = LoadOptions::chw().normalized(0.2860, 0.3530);
/// assert_eq!(opts.layout, ImageLayout::Chw);
/// // Keras' mnist.npz stores its arrays as x_train / y_train.
/// let keras = LoadOptions::flat().keys("x_train", "y_train");
/// assert_eq!(keras.x_key, "x_train");
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct LoadOptions {
    /// Shape of the inputs after loading.
    pub layout: ImageLayout,
    /// `(mean, std)` applied after scaling; `None` leaves the values as they are.
    pub normalize: Option<(f32, f32)>,
    /// How to read the targets.
    pub targets: TargetKind,
    /// Name of the inputs in `.npz` and `.safetensors` files (default `x`).
    pub x_key: String,
    /// Name of the targets in `.npz` and `.safetensors` files (default `y`).
    pub y_key: String,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            layout: ImageLayout::AsStored,
            normalize: None,
            targets: TargetKind::Auto,
            x_key: "x".into(),
            y_key: "y".into(),
        }
    }
}

impl LoadOptions {
    /// Inputs flattened to `[n, features]`.
    pub fn flat() -> Self {
        LoadOptions { layout: ImageLayout::Flat, ..Default::default() }
    }

    /// Inputs as `[n, c, h, w]`.
    pub fn chw() -> Self {
        LoadOptions { layout: ImageLayout::Chw, ..Default::default() }
    }

    /// Normalises inputs to `(v − mean) / std` after scaling.
    pub fn normalized(mut self, mean: f32, std: f32) -> Self {
        self.normalize = Some((mean, std));
        self
    }

    /// Reads targets as `kind`.
    pub fn targets(mut self, kind: TargetKind) -> Self {
        self.targets = kind;
        self
    }

    /// Names of the input and target arrays in `.npz` / `.safetensors` files.
    pub fn keys(mut self, x: &str, y: &str) -> Self {
        self.x_key = x.into();
        self.y_key = y.into();
        self
    }
}
