//! [`BundleRegistry`]: every bundle compiled into the binary, and the
//! resolution of `unchained.toml`'s list into a load order.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::bundle::{Bundle, BundleEntry};
use crate::project::Manifest;
use crate::service::Providers;

pub use crate::bundle::ResolvedBundles;
pub use crate::error::BundleError;

/// The bundles compiled into this binary, by name.
pub struct BundleRegistry {
    bundles: BTreeMap<&'static str, Arc<dyn Bundle>>,
}

impl BundleRegistry {
    /// Every bundle registered with [`bundle`](macro@crate::bundle) in any
    /// crate linked into this binary.
    pub fn from_inventory() -> Result<Self, BundleError> {
        Self::from_bundles(
            inventory::iter::<BundleEntry>
                .into_iter()
                .map(|e| (e.construct)().into()),
        )
    }

    /// A registry of the given bundles (for tests and embedding).
    pub fn from_bundles(
        bundles: impl IntoIterator<Item = Arc<dyn Bundle>>,
    ) -> Result<Self, BundleError> {
        let mut map: BTreeMap<&'static str, Arc<dyn Bundle>> = BTreeMap::new();
        for bundle in bundles {
            let name = bundle.name();
            if map.insert(name, bundle).is_some() {
                return Err(BundleError::DuplicateName(name.to_owned()));
            }
        }
        Ok(BundleRegistry { bundles: map })
    }

    /// The bundle named `name`, if compiled in.
    pub fn get(&self, name: &str) -> Option<&Arc<dyn Bundle>> {
        self.bundles.get(name)
    }

    /// Names of every compiled-in bundle, sorted.
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.bundles.keys().copied()
    }

    /// Resolves the manifest's list into the load order: each bundle after
    /// its dependencies, otherwise in list order, the app bundle last.
    pub fn resolve(&self, manifest: &Manifest) -> Result<ResolvedBundles, BundleError> {
        let mut listed: Vec<Arc<dyn Bundle>> = Vec::with_capacity(manifest.bundles.len());
        for name in &manifest.bundles {
            listed.push(self.lookup(name, manifest)?);
        }
        let apps: Vec<String> = listed
            .iter()
            .filter(|b| b.is_app())
            .map(|b| b.name().to_owned())
            .collect();
        if apps.len() > 1 {
            return Err(BundleError::SeveralApps(apps));
        }
        let position: HashMap<&str, usize> = listed
            .iter()
            .enumerate()
            .map(|(i, b)| (b.name(), i))
            .collect();
        for bundle in &listed {
            for dep in bundle.dependencies() {
                if !position.contains_key(dep) {
                    return Err(BundleError::MissingDependency {
                        bundle: bundle.name().to_owned(),
                        dependency: (*dep).to_owned(),
                    });
                }
                if self.bundles.get(dep).is_some_and(|d| d.is_app()) {
                    return Err(BundleError::DependsOnApp {
                        bundle: bundle.name().to_owned(),
                        dependency: (*dep).to_owned(),
                    });
                }
            }
        }
        let mut order: Vec<Arc<dyn Bundle>> = Vec::with_capacity(listed.len());
        let mut state: HashMap<&str, Visit> = HashMap::new();
        let mut path: Vec<&'static str> = Vec::new();
        let (apps, libraries): (Vec<_>, Vec<_>) = listed.iter().partition(|b| b.is_app());
        for bundle in libraries.into_iter().chain(apps) {
            visit(
                bundle, &listed, &position, &mut state, &mut path, &mut order,
            )?;
        }
        Ok(ResolvedBundles::new(order))
    }

    /// Which compiled-in bundle provides which service, from each
    /// bundle's [`Bundle::provides`].
    pub fn providers(&self) -> Providers {
        let mut providers = Providers::default();
        for (name, bundle) in &self.bundles {
            for service in bundle.provides() {
                providers.add(name, service);
            }
        }
        providers
    }

    fn lookup(&self, name: &str, manifest: &Manifest) -> Result<Arc<dyn Bundle>, BundleError> {
        if let Some(bundle) = self.bundles.get(name) {
            return Ok(bundle.clone());
        }
        Err(match manifest.crate_of(name) {
            Some(krate) => BundleError::NotCompiledIn {
                bundle: name.to_owned(),
                krate,
            },
            None => BundleError::Unknown {
                bundle: name.to_owned(),
                known: self.names().map(str::to_owned).collect(),
            },
        })
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Visit {
    InProgress,
    Done,
}

fn visit(
    bundle: &Arc<dyn Bundle>,
    listed: &[Arc<dyn Bundle>],
    position: &HashMap<&str, usize>,
    state: &mut HashMap<&'static str, Visit>,
    path: &mut Vec<&'static str>,
    order: &mut Vec<Arc<dyn Bundle>>,
) -> Result<(), BundleError> {
    let name = bundle.name();
    match state.get(name) {
        Some(Visit::Done) => return Ok(()),
        Some(Visit::InProgress) => {
            let start = path.iter().position(|n| *n == name).unwrap_or(0);
            let mut cycle: Vec<String> = path[start..].iter().map(|n| (*n).to_owned()).collect();
            cycle.push(name.to_owned());
            return Err(BundleError::Cycle(cycle));
        }
        None => {}
    }
    state.insert(name, Visit::InProgress);
    path.push(name);
    // Dependencies in list order, so the result never depends on how a
    // bundle happens to order its own `dependencies()`.
    let mut deps: Vec<&&str> = bundle.dependencies().iter().collect();
    deps.sort_by_key(|d| position.get(**d).copied().unwrap_or(usize::MAX));
    for dep in deps {
        if let Some(&i) = position.get(*dep) {
            visit(&listed[i], listed, position, state, path, order)?;
        }
    }
    path.pop();
    state.insert(name, Visit::Done);
    order.push(bundle.clone());
    Ok(())
}
