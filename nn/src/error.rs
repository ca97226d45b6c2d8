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
}

impl fmt::Display for NnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NnError::Engine(e) => write!(f, "{e}"),
            NnError::Format(e) => write!(f, "{e}"),
            NnError::Spec(m) | NnError::Model(m) | NnError::Data(m) => write!(f, "{m}"),
            NnError::NonFinite { epoch, step, loss } => write!(
                f,
                "training stopped: the loss became {loss} at epoch {epoch}, step {step}; the weights are those before that step — lower the learning rate or check the data for NaN"
            ),
        }
    }
}

impl std::error::Error for NnError {}

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
