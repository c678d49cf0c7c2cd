//! The web console in a real headless Chromium (Debian's `chromium`, driven through
//! `chromedriver` over WebDriver): an agent signs in, is offered the furious customer before the
//! earlier neutral question, replies and resolves; a supervisor sees an escalation appear without
//! reloading, reassigns it and finds the customer's case with every SLA clock; an admin adds an SLA
//! policy; a wrong key and a form without its CSRF token are refused.
//! Screenshots go to `target/screenshots/`.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::time::Instant;

use earshot_e2e::{Pipeline, Running, Services, Stack, post, reserve_addr};
use fantoccini::{Client, ClientBuilder, Locator};

/// How long a page element may take to appear (a debug build on a busy machine).
const ELEMENT_WAIT: Duration = Duration::from_secs(20);
/// How soon a new escalation must show on an open supervisor page.
const LIVE_WITHIN: Duration = Duration::from_secs(2);

/// chromedriver and one Chromium session; both go with it.
struct Browser {
    client: Client,
    _driver: tokio::process::Child,
    _group: ProcessGroup,
    _profile: tempfile::TempDir,
}

/// chromedriver's process group, which Chromium's processes join.
struct ProcessGroup(Option<u32>);

impl Drop for ProcessGroup {
    /// Ends chromedriver and every Chromium process it started, also when a test fails before it
    /// could close the session (a browser left running keeps a live page spinning on a core).
    fn drop(&mut self) {
        if let Some(group) = self.0 {
            let _ = std::process::Command::new("kill").args(["-KILL", "--", &format!("-{group}")]).status();
        }
    }
}

impl Browser {
    async fn start() -> Browser {
        let addr = reserve_addr().unwrap();
        let driver = tokio::process::Command::new("chromedriver")
            .arg(format!("--port={}", addr.port()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver (Debian's chromium-driver; `make test` installs it)");
        let profile = tempfile::tempdir().unwrap();
        let args = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-quic",
            "--no-first-run",
            "--window-size=1280,900",
        ];
        let mut args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        args.push(format!("--user-data-dir={}", profile.path().display()));
        let mut capabilities = serde_json::Map::new();
        capabilities
            .insert("goog:chromeOptions".into(), serde_json::json!({ "binary": "/usr/bin/chromium", "args": args }));
        let url = format!("http://{addr}");
        let started = Instant::now();
        let client = loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector).capabilities(capabilities.clone()).connect(&url).await {
                Ok(client) => break client,
                Err(error) if started.elapsed() < ELEMENT_WAIT => {
                    tracing::debug!(%error, "chromedriver not ready");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(error) => panic!("no browser session: {error}"),
            }
        };
        let group = ProcessGroup(driver.id());
        Browser { client, _driver: driver, _group: group, _profile: profile }
    }

    /// Saves what the browser shows as `target/screenshots/NAME.png`.
    async fn screenshot(&self, name: &str) {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        let png = self.client.screenshot().await.unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }

    async fn text_of(&self, css: &str) -> String {
        let started = Instant::now();
        loop {
            let element = self.client.wait().at_most(ELEMENT_WAIT).for_element(Locator::Css(css)).await;
            match element.unwrap_or_else(|e| panic!("no {css}: {e}")).text().await {
                Ok(text) => return text,
                // The live page replaced the element between finding and reading it: find it again.
                Err(_) if started.elapsed() < ELEMENT_WAIT => continue,
                Err(error) => panic!("{css} kept going stale: {error}"),
            }
        }
    }

    /// The text of `css` once `wanted` holds for it (a countdown ticks, a live fragment lands).
    async fn text_when(&self, css: &str, wanted: impl Fn(&str) -> bool) -> String {
        let started = Instant::now();
        loop {
            let text = self.text_of(css).await;
            if wanted(&text) || started.elapsed() > ELEMENT_WAIT {
                return text;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits for the flash line to say `wanted`; fails with what it says otherwise.
    async fn expect_flash(&self, wanted: &str) {
        let flash = self.text_when(".flash", |flash| flash.contains(wanted)).await;
        assert!(flash.contains(wanted), "the flash says {flash:?}, not {wanted:?}");
    }

    async fn click(&self, css: &str) {
        let element = self.client.wait().at_most(ELEMENT_WAIT).for_element(Locator::Css(css)).await;
        element.unwrap_or_else(|e| panic!("no {css}: {e}")).click().await.unwrap();
    }

    async fn fill(&self, css: &str, text: &str) {
        let element = self.client.wait().at_most(ELEMENT_WAIT).for_element(Locator::Css(css)).await;
        element.unwrap_or_else(|e| panic!("no {css}: {e}")).send_keys(text).await.unwrap();
    }

    async fn body(&self) -> String {
        self.text_of("body").await
    }

    async fn sign_in(&self, console: &Running, key: &str) {
        self.client.goto(&format!("http://{}/signin", console.addr)).await.unwrap();
        self.fill("#key", key).await;
        self.click("#signin").await;
    }
}

/// Redis, the four services and a console in front of them.
async fn with_console() -> (Stack, Services, Running) {
    let stack = Stack::new().await.unwrap();
    let services = stack.services().await.unwrap();
    let console = stack.node().console(services.routing.addr, services.escalation.addr).await.unwrap();
    (stack, services, console)
}

/// Whether a clock's text is a running countdown ("First response: 14:58 left").
fn counting(text: &str) -> bool {
    text.contains("First response: ") && text.contains(" left")
}

const ANGRY: &str = "Charged TWICE for my order and still no refund after 3 weeks. Absolutely unacceptable!";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_is_offered_the_furious_customer_first_replies_and_resolves() {
    let (_stack, services, console) = with_console().await;
    let (_, ana) = services.mint_key("default", &["agent"], Some("ana")).await.unwrap();
    services.submit_routed(post("q1", "curious", 40, "Hi, do you have a store in Leeds?")).await.unwrap();
    let angry = services.submit_routed(post("a1", "loud", 182_000, ANGRY)).await.unwrap();

    let browser = Browser::start().await;
    browser.sign_in(&console, &ana).await;
    assert!(browser.body().await.contains("Set your status"), "{}", browser.body().await);
    browser.click("#presence button").await;
    browser.expect_flash("Status saved").await;
    browser.screenshot("agent-signed-in").await;

    browser.click("#next-case").await;
    let case = browser.text_of("#case-live").await;
    assert!(case.contains(ANGRY), "the furious customer comes first: {case}");
    assert!(case.contains("182k followers"), "with why it is first: {case}");
    assert!(browser.client.current_url().await.unwrap().as_str().contains(&angry.case_id));
    let clock = browser.text_when("#case-live tr.clock.running[data-clock=first_response]", counting).await;
    assert!(counting(&clock), "the SLA time left counts down: {clock}");
    browser.screenshot("agent-offered").await;
    browser.click("#accept").await;
    let reply = "So sorry! The double charge is refunded today; you will see it in 2-3 days.";
    browser.fill("#reply", reply).await;
    browser.click("#reply-form button").await;
    browser.expect_flash("Reply sent").await;
    assert!(browser.text_of("#case-live").await.contains(reply), "the reply is in the case's history");
    let clock = browser.text_of("#case-live tr.clock.stopped[data-clock=first_response]").await;
    assert!(clock.contains("Answered"), "{clock}");
    browser.screenshot("agent-replied").await;
    browser.click("#resolve-button").await;
    browser.expect_flash("Resolved").await;
    let view = services.routing_client().get_case(earshot_proto::v1::GetCaseRequest { case_id: angry.case_id }).await;
    assert_eq!(view.unwrap().into_inner().state, "resolved");
    browser.screenshot("agent-resolved").await;
    browser.client.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_supervisor_sees_an_escalation_arrive_live_and_reassigns_it() {
    let (_stack, services, console) = with_console().await;
    let (_, sue) = services.mint_key("default", &["supervisor"], None).await.unwrap();

    let browser = Browser::start().await;
    browser.sign_in(&console, &sue).await;
    browser.text_of("#board").await;
    // Let the live stream connect before the escalation happens.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let angry = services.submit_routed(post("a2", "loud", 182_000, ANGRY)).await.unwrap();
    let routed = Instant::now();
    let row = format!("#feed tr[id^='esc-'] a[href$='{}']", angry.case_id);
    let appeared = browser.client.wait().at_most(LIVE_WITHIN * 3).for_element(Locator::Css(&row)).await;
    let after = routed.elapsed();
    assert!(appeared.is_ok(), "the escalation did not appear without a reload");
    assert!(after <= LIVE_WITHIN, "the escalation took {after:?} to appear");
    eprintln!("escalation on the supervisor page {:.0} ms after the post was routed", after.as_secs_f64() * 1000.0);
    browser.screenshot("supervisor-escalation-live").await;

    browser.fill("#feed tr.escalation form.reassign input[name=target]", "billing").await;
    browser.click("#feed tr.escalation form.reassign button").await;
    browser.expect_flash("reassigned to billing").await;
    let view = services.routing_client().get_case(earshot_proto::v1::GetCaseRequest { case_id: angry.case_id }).await;
    let history = view.unwrap().into_inner().history;
    assert!(history.iter().any(|e| e.action == "reassigned"), "{history:?}");
    browser.screenshot("supervisor-reassigned").await;

    // The customer found by handle: the case with every SLA clock and its escalation's next level.
    browser.fill("form.search input[name=q]", "@loud").await;
    browser.click("form.search button").await;
    let clock = browser.text_when("#case tr.clock.running[data-clock=first_response]", counting).await;
    assert!(counting(&clock), "{clock}");
    let escalation = browser.text_when("#case table.case-escalations tbody tr", |t| t.contains("Level 2: ")).await;
    assert!(escalation.contains("reach") && escalation.contains("Level 2: "), "{escalation}");
    assert!(browser.text_of("#case .meta").await.contains("billing"), "after the reassignment");
    browser.screenshot("supervisor-case-clocks").await;
    browser.client.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_key_and_a_form_without_its_csrf_token_are_refused() {
    let (_stack, services, console) = with_console().await;
    let (_, sue) = services.mint_key("default", &["supervisor"], None).await.unwrap();

    let browser = Browser::start().await;
    browser.sign_in(&console, "esk_000000000000_not-a-real-secret").await;
    assert!(browser.text_of("[role=alert]").await.contains("not valid"));
    browser.screenshot("signin-refused").await;

    browser.sign_in(&console, &sue).await;
    browser.text_of("#board").await;
    // A form stripped of its token, as a forged cross-site post would be.
    let strip = "const f = document.querySelector('header form'); f.querySelector('[name=csrf]').remove(); f.submit();";
    browser.client.execute(strip, vec![]).await.unwrap();
    assert!(browser.text_of("[role=alert]").await.contains("out of date"), "{}", browser.body().await);
    browser.screenshot("csrf-refused").await;
    browser.client.goto(&format!("http://{}/supervisor", console.addr)).await.unwrap();
    assert!(browser.text_of("#board").await.contains("Queue"), "the refused sign-out left the session alone");
    browser.client.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_adds_an_sla_policy_and_a_malformed_one_is_refused_by_its_field() {
    let (_stack, services, console) = with_console().await;
    let (_, root) = services.mint_key("default", &["admin"], None).await.unwrap();

    let browser = Browser::start().await;
    browser.sign_in(&console, &root).await;
    let new = "form.policy[data-policy='']";
    browser.fill(&format!("{new} input[name=name]"), "vip").await;
    browser.fill(&format!("{new} input[name=queues]"), "vip, legal").await;
    browser.fill(&format!("{new} input[name=b0_min]"), "0").await;
    browser.fill(&format!("{new} input[name=b0_first]"), "5").await;
    browser.fill(&format!("{new} input[name=b0_next]"), "20").await;
    browser.fill(&format!("{new} input[name=time_zone]"), "Europe/Berlin").await;
    browser.fill(&format!("{new} input[name=hours]"), "mon-fri 08:00-18:00").await;
    browser.click(&format!("{new} button")).await;
    let outcome = browser.text_of(".flash, [role=alert]").await;
    assert!(outcome.contains("Policy vip saved"), "{outcome}");
    let listed = services.escalation_client().list_sla_policies(earshot_proto::v1::ListSlaPoliciesRequest {}).await;
    let policies = listed.unwrap().into_inner().policies;
    let vip = policies.iter().find(|p| p.name == "vip").expect("saved");
    assert_eq!((vip.queues.clone(), vip.targets[0].first_response_minutes), (vec!["vip".into(), "legal".into()], 5));
    assert_eq!(vip.business_hours.as_ref().unwrap().windows.len(), 5);
    let hours = browser.client.find(Locator::Css("form.policy[data-policy='vip'] input[name=hours]")).await.unwrap();
    assert_eq!(hours.prop("value").await.unwrap().unwrap(), "mon-fri 08:00-18:00");
    browser.screenshot("admin-policy-saved").await;

    browser.fill(&format!("{new} input[name=name]"), "late").await;
    browser.fill(&format!("{new} input[name=queues]"), "late").await;
    browser.fill(&format!("{new} input[name=b0_first]"), "50000").await;
    browser.fill(&format!("{new} input[name=b0_next]"), "20").await;
    browser.click(&format!("{new} button")).await;
    let refused = browser.text_of("[role=alert]").await;
    assert!(refused.contains("first_response_minutes"), "escalation names the field: {refused}");
    let listed = services.escalation_client().list_sla_policies(earshot_proto::v1::ListSlaPoliciesRequest {}).await;
    assert!(!listed.unwrap().into_inner().policies.iter().any(|p| p.name == "late"), "nothing saved");
    browser.screenshot("admin-policy-refused").await;
    browser.client.close().await.unwrap();
}
