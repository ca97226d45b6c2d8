//! WGSL programs and the context's pipeline cache: each (shader, entry point) compiles once per
//! context, with its bind-group layout kept beside it.

use super::context::{lock, GpuContext};
use super::error::GpuResult;
use std::sync::Arc;

/// Whether the shader's own bounds logic is trusted to keep every access in range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Checks {
    /// wgpu's runtime checks stay on (bounds clamping of every array access, loop bounding,
    /// integer-division guards): the default for kernels whose indexing is not proven by tests
    /// on every shape class.
    Checked,
    /// Compiled with `ShaderRuntimeChecks::unchecked()`. Only for kernels whose every array index
    /// is guarded by the kernel itself and whose differential tests cover each guard (partial
    /// tiles in every direction, size 1, primes, batches with stride 0): an unguarded index would
    /// read out of bounds instead of being clamped.
    Trusted,
}

/// A WGSL program: `common.wgsl` followed by one kernel file (both included at compile time), or a
/// source generated at run time (the matmul specialisations).
pub(crate) struct Shader {
    /// Key of the pipeline cache, unique per source.
    pub name: &'static str,
    pub source: &'static str,
    pub checks: Checks,
}

impl Shader {
    /// A shader compiled with wgpu's runtime checks on.
    pub(crate) const fn checked(name: &'static str, source: &'static str) -> Shader {
        Shader { name, source, checks: Checks::Checked }
    }
}

pub(crate) struct Pipeline {
    pub pipeline: wgpu::ComputePipeline,
    pub layout: wgpu::BindGroupLayout,
}

impl GpuContext {
    /// The compiled pipeline for `entry` of `shader`, compiling it on first use (inside error
    /// scopes: a shader that does not compile is an error naming it, never a panic).
    pub(crate) fn pipeline(&self, shader: &Shader, entry: &'static str) -> GpuResult<Arc<Pipeline>> {
        let key = (shader.name, entry);
        if let Some(p) = lock(&self.pipelines).get(&key) {
            return Ok(Arc::clone(p));
        }
        let compiled = self
            .scoped(|| {
                let desc = wgpu::ShaderModuleDescriptor {
                    label: Some(shader.name),
                    source: wgpu::ShaderSource::Wgsl(shader.source.into()),
                };
                let module = match shader.checks {
                    Checks::Checked => self.device.create_shader_module(desc),
                    // SAFETY: `Checks::Trusted` is only given to kernels whose every array access
                    // is guarded by the kernel's own bounds logic (see `Checks::Trusted`), so no
                    // access the runtime checks would have clamped can happen.
                    Checks::Trusted => unsafe {
                        self.device.create_shader_module_trusted(desc, wgpu::ShaderRuntimeChecks::unchecked())
                    },
                };
                let pipeline = self.device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                    label: Some(entry),
                    layout: None,
                    module: &module,
                    entry_point: Some(entry),
                    compilation_options: wgpu::PipelineCompilationOptions {
                        // The two kernels with workgroup memory (matmul's tiles, reduce_rows'
                        // partial sums) write every element they read before a barrier, so
                        // zeroing it at every workgroup's start is pure cost.
                        zero_initialize_workgroup_memory: false,
                        ..Default::default()
                    },
                    cache: None,
                });
                let layout = pipeline.get_bind_group_layout(0);
                Pipeline { pipeline, layout }
            })
            .map_err(|e| self.backend(format!("compiling {}::{entry}: {e}", shader.name)))?;
        let compiled = Arc::new(compiled);
        lock(&self.pipelines).insert(key, Arc::clone(&compiled));
        Ok(compiled)
    }

    /// Number of compiled pipelines (tests check that specialisations are cached).
    #[cfg(test)]
    pub(crate) fn pipeline_count(&self) -> usize {
        lock(&self.pipelines).len()
    }
}
