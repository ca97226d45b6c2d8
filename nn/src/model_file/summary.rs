//! What `inspect` reports about a state-dict file (`.safetensors` or PyTorch `.pth`).

use super::read::{dtype_name, natural_cmp, ParsedFile};
use std::collections::BTreeMap;
use std::fmt;

/// One tensor of a file: name, dtype as safetensors spells it (`F32`, `I64`, …) and shape.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorSummary {
    pub name: String,
    pub dtype: String,
    pub shape: Vec<usize>,
}

/// The kind of file a [`FileSummary`] describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FileFormat {
    /// `.safetensors` (graft's own files, Hugging Face's, `safetensors.torch.save_file`).
    Safetensors,
    /// A PyTorch `torch.save` zip archive (PyTorch ≥ 1.6).
    PthZip,
    /// A PyTorch `torch.save` file in the legacy layout (`_use_new_zipfile_serialization=False`).
    PthLegacy,
}

impl fmt::Display for FileFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FileFormat::Safetensors => "safetensors",
            FileFormat::PthZip => "PyTorch zip",
            FileFormat::PthLegacy => "PyTorch legacy",
        })
    }
}

/// The contents of a state-dict file, without its values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileSummary {
    /// The file as it was named.
    pub file: String,
    /// Which format it is in.
    pub format: FileFormat,
    /// Size of the JSON header in bytes (of the state-dict pickle for a PyTorch file).
    pub header_bytes: usize,
    /// The header's `__metadata__` (for graft files: `graft.spec`, `graft.format`).
    pub metadata: BTreeMap<String, String>,
    /// Tensors in natural name order (`features.10` after `features.9`).
    pub tensors: Vec<TensorSummary>,
}

impl FileSummary {
    pub(crate) fn of(file: &ParsedFile<'_>) -> Self {
        let mut tensors: Vec<TensorSummary> = file
            .tensors
            .iter()
            .map(|(n, t)| TensorSummary { name: n.clone(), dtype: dtype_name(t.dtype), shape: t.shape.clone() })
            .collect();
        tensors.sort_by(|a, b| natural_cmp(&a.name, &b.name));
        FileSummary {
            file: file.label.clone(),
            format: file.format,
            header_bytes: file.header_bytes,
            metadata: file.metadata.clone(),
            tensors,
        }
    }

    /// Total number of values over all tensors.
    pub fn num_elements(&self) -> usize {
        self.tensors.iter().map(|t| t.shape.iter().product::<usize>()).sum()
    }

    /// Whether the tensor names are Keras names (`dense/kernel`, `sequential/dense_1/bias`,
    /// `conv2d/kernel:0`, `batch_normalization.gamma`) and none are PyTorch/graft names: such a
    /// file loads in Keras layout by default (see [`WeightLayout`](super::WeightLayout)).
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("graft-doc-keras-{}.safetensors", std::process::id()));
    /// graft_nn::save_model(&graft_nn::parse_spec("linear(2,2)", 0)?, &path)?;
    /// assert!(!graft_nn::inspect(&path)?.is_keras_layout()); // `0.weight`, `0.bias`
    /// # std::fs::remove_file(&path).ok();
    /// # Ok::<(), graft_nn::NnError>(())
    /// ```
    pub fn is_keras_layout(&self) -> bool {
        matches!(
            super::keras::classify(self.tensors.iter().map(|t| t.name.as_str())),
            super::keras::FileNames::Keras(_)
        )
    }

    /// The architecture stored by graft, if this is a graft model file.
    pub fn spec(&self) -> Option<&str> {
        self.metadata.get(super::SPEC_KEY).map(String::as_str)
    }
}

impl fmt::Display for FileSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (n, values) = (self.tensors.len(), self.num_elements());
        match self.format {
            FileFormat::Safetensors => {
                writeln!(f, "{}: {n} tensors, {values} values, header {} bytes", self.file, self.header_bytes)?
            }
            pth => writeln!(
                f,
                "{}: {pth} file, {n} tensors, {values} values, pickle {} bytes",
                self.file, self.header_bytes
            )?,
        }
        if !self.metadata.is_empty() {
            writeln!(f, "metadata:")?;
            for (k, v) in &self.metadata {
                writeln!(f, "  {k} = {v}")?;
            }
        }
        if !self.tensors.is_empty() {
            writeln!(f, "tensors:")?;
        }
        let width = self.tensors.iter().map(|t| t.name.len()).max().unwrap_or(0);
        for t in &self.tensors {
            writeln!(f, "  {:width$}  {:4}  {:?}", t.name, t.dtype, t.shape)?;
        }
        Ok(())
    }
}
