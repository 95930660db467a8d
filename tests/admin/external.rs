//! The console-drain case end to end: `failoverd run` on Route 53 (the moto server), every
//! region healthy, and someone sets us-east-1's weight to 0 in the console. failoverd keeps it
//! there as an external drain (adopt), journals and alarms it, status and the page list it;
//! `failoverd ack` (an operator's, not a viewer's) clears the alarm, and `undrain` ends the
//! adopted drain so the region ramps back, which is failoverd's own move, not news.

use super::*;

const WWW: &str = "www.example.com.";

fn weight_of(s: &Value, region: &str) -> Option<u64> {
    s["regions"]
        .as_array()?
        .iter()
        .find(|r| r["region"] == region)?["actual"]
        .as_u64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_console_drain_is_kept_shown_alarmed_and_acknowledged() {
    let moto = moto::Moto::start().await;
    let client = moto.route53();
    let zone = moto::zone(&client, "example.com.").await;
    let records = ["us-east-1", "eu-west-1"]
        .map(|r| moto::record(WWW, r, &["192.0.2.1"], Some(100), None))
        .to_vec();
    moto::create(&client, &zone, records).await;
    let deep = support::serve(None).await.addr;
    let dir = tempfile::tempdir().expect("tempdir");
    write_pki(dir.path());
    let region = |name: &str, spill: &str| {
        format!(
            "[[regions]]\nname = \"{name}\"\ncapacity_rps = 1000\nspill_to = [\"{spill}\"]\n\
             probes = [{{ url = \"http://{deep}/ok\" }}]\n\
             traffic.route53 = {{ hosted_zone_id = \"{zone}\", record_name = \"{WWW}\", set_identifier = \"{name}\", routing = \"weighted\" }}\n"
        )
    };
    std::fs::write(
        dir.path().join("failoverd.toml"),
        format!(
            "[controller]\nid = \"console\"\ncontrol_region = \"local\"\ntick_interval = \"100ms\"\n\
             [policy]\nsettle = \"0s\"\nfall = 2\nrise = 1\nhold_down = \"0s\"\nmax_step = 50\n\
             [probe]\ninterval = \"100ms\"\njitter = 0.0\n\
             [traffic]\nbackend = \"route53\"\n[traffic.route53]\nconfirm_poll = \"20ms\"\n\
             [store]\nstate_dir = \"{state}\"\n{admin}{a}{b}",
            state = dir.path().join("state").display(),
            admin = admin_section(dir.path()),
            a = region("us-east-1", "eu-west-1"),
            b = region("eu-west-1", "us-east-1"),
        ),
    )
    .expect("write config");
    let mut env = support::local_aws_env(dir.path());
    env.push(("AWS_ENDPOINT_URL_ROUTE_53", moto.url.clone().into()));
    let d = Daemon::start_with(dir.path(), &env).await;
    d.until("both Healthy", |s| {
        s["regions"]
            .as_array()
            .is_some_and(|r| r.len() == 2 && r.iter().all(|r| r["verdict"] == "healthy"))
    })
    .await;

    // The console: us-east-1's weight to 0.
    let record = moto::record(WWW, "us-east-1", &["192.0.2.1"], Some(0), None);
    moto::upsert(&client, &zone, record).await;
    let s = d
        .until("the external change noticed", |s| {
            s["alarms"]
                .as_array()
                .is_some_and(|a| a.iter().any(|a| a["code"] == "external_change"))
        })
        .await;
    assert_eq!(weight_of(&s, "us-east-1"), Some(0), "{s}");
    // Ten more ticks: still 0, not ramped back.
    let ticks = s["ticks"].as_u64().unwrap_or(0);
    let s = d
        .until("ten more ticks", |s| s["ticks"].as_u64() > Some(ticks + 10))
        .await;
    assert_eq!(weight_of(&s, "us-east-1"), Some(0), "{s}");
    assert_eq!(
        moto::by_set_id(&client, &zone, "us-east-1").await.weight(),
        Some(0)
    );

    let out = cli(&d, &["status"], VIEWER).await;
    let status = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        status.contains("EXTERNAL CHANGE: route53 ")
            && status.contains("set to 0% outside failoverd (it had set 100%)")
            && status.contains("external drain: us-east-1 to 0% by external change until "),
        "{status}"
    );
    let (code, page, _) = raw(d.addr, &d.ca, "/", Some(&format!("Bearer {VIEWER}"))).await;
    assert_eq!(code, StatusCode::OK);
    assert!(
        page.contains("<table id=\"external\">") && page.contains("adopted_as_drain"),
        "{page}"
    );
    let journal = std::fs::read_to_string(dir.path().join("state/journal.jsonl")).expect("journal");
    let noticed: Vec<&str> = journal
        .lines()
        .filter(|l| l.contains(r#""kind":"external_change""#))
        .collect();
    assert_eq!(noticed.len(), 1, "{journal}");
    assert!(
        noticed[0].contains(r#""before":100"#)
            && noticed[0].contains(r#""after":0"#)
            && noticed[0].contains(r#""action":"adopted_as_drain""#),
        "{}",
        noticed[0]
    );
    println!("console drain, journal:\n{}\nstatus:\n{status}", noticed[0]);

    // A viewer may not acknowledge; an operator may, and the alarm clears.
    let out = cli(&d, &["ack", "us-east-1"], VIEWER).await;
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("403"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (code, answer) = d
        .call(
            OPERATOR,
            Method::POST,
            "/v1/external/ack",
            Some(json!({"region": "us-east-1", "all": true})),
        )
        .await;
    assert_eq!(code, StatusCode::BAD_REQUEST, "{answer}");
    assert!(answer.to_string().contains("region: "), "{answer}");
    let out = cli(&d, &["ack", "us-east-1"], OPERATOR).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.starts_with("acknowledged: route53 "),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = d
        .until("the alarm cleared", |s| {
            s["alarms"]
                .as_array()
                .is_some_and(|a| a.iter().all(|a| a["code"] != "external_change"))
        })
        .await;
    assert_eq!(
        weight_of(&s, "us-east-1"),
        Some(0),
        "the adopted drain stays: {s}"
    );

    // Undrain: failoverd's own ramp brings it back, and that is not an external change.
    let out = cli(&d, &["undrain", "us-east-1"], OPERATOR).await;
    assert!(out.status.success());
    d.until("us-east-1 back at 100%", |s| {
        weight_of(s, "us-east-1") == Some(100)
    })
    .await;
    let journal = std::fs::read_to_string(dir.path().join("state/journal.jsonl")).expect("journal");
    assert_eq!(
        journal
            .lines()
            .filter(|l| l.contains(r#""kind":"external_change""#))
            .count(),
        1,
        "{journal}"
    );
    assert!(
        journal
            .lines()
            .any(|l| l.contains(r#""kind":"acknowledged""#) && l.contains(r#""actor":"alice""#))
    );
    assert_eq!(d.terminate().await, Some(0));
}
