//! Datasets of tensors, seeded batching, and loaders for the files people have.
//!
//! A [`Dataset`] pairs inputs `x` (first axis = samples) with [`Targets`]: class labels or
//! values. [`Dataset::batches`] walks it in order or in a seeded random order, keeping the last
//! partial batch. Loaders read IDX pairs ([`load_idx`], MNIST / Fashion-MNIST, gzipped or not),
//! `.npy` pairs ([`load_npy`]), `.npz` archives ([`load_npz`]) and `.safetensors` files
//! ([`load_safetensors`]); [`LoadOptions`] says how to lay out and scale the inputs (u8 pixels
//! become f32 in `[0, 1]`) and how to read the targets. [`Dataset::save_safetensors`] writes a
//! dataset back compactly.
//!
//! ```no_run
//! use graft_nn::data::{load_idx, LoadOptions};
//! use graft_engine::Rng;
//! let train = load_idx("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", &LoadOptions::flat())?;
//! let mut rng = Rng::new(42);
//! for batch in train.batches(64, Some(&mut rng))? {
//!     let batch = batch?;
//!     assert_eq!(batch.x.shape()[1], 784);
//! }
//! # Ok::<(), graft_nn::NnError>(())
//! ```

mod batches;
mod convert;
mod dataset;
pub mod image;
mod loaders;
mod options;
mod safetensors;
pub mod text;

pub use batches::{Batch, Batches};
pub use dataset::{Dataset, Targets};
pub use loaders::{load, load_idx, load_npy, load_npz};
pub use options::{ImageLayout, LoadOptions, TargetKind};
pub use safetensors::{load_safetensors, parse_safetensors};
pub use text::{
    load_spam_assassin, load_spam_assassin_counted, split_examples, strip_mail_headers, TextExample, TextSplits,
};
