//! The reorder buffer: results arrive in completion order and leave in
//! submission order, as soon as every earlier one is in.

use std::collections::VecDeque;

/// Holds out-of-order items keyed by consecutive indices starting at 0.
/// Its size is bounded by how far the dispatcher runs ahead of
/// [`Reorder::next_index`], which the dispatcher limits.
#[derive(Debug)]
pub struct Reorder<T> {
    next: u64,
    slots: VecDeque<Option<T>>,
}

impl<T> Default for Reorder<T> {
    fn default() -> Self {
        Reorder { next: 0, slots: VecDeque::new() }
    }
}

impl<T> Reorder<T> {
    /// The index of the next item to leave.
    pub fn next_index(&self) -> u64 {
        self.next
    }

    /// Stores the item with submission index `index` (at most once per index).
    pub fn insert(&mut self, index: u64, item: T) {
        assert!(index >= self.next, "index {index} was already released");
        let offset = usize::try_from(index - self.next).expect("reorder window fits in memory");
        if offset >= self.slots.len() {
            self.slots.resize_with(offset + 1, || None);
        }
        assert!(self.slots[offset].is_none(), "index {index} inserted twice");
        self.slots[offset] = Some(item);
    }

    /// The next item in submission order, if it has arrived.
    pub fn pop(&mut self) -> Option<T> {
        let item = self.slots.front_mut()?.take()?;
        self.slots.pop_front();
        self.next += 1;
        Some(item)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn waits_for_the_gap() {
        let mut buffer = Reorder::default();
        buffer.insert(1, 'b');
        assert_eq!(buffer.pop(), None);
        buffer.insert(0, 'a');
        assert_eq!((buffer.pop(), buffer.pop(), buffer.pop()), (Some('a'), Some('b'), None));
        assert_eq!(buffer.next_index(), 2);
    }

    proptest! {
        #[test]
        fn any_arrival_order_leaves_in_submission_order(order in Just((0..200u64).collect::<Vec<_>>()).prop_shuffle()) {
            let mut buffer = Reorder::default();
            let mut out = Vec::new();
            for index in order {
                buffer.insert(index, index);
                while let Some(item) = buffer.pop() {
                    out.push(item);
                }
            }
            prop_assert_eq!(out, (0..200).collect::<Vec<_>>());
        }
    }
}
