//! The one error type of the format readers and writers.

use std::fmt;
use std::io;

/// Result alias used throughout [`crate::formats`].
pub type Result<T, E = FormatError> = std::result::Result<T, E>;

/// Everything that can go wrong while reading or writing an array file.
///
/// Every message names the file (as the caller spelled it), says what is wrong and how to fix it, e.g.
/// `train-images.idx3-ubyte: IDX header says 60000x28x28 u8 (47040000 bytes) but only 1000 bytes follow —
/// the file is truncated; download or write it again`.
#[derive(Debug)]
#[non_exhaustive]
pub enum FormatError {
    /// The file could not be opened, read or written.
    Io {
        /// The file as the caller named it.
        file: String,
        /// The operating system's error.
        source: io::Error,
    },
    /// The file ends before the data its header promises.
    Truncated {
        /// The file as the caller named it.
        file: String,
        /// What was expected and what was found.
        problem: String,
    },
    /// The bytes do not follow the format (wrong magic number, garbled header, checksum mismatch, ...).
    Corrupt {
        /// The file as the caller named it.
        file: String,
        /// What is wrong.
        problem: String,
        /// What the user can do about it.
        fix: String,
    },
    /// A valid file using a feature these readers do not support (a dtype, zip64, encryption, ...).
    Unsupported {
        /// The file as the caller named it.
        file: String,
        /// What is not supported.
        problem: String,
        /// What the user can do about it.
        fix: String,
    },
    /// An in-memory array whose shape and data disagree, or that a format cannot hold.
    InvalidArray {
        /// What is wrong.
        problem: String,
    },
    /// A value that cannot serve as a class label (negative, fractional, not finite).
    BadLabel {
        /// Position of the offending value in the flattened array.
        position: usize,
        /// The value, as text.
        value: String,
        /// Why it was refused.
        problem: &'static str,
    },
}

impl FormatError {
    pub(crate) fn io(file: &str, source: io::Error) -> Self {
        FormatError::Io { file: file.to_string(), source }
    }

    pub(crate) fn truncated(file: &str, problem: impl Into<String>) -> Self {
        FormatError::Truncated { file: file.to_string(), problem: problem.into() }
    }

    pub(crate) fn corrupt(file: &str, problem: impl Into<String>, fix: impl Into<String>) -> Self {
        FormatError::Corrupt { file: file.to_string(), problem: problem.into(), fix: fix.into() }
    }

    pub(crate) fn unsupported(file: &str, problem: impl Into<String>, fix: impl Into<String>) -> Self {
        FormatError::Unsupported { file: file.to_string(), problem: problem.into(), fix: fix.into() }
    }

    pub(crate) fn invalid(problem: impl Into<String>) -> Self {
        FormatError::InvalidArray { problem: problem.into() }
    }

    /// Prefixes the file name of a nested error (an `.npy` entry inside an `.npz` archive).
    pub(crate) fn within(self, outer: &str) -> Self {
        let wrap = |file: String| format!("{outer}[{file}]");
        match self {
            FormatError::Io { file, source } => FormatError::Io { file: wrap(file), source },
            FormatError::Truncated { file, problem } => FormatError::Truncated { file: wrap(file), problem },
            FormatError::Corrupt { file, problem, fix } => FormatError::Corrupt { file: wrap(file), problem, fix },
            FormatError::Unsupported { file, problem, fix } => {
                FormatError::Unsupported { file: wrap(file), problem, fix }
            }
            other => other,
        }
    }
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FormatError::Io { file, source } => {
                let fix = match source.kind() {
                    io::ErrorKind::NotFound => "check the path",
                    io::ErrorKind::PermissionDenied => "check the file's permissions",
                    _ => "check that the path is a readable (or writable) regular file",
                };
                write!(f, "{file}: {source} — {fix}")
            }
            FormatError::Truncated { file, problem } => {
                write!(f, "{file}: {problem} — the file is truncated; download or write it again")
            }
            FormatError::Corrupt { file, problem, fix } | FormatError::Unsupported { file, problem, fix } => {
                write!(f, "{file}: {problem} — {fix}")
            }
            FormatError::InvalidArray { problem } => write!(f, "invalid array: {problem}"),
            FormatError::BadLabel { position, value, problem } => write!(
                f,
                "label at position {position} is {value}: {problem} — class labels must be integers 0..num_classes; \
                 check that this array holds class indices, not one-hot vectors or regression targets"
            ),
        }
    }
}

impl std::error::Error for FormatError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            FormatError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
