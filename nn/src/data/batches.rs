//! [`Batches`]: an iterator of [`Batch`]es over a [`Dataset`] in a fixed order.

use super::dataset::{Dataset, Targets};
use crate::Result;
use graft_engine::Tensor;

/// A group of samples: inputs `[b, ...]` and their `b` targets.
#[derive(Clone, Debug)]
pub struct Batch {
    /// The inputs of the batch's samples.
    pub x: Tensor,
    /// Their targets.
    pub targets: Targets,
}

impl Batch {
    /// Number of samples in the batch.
    pub fn len(&self) -> usize {
        self.targets.len()
    }

    /// Whether the batch is empty (never the case for batches from [`Dataset::batches`]).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Batches of a dataset, made lazily (each one gathers its rows when it is reached).
///
/// Yields `Result<Batch>`; gathering rows cannot fail for indices the dataset made itself, but
/// a failing device would be reported rather than hidden.
pub struct Batches<'a> {
    data: &'a Dataset,
    order: Vec<usize>,
    batch_size: usize,
    next: usize,
}

impl<'a> Batches<'a> {
    pub(crate) fn new(data: &'a Dataset, order: Vec<usize>, batch_size: usize) -> Self {
        Batches { data, order, batch_size, next: 0 }
    }

    /// The sample indices in the order the batches visit them.
    pub fn order(&self) -> &[usize] {
        &self.order
    }
}

impl Iterator for Batches<'_> {
    type Item = Result<Batch>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.next >= self.order.len() {
            return None;
        }
        let end = (self.next + self.batch_size).min(self.order.len());
        let indices = &self.order[self.next..end];
        self.next = end;
        Some(self.data.subset(indices).map(|d| {
            let (x, targets) = d.into_parts();
            Batch { x, targets }
        }))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = (self.order.len() - self.next).div_ceil(self.batch_size);
        (left, Some(left))
    }
}

impl ExactSizeIterator for Batches<'_> {}
