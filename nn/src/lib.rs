//! graft's nn layer: the [`Module`] trait, [`Sequential`], layers with PyTorch weight layouts,
//! initialisers, losses, metrics, optimisers, and file formats.

pub mod bert;
pub mod checkpoint;
pub mod data;
mod device;
mod error;
pub mod formats;
#[doc(hidden)]
pub mod fuzzing;
pub mod init;
pub mod layers;
pub mod loss;
pub mod metrics;
pub mod mobilenet;
pub mod model_file;
mod module;
pub mod optim;
mod sequential;
pub mod side_inputs;
pub mod spec;
pub mod text;
pub mod train;

pub use device::{module_device, move_to_device};
pub use error::{Fix, NnError, Result};
pub use model_file::{
    inspect, load_model, load_model_from_bytes, load_model_with_spec, load_model_with_spec_options, load_state_dict,
    load_state_dict_from_bytes, save_model, FileSummary,
};
pub use module::{set_requires_grad, Module};
pub use sequential::Sequential;
pub use side_inputs::SideInputs;
pub use spec::{parse_spec, parse_spec_with_init};
