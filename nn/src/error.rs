//! Errors of the nn layer: engine errors, file formats, model files, training.

use std::fmt;

pub type Result<T> = std::result::Result<T, NnError>;

/// Everything nn can refuse.
#[derive(Debug)]
pub enum NnError {
    /// A tensor operation failed (shapes, devices).
    Engine(graft_engine::Error),
    /// A data or array file could not be read.
    Format(crate::formats::FormatError),
    /// An architecture spec string could not be parsed.
    Spec(String),
    /// A model file could not be read, written, or matched against the model.
    Model(String),
    /// Training produced a NaN or infinite loss; the weights are those before that step.
    NonFinite { epoch: usize, step: usize, loss: f32 },
    /// Data that does not fit the request (sizes, labels).
    Data(String),
    /// A refusal whose fix is a setting the caller can change: the message says what is wrong,
    /// and `fix` which setting mends it, so each front end can name the fix in its own terms
    /// (the Rust API names items such as `ImageLayout::Flat`, the CLI names `--layout flat`).
    Fixable { message: String, fix: Fix },
}

/// A setting that mends a [`NnError::Fixable`] refusal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fix {
    /// The file does not say its architecture: give it as a spec string.
    GiveSpec,
    /// The inputs are not images: read them flat (`[n, features]`) or as stored.
    FlatLayout,
    /// The file stores Keras `[in, out]` Dense kernels: load it in Keras layout, which
    /// transposes every Dense kernel (square ones included).
    KerasLayout,
    /// The file is not in Keras layout (no Keras names, no transposed kernels): load it as a
    /// PyTorch/graft state dict.
    TorchLayout,
    /// The targets are not class labels: read them as values.
    TargetsAsValues,
    /// The loss or metric needs class labels: read the targets as classes.
    TargetsAsClasses,
    /// Train with cross-entropy on class labels.
    CrossEntropyLoss,
    /// Train with binary cross-entropy on a 1-unit head.
    BceLoss,
    /// The model ends in an activation that the loss applies itself: remove that layer.
    RemoveFinalActivation {
        /// The layer as the spec language writes it (`softmax(1)`, `sigmoid`).
        layer: String,
    },
}

impl Fix {
    /// The fix in terms of the Rust API.
    pub fn rust(&self) -> String {
        match self {
            Fix::GiveSpec => "load it with load_model_with_spec(path, \"<spec>\")".into(),
            Fix::FlatLayout => "use ImageLayout::Flat or ImageLayout::AsStored for other inputs".into(),
            Fix::KerasLayout => "load it with LoadOptions::keras(), which transposes every Dense kernel".into(),
            Fix::TorchLayout => "load it with LoadOptions::torch()".into(),
            Fix::TargetsAsValues => "read the targets as TargetKind::Values".into(),
            Fix::TargetsAsClasses => "read the targets as TargetKind::Classes".into(),
            Fix::CrossEntropyLoss => "use LossKind::CrossEntropy with MetricKind::Accuracy".into(),
            Fix::BceLoss => "use LossKind::BceWithLogits with MetricKind::BinaryAccuracy".into(),
            Fix::RemoveFinalActivation { layer } => {
                format!("remove the final `{layer}` from the model: the loss takes logits and applies it itself")
            }
        }
    }
}

impl fmt::Display for NnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NnError::Engine(e) => write!(f, "{e}"),
            NnError::Format(e) => write!(f, "{e}"),
            NnError::Spec(m) | NnError::Model(m) | NnError::Data(m) => write!(f, "{m}"),
            NnError::Fixable { message, fix } => write!(f, "{message} — {}", fix.rust()),
            NnError::NonFinite { epoch, step, loss } => write!(
                f,
                "training stopped: the loss became {loss} at epoch {epoch}, step {step}; the weights are those before that step — lower the learning rate or check the data for NaN"
            ),
        }
    }
}

impl std::error::Error for NnError {}

impl NnError {
    /// A [`NnError::Fixable`] refusal.
    pub fn fixable(message: impl Into<String>, fix: Fix) -> Self {
        NnError::Fixable { message: message.into(), fix }
    }
}

impl From<graft_engine::Error> for NnError {
    fn from(e: graft_engine::Error) -> Self {
        NnError::Engine(e)
    }
}

impl From<crate::formats::FormatError> for NnError {
    fn from(e: crate::formats::FormatError) -> Self {
        NnError::Format(e)
    }
}
