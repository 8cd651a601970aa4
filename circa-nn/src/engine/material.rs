//! The preprocessed material of one inference, as a sequence indexed by layer: each layer's
//! offline step stores its own typed item (and the masks of its input's re-masking), and its
//! online step takes exactly that item, by value. Material made for one layer cannot be applied
//! to another: the slot is the layer's own, and an item of another kind is a typed error.

use circa_share::Modulus;

use super::Shares;
use crate::private::{PrivateError, Result};

/// One party's material: the network input's mask (client), and per layer its re-masking
/// vector and its item.
pub(crate) struct Material<M: Modulus, I> {
    input: Option<Shares<M>>,
    remask: Vec<Option<Shares<M>>>,
    items: Vec<Option<I>>,
}

fn missing(what: &'static str) -> PrivateError {
    PrivateError::Preprocessing { what }
}

impl<M: Modulus, I> Material<M, I> {
    /// Empty material for `layers` layers.
    pub(crate) fn new(layers: usize) -> Self {
        Self {
            input: None,
            remask: (0..layers).map(|_| None).collect(),
            items: (0..layers).map(|_| None).collect(),
        }
    }

    /// Stores the client's mask of the network input.
    pub(crate) fn put_input(&mut self, mask: Shares<M>) {
        self.input = Some(mask);
    }

    /// Takes the client's mask of the network input.
    pub(crate) fn take_input(&mut self) -> Result<Shares<M>> {
        self.input.take().ok_or(missing("input mask"))
    }

    /// Stores layer `layer`'s re-masking vector (the client's fresh mask, or the server's
    /// offline correction).
    pub(crate) fn put_remask(&mut self, layer: usize, v: Shares<M>) -> Result<()> {
        let slot = self.remask.get_mut(layer).ok_or(missing("layer slot"))?;
        *slot = Some(v);
        Ok(())
    }

    /// Takes layer `layer`'s re-masking vector.
    pub(crate) fn take_remask(&mut self, layer: usize) -> Result<Shares<M>> {
        self.remask
            .get_mut(layer)
            .and_then(Option::take)
            .ok_or(missing("re-masking vector"))
    }

    /// Stores layer `layer`'s item.
    pub(crate) fn put(&mut self, layer: usize, item: I) -> Result<()> {
        let slot = self.items.get_mut(layer).ok_or(missing("layer slot"))?;
        if slot.is_some() {
            return Err(missing("a second item for one layer"));
        }
        *slot = Some(item);
        Ok(())
    }

    /// Takes layer `layer`'s item.
    pub(crate) fn take(&mut self, layer: usize) -> Result<I> {
        self.items
            .get_mut(layer)
            .and_then(Option::take)
            .ok_or(missing("layer material"))
    }

    /// Every stored item and vector (for storage accounting).
    pub(crate) fn parts(&self) -> (impl Iterator<Item = &Shares<M>>, impl Iterator<Item = &I>) {
        (
            self.input.iter().chain(self.remask.iter().flatten()),
            self.items.iter().flatten(),
        )
    }
}

/// The error for an item of another kind than the layer's.
pub(crate) fn wrong_kind() -> PrivateError {
    missing("material made for another layer kind")
}
