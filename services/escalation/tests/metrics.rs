//! SLA breaches are counted, by clock, once each: read the way Prometheus reads them.
//! (Its own test binary: it installs the process's global meter provider.)

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

mod common;

use common::{Harness, MINUTE, T0, opened};
use earshot_core::Tenant;
use earshot_core::ids::new_id;

fn breaches(text: &str) -> Option<&str> {
    text.lines().find_map(|line| line.strip_prefix("earshot_sla_breaches_total{clock=\"first_response\"} "))
}

#[tokio::test]
async fn each_missed_target_counts_one_breach_of_its_clock() {
    let metrics =
        earshot_telemetry::metrics::Metrics::new(opentelemetry_sdk::Resource::builder().build(), None).unwrap();
    let scrape = metrics.install();
    let harness = Harness::new().await;
    let service = harness.instance().await;
    let tenant = Tenant::default();
    for _ in 0..2 {
        service.record(&tenant, opened(&new_id('c'), 85, T0)).await.unwrap();
    }
    harness.clock.set(T0 + 15 * MINUTE - 1);
    service.fire_due().await.unwrap();
    assert_eq!(breaches(&scrape.render().unwrap()), None, "nothing is late yet");

    harness.clock.set(T0 + 15 * MINUTE);
    assert_eq!(service.fire_due().await.unwrap(), 2);
    assert_eq!(service.fire_due().await.unwrap(), 0);
    let text = scrape.render().unwrap();
    assert!(text.contains("# TYPE earshot_sla_breaches_total counter"), "{text}");
    assert_eq!(breaches(&text), Some("2"), "{text}");
}
