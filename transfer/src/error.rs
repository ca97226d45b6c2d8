//! Errors of the transfer workflow.

use std::fmt;

pub type Result<T> = std::result::Result<T, TransferError>;

/// What the transfer workflow can refuse.
#[derive(Debug)]
pub enum TransferError {
    /// A layer, loss, optimiser or file problem from the nn layer.
    Nn(graft_nn::NnError),
    /// A trainable mask that selects nothing or names an unknown layer.
    Mask(String),
    /// A head that does not fit the trunk, or a slice outside the model.
    Surgery(String),
    /// A schedule or sweep that cannot run as configured.
    Config(String),
}

impl fmt::Display for TransferError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransferError::Nn(e) => write!(f, "{e}"),
            TransferError::Mask(m) | TransferError::Surgery(m) | TransferError::Config(m) => write!(f, "{m}"),
        }
    }
}

impl std::error::Error for TransferError {}

impl From<graft_nn::NnError> for TransferError {
    fn from(e: graft_nn::NnError) -> Self {
        TransferError::Nn(e)
    }
}

impl From<graft_engine::Error> for TransferError {
    fn from(e: graft_engine::Error) -> Self {
        TransferError::Nn(graft_nn::NnError::Engine(e))
    }
}
