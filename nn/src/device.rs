//! Putting a model on a device.

use crate::Module;
use graft_engine::{Device, Result};

/// Moves every parameter and buffer of `module` to `device`, in place: the layers, and any
/// optimiser built over their parameters, keep working on the moved tensors.
///
/// ```
/// use graft_engine::{Device, Rng};
/// use graft_nn::{layers::Linear, move_to_device, Module};
/// let layer = Linear::new(3, 2, &mut Rng::new(0));
/// move_to_device(&layer, &Device::Cpu).unwrap();
/// assert_eq!(layer.weight.device(), Device::Cpu);
/// ```
pub fn move_to_device(module: &dyn Module, device: &Device) -> Result<()> {
    for (_, t) in module.state_dict() {
        t.move_to(device)?;
    }
    Ok(())
}

/// The device of `module`'s first parameter (the CPU for a module without parameters).
pub fn module_device(module: &dyn Module) -> Device {
    module.state_dict().first().map_or(Device::Cpu, |(_, t)| t.device())
}
