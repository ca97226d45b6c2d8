//! Array file formats, independent of the engine: bytes or paths in, [`RawArray`]s out.
//!
//! - IDX (MNIST, Fashion-MNIST), plain or gzipped: [`read_idx`], [`parse_idx`], [`write_idx`], [`encode_idx`].
//! - NumPy `.npy`: [`read_npy`], [`parse_npy`], [`write_npy`], [`encode_npy`].
//! - NumPy `.npz` (stored or deflated zip of `.npy`): [`read_npz`], [`parse_npz`], [`write_npz`], [`encode_npz`].
//! - PyTorch state dicts (`.pth`, `.pt`, `.bin`; zip or legacy layout), read without running code: [`read_pth`],
//!   [`parse_pth`], [`is_pth`] (see [`pth`]).
//!
//! Readers never panic on hostile input and check every size a header claims against the bytes really present
//! before allocating for it. Errors are one type, [`FormatError`], whose messages name the file, the problem and
//! the fix.
//!
//! ```
//! use graft_nn::formats::{encode_npy, parse_npy, RawArray, RawData};
//! let a = RawArray::new(vec![2, 3], RawData::F32(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0])).unwrap();
//! let bytes = encode_npy(&a).unwrap();
//! assert_eq!(parse_npy(&bytes, "a.npy").unwrap(), a);
//! ```

mod array;
pub(crate) mod elements;
mod error;
pub(crate) mod fileio;
pub(crate) mod half;
mod idx;
mod npy;
mod npz;
pub mod pth;
mod zip;

pub use array::{DType, RawArray, RawData};
pub use error::{FormatError, Result};
pub use idx::{encode_idx, parse_idx, read_idx, write_idx};
pub use npy::{encode_npy, parse_npy, read_npy, write_npy};
pub use npz::{encode_npz, parse_npz, read_npz, write_npz};
pub use pth::{is_pth, parse_pth, read_pth};
