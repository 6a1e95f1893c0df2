//! [`BundleRegistry`]: every bundle compiled into the binary, and the
//! resolution of `unchained.toml`'s list into a load order.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::bundle::{Bundle, BundleEntry};
use crate::error::Error;
use crate::project::{MANIFEST, Manifest};

/// The bundles compiled into this binary, by name.
pub struct BundleRegistry {
    bundles: BTreeMap<&'static str, Arc<dyn Bundle>>,
}

impl BundleRegistry {
    /// Every bundle registered with [`bundle`](macro@crate::bundle) in any
    /// crate linked into this binary.
    pub fn from_inventory() -> Result<Self, Error> {
        Self::from_bundles(
            inventory::iter::<BundleEntry>
                .into_iter()
                .map(|e| (e.construct)().into()),
        )
    }

    /// A registry of the given bundles (for tests and embedding).
    pub fn from_bundles(bundles: impl IntoIterator<Item = Arc<dyn Bundle>>) -> Result<Self, Error> {
        let mut map: BTreeMap<&'static str, Arc<dyn Bundle>> = BTreeMap::new();
        for bundle in bundles {
            let name = bundle.name();
            if map.insert(name, bundle).is_some() {
                return Err(Error::Bundle(format!(
                    "two bundles are registered under the name {name}: rename one of them"
                )));
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
    pub fn resolve(&self, manifest: &Manifest) -> Result<ResolvedBundles, Error> {
        let mut listed: Vec<Arc<dyn Bundle>> = Vec::with_capacity(manifest.bundles.len());
        for name in &manifest.bundles {
            listed.push(self.lookup(name, manifest)?);
        }
        let apps: Vec<&str> = listed
            .iter()
            .filter(|b| b.is_app())
            .map(|b| b.name())
            .collect();
        if apps.len() > 1 {
            return Err(Error::Bundle(format!(
                "{} are all app bundles, but a project has one: keep one in bundles in {MANIFEST}",
                apps.join(", ")
            )));
        }
        let position: HashMap<&str, usize> = listed
            .iter()
            .enumerate()
            .map(|(i, b)| (b.name(), i))
            .collect();
        for bundle in &listed {
            for dep in bundle.dependencies() {
                if !position.contains_key(dep) {
                    return Err(Error::Bundle(format!(
                        "{} requires {dep}: add it to bundles in {MANIFEST}",
                        bundle.name()
                    )));
                }
                if self.bundles.get(dep).is_some_and(|d| d.is_app()) {
                    return Err(Error::Bundle(format!(
                        "{} depends on the app bundle {dep}, which always loads last: remove the dependency",
                        bundle.name()
                    )));
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
        Ok(ResolvedBundles { bundles: order })
    }

    fn lookup(&self, name: &str, manifest: &Manifest) -> Result<Arc<dyn Bundle>, Error> {
        if let Some(bundle) = self.bundles.get(name) {
            return Ok(bundle.clone());
        }
        let message = match manifest.crate_of(name) {
            Some(krate) => format!(
                "bundle {name} is listed in {MANIFEST} but not compiled in: add the crate \
                 `{krate}` to [dependencies] in Cargo.toml (e.g. `cargo add {krate}`), or remove \
                 {name} from bundles"
            ),
            None => format!(
                "bundle {name} is listed in {MANIFEST} but no compiled-in bundle has that name \
                 (known: {}): check the spelling, define it with #[unchained::bundle], or name its \
                 crate under [bundle_crates] in {MANIFEST}",
                self.names().collect::<Vec<_>>().join(", ")
            ),
        };
        Err(Error::Bundle(message))
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
) -> Result<(), Error> {
    let name = bundle.name();
    match state.get(name) {
        Some(Visit::Done) => return Ok(()),
        Some(Visit::InProgress) => {
            let start = path.iter().position(|n| *n == name).unwrap_or(0);
            let mut cycle: Vec<&str> = path[start..].to_vec();
            cycle.push(name);
            return Err(Error::Bundle(format!(
                "bundle dependency cycle: {}: remove one of these dependencies",
                cycle.join(" requires ")
            )));
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

/// The bundles of one app, in load order.
#[derive(Clone)]
pub struct ResolvedBundles {
    bundles: Vec<Arc<dyn Bundle>>,
}

impl ResolvedBundles {
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
