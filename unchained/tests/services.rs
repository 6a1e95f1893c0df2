//! Typed services: a bundle that needs a service no loaded bundle provides
//! fails at build, naming the bundle to add; handlers take `Service<T>`.

use std::sync::Arc;

use unchained::prelude::*;
use unchained::testing::TestClient;

#[derive(Clone)]
struct Clock(&'static str);

/// Provides `Clock`. Registered with the inventory, so that the error for
/// a bundle that needs it can name it even when it is not loaded.
#[derive(Default)]
struct ClockBundle;

#[unchained::bundle]
impl Bundle for ClockBundle {
    fn name(&self) -> &'static str {
        "tests.clock"
    }

    fn provides(&self) -> Vec<ServiceType> {
        vec![ServiceType::of::<Clock>()]
    }

    async fn before_build(&self, ctx: &mut BuildContext) -> anyhow::Result<()> {
        ctx.insert(Clock("noon"));
        Ok(())
    }
}

/// Needs `Clock` and serves it.
struct NeedsClock {
    deps: &'static [&'static str],
}

#[async_trait]
impl Bundle for NeedsClock {
    fn name(&self) -> &'static str {
        "tests.needs-clock"
    }

    fn dependencies(&self) -> &'static [&'static str] {
        self.deps
    }

    async fn before_build(&self, ctx: &mut BuildContext) -> anyhow::Result<()> {
        ctx.require::<Clock>()?;
        Ok(())
    }

    fn routes(&self, _ctx: &RouteContext) -> Routes {
        Routes::new().get(
            "/time",
            |Service(clock): Service<Clock>| async move { clock.0 },
        )
    }
}

#[tokio::test]
async fn a_missing_service_fails_the_build_and_names_the_bundle_to_add() {
    let err = unchained::app::build_with(
        vec![Arc::new(NeedsClock { deps: &[] })],
        |c| c,
        Environment::Test,
    )
    .await
    .err()
    .expect("the build must fail");
    assert!(
        matches!(err, unchained::Error::MissingService(_)),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "bundle tests.needs-clock needs the service services::Clock, which no loaded bundle \
         provides: add \"tests.clock\" to bundles in unchained.toml, before tests.needs-clock"
    );
}

#[tokio::test]
async fn a_provider_that_loads_later_is_named_as_a_missing_dependency() {
    // Listed after the bundle that needs it, with no declared dependency.
    let err = unchained::app::build_with(
        vec![Arc::new(NeedsClock { deps: &[] }), Arc::new(ClockBundle)],
        |c| c,
        Environment::Test,
    )
    .await
    .err()
    .expect("the build must fail");
    assert_eq!(
        err.to_string(),
        "bundle tests.needs-clock needs the service services::Clock, which no loaded bundle \
         provides: tests.clock provides it but loads later: add \"tests.clock\" to the \
         dependencies() of tests.needs-clock"
    );
}

#[tokio::test]
async fn with_its_provider_the_service_reaches_the_handler() {
    let app = unchained::app::build_with(
        vec![
            Arc::new(NeedsClock {
                deps: &["tests.clock"],
            }),
            Arc::new(ClockBundle),
        ],
        |c| c,
        Environment::Test,
    )
    .await
    .unwrap();
    let client = TestClient::new(app);
    let response = client.get("/time").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.text(), "noon");
}

/// Promises `Clock` but never registers it.
struct BrokenPromise;

#[async_trait]
impl Bundle for BrokenPromise {
    fn name(&self) -> &'static str {
        "tests.broken-promise"
    }

    fn provides(&self) -> Vec<ServiceType> {
        vec![ServiceType::of::<Clock>()]
    }
}

#[tokio::test]
async fn a_bundle_that_does_not_keep_its_provides_promise_fails_the_build() {
    let err = unchained::app::build_with(vec![Arc::new(BrokenPromise)], |c| c, Environment::Test)
        .await
        .err()
        .expect("the build must fail");
    assert_eq!(
        err.to_string(),
        "bundle tests.broken-promise declares that it provides services::Clock, but its \
         before_build hook did not register one: call BuildContext::insert there, or remove it \
         from provides()"
    );
}
