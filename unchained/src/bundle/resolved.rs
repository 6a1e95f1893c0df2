//! [`ResolvedBundles`]: the bundles of one app, in load order.

use std::sync::Arc;

use super::Bundle;

/// The bundles of one app, in load order (made by
/// [`BundleRegistry::resolve`](crate::registry::BundleRegistry::resolve)).
#[derive(Clone)]
pub struct ResolvedBundles {
    bundles: Vec<Arc<dyn Bundle>>,
}

impl ResolvedBundles {
    pub(crate) fn new(bundles: Vec<Arc<dyn Bundle>>) -> Self {
        ResolvedBundles { bundles }
    }

    /// The bundles in load order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &Arc<dyn Bundle>> {
        self.bundles.iter()
    }

    /// Their names in load order.
    pub fn names(&self) -> Vec<&'static str> {
        self.bundles.iter().map(|b| b.name()).collect()
    }

    /// Whether the bundle `name` is loaded.
    pub fn contains(&self, name: &str) -> bool {
        self.bundles.iter().any(|b| b.name() == name)
    }

    /// The bundle `name`, if loaded.
    pub fn get(&self, name: &str) -> Option<&Arc<dyn Bundle>> {
        self.bundles.iter().find(|b| b.name() == name)
    }

    /// How many bundles are loaded.
    pub fn len(&self) -> usize {
        self.bundles.len()
    }

    /// Whether no bundle is loaded.
    pub fn is_empty(&self) -> bool {
        self.bundles.is_empty()
    }
}
