//! [`History`]: the recently resolved request ids of one device, newest first and bounded.

use crate::limits::{HISTORY_PER_DEVICE, HISTORY_RETENTION_MS};
use crate::records::HistoryEntry;

/// Resolved requests of one device, newest first, at most [`HISTORY_PER_DEVICE`] entries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct History(Vec<HistoryEntry>);

impl History {
    /// Entries as loaded from a store, put newest first (ties by request id).
    pub fn from_entries(mut entries: Vec<HistoryEntry>) -> History {
        entries.sort_by(|a, b| {
            b.ts.cmp(&a.ts)
                .then_with(|| a.request_id.cmp(&b.request_id))
        });
        History(entries)
    }

    /// Records a resolution that just happened.
    pub fn record(&mut self, entry: HistoryEntry) {
        self.0.insert(0, entry);
        self.0.truncate(HISTORY_PER_DEVICE);
    }

    /// Adds entries dated in the past (expired requests), then forgets what is older than
    /// [`HISTORY_RETENTION_MS`] at `now_ms`.
    pub fn backfill(&mut self, entries: impl IntoIterator<Item = HistoryEntry>, now_ms: u64) {
        self.0.extend(entries);
        self.0
            .retain(|h| now_ms.saturating_sub(h.ts) <= HISTORY_RETENTION_MS);
        self.0.sort_by_key(|h| std::cmp::Reverse(h.ts));
        self.0.truncate(HISTORY_PER_DEVICE);
    }

    /// The entry for `request_id`.
    pub fn find(&self, request_id: &str) -> Option<&HistoryEntry> {
        self.0.iter().find(|h| h.request_id == request_id)
    }

    /// All entries, newest first.
    pub fn iter(&self) -> std::slice::Iter<'_, HistoryEntry> {
        self.0.iter()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many entries.
    pub fn len(&self) -> usize {
        self.0.len()
    }
}

impl<'a> IntoIterator for &'a History {
    type Item = &'a HistoryEntry;
    type IntoIter = std::slice::Iter<'a, HistoryEntry>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}
