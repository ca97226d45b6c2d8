//! The batch of recorded work not yet submitted: one command encoder, the compute pass its
//! dispatches go into, and the uniform blocks of those dispatches.
//!
//! A dispatch's parameters are not a buffer of their own: they are appended to a host copy of the
//! context's uniform ring, and the dispatch's bind group points at their offset in the ring. The
//! whole ring is written with one `queue.write_buffer` just before the batch is submitted, which
//! wgpu orders after every earlier submission (that read the ring's old contents) and before this
//! one's command buffer. So one ring serves every batch, and a dispatch costs no allocation,
//! mapping or error scope.
//!
//! Bind groups are cached by (pipeline, ring offset, buffers). A bind group names a region of the
//! ring, not its contents, so the same one serves the i-th dispatch of every batch that binds the
//! same buffers; a training loop, whose steps each start a batch at offset 0 and get the same
//! pooled buffers in the same order, creates its bind groups in the first steps only.

use super::context::{lock, GpuContext};
use super::error::GpuResult;
use super::pipeline::{Pipeline, Shader};
use std::collections::HashMap;
use std::num::NonZeroU64;
use std::sync::Arc;

/// Cached bind groups past which the cache is emptied (it holds its buffers alive, so it must
/// not grow with a program that keeps making new ones).
const MAX_BIND_GROUPS: usize = 4096;

/// What a dispatch's bind group binds: the pipeline (by address: pipelines live as long as the
/// context), the ring region of its parameters and its buffers in binding order.
#[derive(PartialEq, Eq, Hash)]
struct BindKey {
    pipeline: usize,
    offset: u64,
    size: u64,
    buffers: Vec<wgpu::Buffer>,
}

/// Recorded commands (dispatches and copies) after which the batch is submitted without waiting
/// for a readback. Large enough that a training step of the benches (about 100 dispatches for the
/// MLP, a few hundred for a convnet) goes out in one submission.
pub(crate) const MAX_PENDING: usize = 1024;

/// Bytes of the uniform ring: `MAX_PENDING` blocks of 256 bytes (the largest parameter block and
/// the largest `min_uniform_buffer_offset_alignment` wgpu allows).
pub(crate) const RING_BYTES: u64 = (MAX_PENDING * 256) as u64;

/// Work recorded since the last submission.
#[derive(Default)]
pub(crate) struct Batch {
    /// The open compute pass (consecutive dispatches share it; a copy ends it). Always ended
    /// before `encoder` is finished or dropped.
    pass: Option<wgpu::ComputePass<'static>>,
    encoder: Option<wgpu::CommandEncoder>,
    /// Commands recorded into `encoder`.
    pending: usize,
    /// Host copy of the ring's used part: each dispatch's block at its aligned offset.
    uniforms: Vec<u8>,
    bind_groups: HashMap<BindKey, wgpu::BindGroup>,
}

impl Batch {
    fn end_pass(&mut self) {
        // Dropping a pass ends it.
        self.pass = None;
    }

    fn encoder(&mut self, device: &wgpu::Device) -> &mut wgpu::CommandEncoder {
        self.encoder.get_or_insert_with(|| {
            device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("graft") })
        })
    }

    /// Whether a block of `bytes` still fits in the ring after aligning to `align`.
    fn ring_fits(&self, bytes: usize, align: usize) -> bool {
        self.uniforms.len().next_multiple_of(align) + bytes <= RING_BYTES as usize
    }

    /// Appends `data` at the next multiple of `align` and returns its offset.
    fn push_uniform(&mut self, data: &[u8], align: usize) -> u64 {
        let offset = self.uniforms.len().next_multiple_of(align);
        self.uniforms.resize(offset, 0);
        self.uniforms.extend_from_slice(data);
        offset as u64
    }

    fn full(&self) -> bool {
        self.pending >= MAX_PENDING
    }

    /// Forgets every cached bind group (and so releases the buffers they hold).
    pub(crate) fn clear_bind_groups(&mut self) {
        self.bind_groups.clear();
    }
}

impl GpuContext {
    /// Records one dispatch of `entry` with the uniform block `params` at binding 0 and `buffers`
    /// at bindings 1, 2, ... in order. `params` is a whole WGSL uniform struct (a multiple of 16
    /// bytes, at most 256).
    ///
    /// No error scope here: a validation error of the bind group or the dispatch reaches the
    /// uncaptured-error handler (or invalidates the command buffer) and is returned by the next
    /// flush, naming the entry point (it labels the bind group).
    pub(crate) fn dispatch_bytes(
        &self,
        shader: &Shader,
        entry: &'static str,
        params: &[u8],
        buffers: &[&wgpu::Buffer],
        grid: [u32; 3],
    ) -> GpuResult<()> {
        if params.is_empty() || params.len() > 256 || !params.len().is_multiple_of(16) {
            return Err(self.error(entry, format!("a {}-byte parameter block is not a uniform struct", params.len())));
        }
        let pipeline = self.pipeline(shader, entry)?;
        let align = (self.limits.min_uniform_buffer_offset_alignment as usize).max(16);
        let mut batch = lock(&self.batch);
        if batch.full() || !batch.ring_fits(params.len(), align) {
            self.flush_locked(&mut batch)?;
        }
        let offset = batch.push_uniform(params, align);
        let key = BindKey {
            pipeline: Arc::as_ptr(&pipeline) as usize,
            offset,
            size: params.len() as u64,
            buffers: buffers.iter().map(|&b| b.clone()).collect(),
        };
        if batch.bind_groups.len() >= MAX_BIND_GROUPS && !batch.bind_groups.contains_key(&key) {
            batch.clear_bind_groups();
        }
        let bind_group = match batch.bind_groups.get(&key) {
            Some(group) => group.clone(),
            None => {
                let group = self.bind_group(&pipeline, entry, offset, params.len() as u64, buffers);
                batch.bind_groups.insert(key, group.clone());
                group
            }
        };
        if batch.pass.is_none() {
            let pass = batch
                .encoder(&self.device)
                .begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some("graft"), timestamp_writes: None })
                .forget_lifetime();
            batch.pass = Some(pass);
        }
        let pass = batch.pass.as_mut().expect("invariant: the pass was opened above");
        pass.set_pipeline(&pipeline.pipeline);
        pass.set_bind_group(0, &bind_group, &[]);
        pass.dispatch_workgroups(grid[0], grid[1], grid[2]);
        batch.pending += 1;
        Ok(())
    }

    /// A bind group of `pipeline`'s layout: `size` bytes of the ring at `offset`, then `buffers`.
    fn bind_group(
        &self,
        pipeline: &Pipeline,
        entry: &'static str,
        offset: u64,
        size: u64,
        buffers: &[&wgpu::Buffer],
    ) -> wgpu::BindGroup {
        let mut entries = Vec::with_capacity(buffers.len() + 1);
        entries.push(wgpu::BindGroupEntry {
            binding: 0,
            resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                buffer: &self.ring,
                offset,
                size: NonZeroU64::new(size),
            }),
        });
        for (i, b) in buffers.iter().enumerate() {
            entries.push(wgpu::BindGroupEntry { binding: i as u32 + 1, resource: b.as_entire_binding() });
        }
        self.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(entry),
            layout: &pipeline.layout,
            entries: &entries,
        })
    }

    /// Records `f` into the pending batch outside any compute pass (copies, clears), flushing
    /// first if the batch is full. Like dispatches, its validation errors surface at the flush.
    pub(crate) fn record(&self, f: impl FnOnce(&mut wgpu::CommandEncoder)) -> GpuResult<()> {
        let mut batch = lock(&self.batch);
        if batch.full() {
            self.flush_locked(&mut batch)?;
        }
        batch.end_pass();
        f(batch.encoder(&self.device));
        batch.pending += 1;
        Ok(())
    }

    /// Submits `batch` (one `write_buffer` of its uniforms, one command buffer) inside error
    /// scopes, then returns any error wgpu reported since the last flush.
    pub(crate) fn flush_locked(&self, batch: &mut Batch) -> GpuResult<()> {
        batch.end_pass();
        batch.pending = 0;
        let uniforms = std::mem::take(&mut batch.uniforms);
        let Some(encoder) = batch.encoder.take() else {
            return self.take_uncaptured();
        };
        let submitted = self.scoped(|| {
            if !uniforms.is_empty() {
                self.queue.write_buffer(&self.ring, 0, &uniforms);
            }
            self.queue.submit([encoder.finish()]);
        });
        // Keep the host copy's allocation for the next batch.
        batch.uniforms = uniforms;
        batch.uniforms.clear();
        // Lets wgpu free resources of finished submissions; never blocks.
        let _ = self.device.poll(wgpu::PollType::Poll);
        let uncaptured = self.take_uncaptured();
        submitted.map_err(|e| self.backend(format!("submitting recorded GPU work failed: {e}")))?;
        uncaptured
    }

    /// Bind groups in the cache (tests check a repeated step reuses them).
    #[cfg(test)]
    pub(crate) fn bind_group_count(&self) -> usize {
        lock(&self.batch).bind_groups.len()
    }

    /// Commands recorded and not yet submitted (tests check a training step is one batch).
    #[cfg(test)]
    pub(crate) fn pending(&self) -> usize {
        lock(&self.batch).pending
    }
}
