//! The behaviour suite of issue #4, written once and run against every
//! store: memory, filesystem, SQLite, PostgreSQL, MariaDB, Redis and a
//! Redis Cluster (three masters the suite starts itself).
//!
//! Each numbered behaviour of the issue is one or more functions in
//! `behaviours`; `store_suite!` runs each of them as a test per store.

mod common;

use std::time::Duration;

use axum::http::{StatusCode, header};
use common::{Cart, Harness, Maker};
use unchained_session::config::{SerializationFormat, SessionConfig};
use unchained_session::store::{Record, SaveOutcome};
use unchained_session::{CookieSigner, SessionId, SessionManager};

fn config() -> SessionConfig {
    SessionConfig::default()
}

mod behaviours {
    use super::*;

    /// #1: ids are CSPRNG, >= 128 bits, URL-safe, and new for every session.
    pub async fn ids_are_random_and_url_safe(make: Maker) {
        let h = make(config()).await;
        let a = h.start("k", "v").await;
        let b = h.start("k", "v").await;
        assert_ne!(a, b);
        for id in [&a, &b] {
            assert!(id.len() >= 43, "32 random bytes by default: {id}");
            assert!(
                id.bytes()
                    .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'),
                "{id}"
            );
        }
        h.teardown().await;
    }

    /// #1: signed cookies; fallback keys still verify; tampering fails.
    pub async fn signed_cookies_rotate_keys(make: Maker) {
        let h = make(SessionConfig {
            use_signer: true,
            ..config()
        })
        .await;
        let cookie = h.start("user", "ann").await;
        let (id, sig) = cookie
            .split_once('.')
            .expect("signed cookie is id.signature");
        assert!(
            unchained_session::is_valid_id(id) && sig.len() == 43,
            "{cookie}"
        );
        assert_eq!(h.get("/get/user", Some(&cookie)).await.body, "ann");
        // The bare id, without signature, is refused (no store read).
        let before = h.manager.stats();
        assert_eq!(h.get("/get/user", Some(id)).await.body, "-");
        assert_eq!((h.manager.stats() - before).reads, 0);
        // A forged signature is refused.
        let forged = format!("{id}.{}", "A".repeat(43));
        assert_eq!(h.get("/get/user", Some(&forged)).await.body, "-");
        // Rotation: a new key with the old one as fallback keeps the session.
        let rotated = SessionManager::new(
            h.config.clone(),
            h.manager.store().clone(),
            Some(
                CookieSigner::new(
                    "a-brand-new-secret-key-for-rotation-tests",
                    &[common::SECRET],
                )
                .unwrap(),
            ),
        )
        .unwrap();
        let app = common::app(rotated.clone());
        let reply = common::send(&app, &h.config.cookie_name, "/get/user", Some(&cookie)).await;
        assert_eq!(reply.body, "ann");
        // Without the fallback, the old cookie is anonymous.
        let strict = SessionManager::new(
            h.config.clone(),
            h.manager.store().clone(),
            Some(CookieSigner::new("a-brand-new-secret-key-for-rotation-tests", &[]).unwrap()),
        )
        .unwrap();
        let reply = common::send(
            &common::app(strict),
            &h.config.cookie_name,
            "/get/user",
            Some(&cookie),
        )
        .await;
        assert_eq!(reply.body, "-");
        h.teardown().await;
    }

    /// #2: unknown, malformed, tampered, oversized cookies give a fresh
    /// session; the client's id is never adopted and nothing is written.
    pub async fn strict_mode(make: Maker) {
        let h = make(config()).await;
        let unknown = unchained_session::generate_id(32);
        let huge = "a".repeat(5000);
        for (cookie, reads) in [
            (unknown.as_str(), 1),
            ("not-an-id", 0),
            ("../../etc/passwd", 0),
            (huge.as_str(), 0),
        ] {
            let before = h.manager.stats();
            let reply = h.get("/read", Some(cookie)).await;
            assert_eq!(reply.status, StatusCode::OK);
            assert_eq!(reply.body, "0");
            assert_eq!(
                reply.cookie(&h.config.cookie_name),
                None,
                "nothing set for {cookie:.20}"
            );
            let ops = h.manager.stats() - before;
            assert_eq!((ops.reads, ops.writes), (reads, 0), "cookie {cookie:.20}");
        }
        // Writing with an unknown id makes a new id, never the client's.
        let reply = h.get("/incr", Some(&unknown)).await;
        let new = reply.cookie(&h.config.cookie_name).unwrap();
        assert_ne!(new, unknown);
        let unknown = SessionId::parse(&unknown).unwrap();
        assert!(h.manager.store().load(&unknown).await.unwrap().is_none());
        h.teardown().await;
    }

    /// #2: an expired session's cookie gives a fresh session, not 5xx.
    pub async fn expired_cookie_is_anonymous(make: Maker) {
        let h = make(SessionConfig {
            lifetime: Duration::from_secs(1),
            ..config()
        })
        .await;
        let cookie = h.start("user", "ann").await;
        tokio::time::sleep(Duration::from_millis(2200)).await;
        let reply = h.get("/get/user", Some(&cookie)).await;
        assert_eq!((reply.status, reply.body.as_str()), (StatusCode::OK, "-"));
        assert_eq!(reply.cookie(&h.config.cookie_name), None);
        h.teardown().await;
    }

    /// #3 and acceptance: untouched request 0 operations; read-only request
    /// 1 read and 0 writes; a write 1 read and 1 write.
    pub async fn lazy_and_counted(make: Maker) {
        let h = make(config()).await;
        let before = h.manager.stats();
        let reply = h.get("/anon", None).await;
        assert_eq!(reply.body, "ok");
        assert_eq!(
            h.manager.stats() - before,
            Default::default(),
            "no cookie, untouched"
        );
        // A request with no cookie creates no record.
        let reply = h.get("/read", None).await;
        assert_eq!(reply.body, "0");
        assert_eq!(reply.cookie(&h.config.cookie_name), None);
        assert_eq!(
            (h.manager.stats() - before).total(),
            0,
            "no cookie: nothing to read or write"
        );

        let cookie = h.start("n", "5").await;
        let before = h.manager.stats();
        let reply = h.get("/anon", Some(&cookie)).await;
        assert_eq!(reply.body, "ok");
        assert_eq!(
            h.manager.stats() - before,
            Default::default(),
            "valid cookie, untouched: 0 operations"
        );
        assert_eq!(reply.header(header::VARY), None);

        let before = h.manager.stats();
        let reply = h.get("/get/n", Some(&cookie)).await;
        assert_eq!(reply.body, "5");
        let ops = h.manager.stats() - before;
        assert_eq!(
            (ops.reads, ops.writes, ops.deletes),
            (1, 0, 0),
            "read-only: 1 read, 0 writes"
        );
        assert_eq!(reply.header(header::VARY).as_deref(), Some("Cookie"));
        assert_eq!(reply.cookie(&h.config.cookie_name), None);
        assert_eq!(reply.header(header::CACHE_CONTROL), None);

        let before = h.manager.stats();
        let reply = h.get("/incr", Some(&cookie)).await;
        assert_eq!(reply.status, StatusCode::OK);
        let ops = h.manager.stats() - before;
        assert_eq!(
            (ops.reads, ops.writes),
            (1, 1),
            "a write is one read and one write"
        );
        h.teardown().await;
    }

    /// #3: writes only when the data changed; nested changes are caught.
    pub async fn writes_only_changes(make: Maker) {
        let h = make(config()).await;
        let cookie = h
            .get("/cart/add/apple", None)
            .await
            .cookie(&h.config.cookie_name)
            .unwrap();
        let before = h.manager.stats();
        assert_eq!(h.get("/cart/add/pear", Some(&cookie)).await.body, "2");
        assert_eq!(
            (h.manager.stats() - before).writes,
            1,
            "nested change is written"
        );
        let before = h.manager.stats();
        assert_eq!(h.get("/cart/touch", Some(&cookie)).await.body, "2");
        assert_eq!(
            (h.manager.stats() - before).writes,
            0,
            "same value written back: no write"
        );
        let before = h.manager.stats();
        h.get("/set/n/1", Some(&cookie)).await;
        h.get("/set/n/1", Some(&cookie)).await;
        assert_eq!(
            (h.manager.stats() - before).writes,
            1,
            "setting the same value again: no write"
        );
        let record = h
            .manager
            .store()
            .load(&h.id_of(&cookie))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(record.version, 3, "created, pear added, n set once");
        h.teardown().await;
    }

    /// #3: the expiry refresh of read-only requests is throttled.
    pub async fn refresh_is_throttled(make: Maker) {
        // Lifetime 20 s: a refresh is due after 2 s.
        let h = make(SessionConfig {
            lifetime: Duration::from_secs(20),
            ..config()
        })
        .await;
        let cookie = h.start("k", "v").await;
        let id = h.id_of(&cookie);
        let created = h.manager.store().load(&id).await.unwrap().unwrap();
        // A write before a refresh is due keeps the stored expiry, and so
        // the cookie the browser has: no Set-Cookie.
        let reply = h.get("/set/k2/v2", Some(&cookie)).await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(
            reply.set_cookie_header(),
            None,
            "a write that keeps the expiry sends no cookie"
        );
        let first = h.manager.store().load(&id).await.unwrap().unwrap();
        assert_eq!(first.version, created.version + 1);
        assert_eq!(
            first.expires_at, created.expires_at,
            "a write before the refresh is due keeps the expiry"
        );
        let before = h.manager.stats();
        h.get("/get/k", Some(&cookie)).await;
        assert_eq!(
            (h.manager.stats() - before).writes,
            0,
            "fresh session: no refresh write"
        );
        // Past a tenth of the lifetime (MySQL keeps whole seconds: add 1 s).
        tokio::time::sleep(Duration::from_millis(3100)).await;
        let before = h.manager.stats();
        let reply = h.get("/get/k", Some(&cookie)).await;
        let ops = h.manager.stats() - before;
        assert_eq!((ops.reads, ops.writes), (1, 1), "refresh due: one write");
        assert_eq!(
            reply.cookie(&h.config.cookie_name).as_deref(),
            Some(cookie.as_str()),
            "Max-Age renewed"
        );
        let refreshed = h.manager.store().load(&id).await.unwrap().unwrap();
        assert!(refreshed.expires_at > first.expires_at);
        let before = h.manager.stats();
        h.get("/get/k", Some(&cookie)).await;
        assert_eq!(
            (h.manager.stats() - before).writes,
            0,
            "just refreshed: no write"
        );
        // Once due again, a write carries the new expiry.
        tokio::time::sleep(Duration::from_millis(3100)).await;
        let reply = h.get("/set/k3/v3", Some(&cookie)).await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(
            reply.cookie(&h.config.cookie_name).as_deref(),
            Some(cookie.as_str()),
            "a write that moves the expiry renews the cookie"
        );
        let written = h.manager.store().load(&id).await.unwrap().unwrap();
        assert!(
            written.expires_at > refreshed.expires_at,
            "a write after the refresh is due moves the expiry"
        );
        h.teardown().await;
    }

    /// #4: an empty session is never stored; clearing deletes the record
    /// and expires the cookie.
    pub async fn empty_is_never_stored(make: Maker) {
        let h = make(config()).await;
        let before = h.manager.stats();
        let reply = h.get("/set-and-remove", None).await;
        assert_eq!(reply.cookie(&h.config.cookie_name), None);
        assert_eq!((h.manager.stats() - before).writes, 0);

        let cookie = h.start("k", "v").await;
        let reply = h.get("/clear", Some(&cookie)).await;
        assert_eq!(
            reply.cookie(&h.config.cookie_name).as_deref(),
            Some(""),
            "cookie expired"
        );
        assert!(reply.set_cookie_header().unwrap().contains("Max-Age=0"));
        assert!(
            h.manager
                .store()
                .load(&h.id_of(&cookie))
                .await
                .unwrap()
                .is_none()
        );
        assert_eq!(h.get("/get/k", Some(&cookie)).await.body, "-");
        // Removing the last key does the same.
        let cookie = h.start("k", "v").await;
        let reply = h.get("/remove/k", Some(&cookie)).await;
        assert_eq!(reply.cookie(&h.config.cookie_name).as_deref(), Some(""));
        assert!(
            h.manager
                .store()
                .load(&h.id_of(&cookie))
                .await
                .unwrap()
                .is_none()
        );
        h.teardown().await;
    }

    /// #5: regenerate gives a new id with the same data; the old id is dead
    /// at once; a failing handler after regenerate keeps the session.
    pub async fn regenerate_replaces_atomically(make: Maker) {
        let h = make(config()).await;
        let old = h.start("user", "ann").await;
        let reply = h.get("/regenerate", Some(&old)).await;
        let new = reply.cookie(&h.config.cookie_name).unwrap();
        assert_ne!(new, old);
        assert_eq!(h.get("/get/user", Some(&new)).await.body, "ann");
        assert_eq!(h.get("/get/user", Some(&old)).await.body, "-");
        let store = h.manager.store();
        assert!(store.load(&h.id_of(&old)).await.unwrap().is_none());
        assert!(store.load(&h.id_of(&new)).await.unwrap().is_some());

        let reply = h.get("/regenerate-then-fail", Some(&new)).await;
        assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
        let newest = reply
            .cookie(&h.config.cookie_name)
            .expect("the failed response still carries the new id");
        assert_eq!(
            h.get("/get/user", Some(&newest)).await.body,
            "ann",
            "session not lost"
        );
        h.teardown().await;
    }

    /// #5 and acceptance: destroy removes the record; replaying the old
    /// cookie afterwards is anonymous.
    pub async fn destroy_kills_the_cookie(make: Maker) {
        let h = make(config()).await;
        let cookie = h.start("user", "ann").await;
        let reply = h.get("/destroy", Some(&cookie)).await;
        assert_eq!(reply.cookie(&h.config.cookie_name).as_deref(), Some(""));
        assert_eq!(
            reply.header(header::CACHE_CONTROL).as_deref(),
            Some("no-store")
        );
        assert!(
            h.manager
                .store()
                .load(&h.id_of(&cookie))
                .await
                .unwrap()
                .is_none()
        );
        // A saved copy of the cookie is worth nothing now.
        let before = h.manager.stats();
        let replay = h.get("/get/user", Some(&cookie)).await;
        assert_eq!((replay.status, replay.body.as_str()), (StatusCode::OK, "-"));
        assert_eq!((h.manager.stats() - before).writes, 0);
        h.teardown().await;
    }

    /// #6: idle lifetime and absolute lifetime, both enforced on load.
    pub async fn idle_and_absolute_lifetime(make: Maker) {
        let h = make(SessionConfig {
            lifetime: Duration::from_secs(100),
            absolute_lifetime: Some(Duration::from_secs(4)),
            ..config()
        })
        .await;
        let cookie = h.start("k", "v").await;
        let record = h
            .manager
            .store()
            .load(&h.id_of(&cookie))
            .await
            .unwrap()
            .unwrap();
        assert!(
            record.expires_at <= record.created_at + chrono::Duration::seconds(5),
            "record expiry capped by the absolute lifetime"
        );
        assert_eq!(h.get("/get/k", Some(&cookie)).await.body, "v");
        tokio::time::sleep(Duration::from_millis(4600)).await;
        assert_eq!(
            h.get("/get/k", Some(&cookie)).await.body,
            "-",
            "absolute lifetime over"
        );
        h.teardown().await;
    }

    /// #6: a non-permanent session has a browser-session cookie, but the
    /// server still expires the record.
    pub async fn non_permanent_still_expires(make: Maker) {
        // 3 s, not 1: MySQL's DATETIME keeps whole seconds, so a 1 s
        // lifetime could already be over when the next request reads it.
        let h = make(SessionConfig {
            permanent: false,
            lifetime: Duration::from_secs(3),
            ..config()
        })
        .await;
        let reply = h.get("/set/k/v", None).await;
        let header = reply.set_cookie_header().unwrap();
        assert!(
            !header.contains("Max-Age") && !header.contains("Expires"),
            "{header}"
        );
        let cookie = reply.cookie(&h.config.cookie_name).unwrap();
        assert_eq!(h.get("/get/k", Some(&cookie)).await.body, "v");
        tokio::time::sleep(Duration::from_millis(4200)).await;
        assert_eq!(h.get("/get/k", Some(&cookie)).await.body, "-");
        h.teardown().await;
    }

    /// #7: cookie attributes and cache headers.
    pub async fn cookie_attributes(make: Maker) {
        let h = make(config()).await;
        let reply = h.get("/set/k/v", None).await;
        let header = reply.set_cookie_header().unwrap();
        assert!(header.contains("; HttpOnly"), "{header}");
        assert!(header.contains("; SameSite=Lax"), "{header}");
        assert!(header.contains("; Path=/"), "{header}");
        assert!(
            !header.contains("Secure"),
            "not secure outside production: {header}"
        );
        assert_eq!(
            reply.header(header::CACHE_CONTROL).as_deref(),
            Some("no-store")
        );
        assert_eq!(reply.header(header::VARY).as_deref(), Some("Cookie"));
        h.teardown().await;

        let h = make(SessionConfig {
            cookie_name: "__Host-session".into(),
            cookie_secure: false,
            ..config()
        })
        .await;
        let reply = h.get("/set/k/v", None).await;
        let header = reply.set_cookie_header().unwrap();
        assert!(header.starts_with("__Host-session="), "{header}");
        assert!(
            header.contains("; Secure")
                && header.contains("; Path=/")
                && !header.contains("Domain")
        );
        let cookie = reply.cookie("__Host-session").unwrap();
        assert_eq!(h.get("/get/k", Some(&cookie)).await.body, "v");
        h.teardown().await;
    }

    /// #8: cleanup deletes expired records in batches and counts them.
    pub async fn cleanup_in_batches(make: Maker) {
        let h = make(SessionConfig {
            lifetime: Duration::from_secs(1),
            ..config()
        })
        .await;
        let mut cookies = Vec::new();
        for _ in 0..25 {
            cookies.push(h.start("k", "v").await);
        }
        tokio::time::sleep(Duration::from_millis(2200)).await;
        let mut progress = Vec::new();
        let deleted = h.manager.cleanup(10, |n| progress.push(n)).await.unwrap();
        if h.manager.store().name() == "redis" {
            // Redis expires keys itself.
            assert_eq!(deleted, 0);
        } else {
            assert_eq!(deleted, 25);
            assert_eq!(progress, vec![10, 20, 25]);
        }
        for cookie in &cookies {
            assert!(
                h.manager
                    .store()
                    .load(&h.id_of(cookie))
                    .await
                    .unwrap()
                    .is_none()
            );
        }
        assert_eq!(h.manager.cleanup(10, |_| {}).await.unwrap(), 0);
        h.teardown().await;
    }

    /// #9: store down gives 503 (never a panic, never a fake success),
    /// then service resumes by itself.
    pub async fn store_down_then_recovers(make: Maker) {
        let h = make(config()).await;
        let cookie = h.start("n", "1").await;
        assert!(
            h.store_down().await,
            "run this behaviour only on stores that can be taken down"
        );
        let anon = h.get("/anon", Some(&cookie)).await;
        assert_eq!(
            anon.status,
            StatusCode::OK,
            "untouched requests do not need the store"
        );
        let read = h.get("/get/n", Some(&cookie)).await;
        assert_eq!(
            read.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{}",
            read.body
        );
        let write = h.get("/set/k/v", None).await;
        assert_eq!(write.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            write.cookie(&h.config.cookie_name),
            None,
            "no cookie for a write that was not done"
        );
        assert!(h.manager.stats().errors >= 2);
        h.store_up().await;
        let mut status = StatusCode::SERVICE_UNAVAILABLE;
        for _ in 0..20 {
            let reply = h.get("/get/n", Some(&cookie)).await;
            status = reply.status;
            if status == StatusCode::OK {
                assert_eq!(reply.body, "1");
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert_eq!(
            status,
            StatusCode::OK,
            "service resumes when the store is back"
        );
        h.teardown().await;
    }

    /// #10 and acceptance: 100 concurrent requests on one session give no
    /// 5xx. Documented final state: every key written by any request is
    /// there (changes merge per key), and a counter read-modify-written by
    /// all of them ends between 1 and 100 (last writer wins per key).
    pub async fn concurrent_requests(make: Maker) {
        let h = make(config()).await;
        let cookie = h.start("n", "0").await;
        let mut tasks = Vec::new();
        for i in 0..100 {
            let app = h.app.clone();
            let cookie = cookie.clone();
            let name = h.config.cookie_name.clone();
            tasks.push(tokio::spawn(async move {
                let a = common::send(&app, &name, &format!("/set/key{i}/{i}"), Some(&cookie)).await;
                let b = common::send(&app, &name, "/incr", Some(&cookie)).await;
                (a.status, b.status)
            }));
        }
        for task in tasks {
            let (a, b) = task.await.unwrap();
            assert_eq!((a, b), (StatusCode::OK, StatusCode::OK));
        }
        for i in [0, 17, 50, 99] {
            assert_eq!(
                h.get(&format!("/get/key{i}"), Some(&cookie)).await.body,
                i.to_string()
            );
        }
        let n: i64 = h.get("/read", Some(&cookie)).await.body.parse().unwrap();
        assert!((1..=100).contains(&n), "n = {n}");
        h.teardown().await;
    }

    /// `Session::update`: 100 concurrent increments of one session's
    /// counter from 1 end at exactly 101, every request answers 200, and
    /// each answer is a value that was stored (so they are 2..=101, each
    /// once). The requests are split across two app processes (two
    /// managers, two store connections). Changes made before the update in
    /// the same request are kept.
    pub async fn update_loses_nothing(make: Maker) {
        let h = make(config()).await;
        let (other, _other_manager) = h.sibling().await;
        let cookie = h.start("n", "1").await;
        let mut tasks = Vec::new();
        for i in 0..100 {
            let app = if i % 2 == 0 {
                h.app.clone()
            } else {
                other.clone()
            };
            let cookie = cookie.clone();
            let name = h.config.cookie_name.clone();
            tasks.push(tokio::spawn(async move {
                let path = if i % 10 == 0 {
                    format!("/mark-then-count/mark{i}")
                } else {
                    "/count".to_owned()
                };
                common::send(&app, &name, &path, Some(&cookie)).await
            }));
        }
        let mut answers = Vec::new();
        for task in tasks {
            let reply = task.await.unwrap();
            assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
            answers.push(reply.body.parse::<i64>().unwrap());
        }
        answers.sort_unstable();
        assert_eq!(answers, (2..=101).collect::<Vec<i64>>());
        assert_eq!(h.get("/read", Some(&cookie)).await.body, "101");
        for i in [0, 50, 90] {
            assert_eq!(
                h.get(&format!("/get/mark{i}"), Some(&cookie)).await.body,
                "true"
            );
        }

        // A visitor without a session gets one, created by the update.
        let reply = h.get("/count", None).await;
        assert_eq!((reply.status, reply.body.as_str()), (StatusCode::OK, "1"));
        let fresh = reply
            .cookie(&h.config.cookie_name)
            .expect("the update created a session");
        assert_eq!(h.get("/count", Some(&fresh)).await.body, "2");
        h.teardown().await;
    }

    /// Owner tagging: list and destroy all sessions of one owner.
    pub async fn owner_sessions(make: Maker) {
        let h = make(config()).await;
        let owner = common::unique("user-");
        let mut cookies = Vec::new();
        for _ in 0..2 {
            let cookie = h.start("k", "v").await;
            let reply = h.get(&format!("/owner/{owner}"), Some(&cookie)).await;
            cookies.push(
                reply
                    .cookie(&h.config.cookie_name)
                    .expect("login regenerates"),
            );
        }
        let other = h.start("k", "other").await;
        let sessions = h.manager.list_owner_sessions(&owner).await.unwrap();
        assert_eq!(sessions.len(), 2);
        let mut ids: Vec<String> = sessions.iter().map(|s| s.id.clone()).collect();
        ids.sort();
        let mut expected: Vec<String> = cookies.iter().map(|c| h.id_of(c).into_string()).collect();
        expected.sort();
        assert_eq!(ids, expected);
        // "Log out my other devices": keep the newest, end the other two.
        let third = h.start("k", "v").await;
        let reply = h.get(&format!("/owner/{owner}"), Some(&third)).await;
        let third = reply.cookie(&h.config.cookie_name).unwrap();
        let ended = h
            .manager
            .destroy_owner_sessions_except(&owner, h.id_of(&third).as_str())
            .await
            .unwrap();
        assert_eq!(ended, 2);
        assert_eq!(h.get("/get/k", Some(&cookies[0])).await.body, "-");
        assert_eq!(h.get("/get/k", Some(&third)).await.body, "v");
        let reply = h
            .get(&format!("/logout-everywhere/{owner}"), Some(&other))
            .await;
        assert_eq!(reply.body, "1");
        cookies.push(third);
        for cookie in &cookies {
            assert_eq!(h.get("/get/k", Some(cookie)).await.body, "-");
        }
        assert_eq!(h.get("/get/k", Some(&other)).await.body, "other");
        assert!(
            h.manager
                .list_owner_sessions(&owner)
                .await
                .unwrap()
                .is_empty()
        );
        h.teardown().await;
    }

    /// #11: JSON serialization works as well as msgpack.
    pub async fn json_format(make: Maker) {
        let h = make(SessionConfig {
            serialization_format: SerializationFormat::Json,
            ..config()
        })
        .await;
        let cookie = h
            .get("/cart/add/apple", None)
            .await
            .cookie(&h.config.cookie_name)
            .unwrap();
        let record = h
            .manager
            .store()
            .load(&h.id_of(&cookie))
            .await
            .unwrap()
            .unwrap();
        let value: serde_json::Value = serde_json::from_slice(&record.data).unwrap();
        let cart: Cart = serde_json::from_value(value["cart"].clone()).unwrap();
        assert_eq!(cart.items, vec!["apple".to_owned()]);
        assert_eq!(h.get("/cart/add/pear", Some(&cookie)).await.body, "2");
        h.teardown().await;
    }

    /// #12: two app processes sharing the store behave as one.
    pub async fn scale_out(make: Maker) {
        let h = make(config()).await;
        let (other, other_manager) = h.sibling().await;
        let name = h.config.cookie_name.clone();
        let reply = common::send(&other, &name, "/set/user/ann", None).await;
        let cookie = reply.cookie(&name).unwrap();
        assert_eq!(
            h.get("/get/user", Some(&cookie)).await.body,
            "ann",
            "made on B, used on A"
        );
        h.get("/destroy", Some(&cookie)).await;
        let reply = common::send(&other, &name, "/get/user", Some(&cookie)).await;
        assert_eq!(reply.body, "-", "destroyed on A, dead on B");
        assert_eq!(
            other_manager.stats().reads,
            1,
            "B read once: the replayed cookie"
        );
        h.teardown().await;
    }

    /// The store contract itself: compare-and-swap and atomic rename.
    pub async fn store_contract(make: Maker) {
        let h = make(config()).await;
        let store = h.manager.store().clone();
        let now = chrono::Utc::now();
        let record = |version: u64, data: &[u8]| Record {
            data: data.to_vec(),
            version,
            owner: None,
            created_at: now,
            expires_at: now + chrono::Duration::seconds(60),
        };
        let id = SessionId::generate(32);
        assert_eq!(
            store.save(&id, &record(1, b"a"), None).await.unwrap(),
            SaveOutcome::Saved
        );
        assert_eq!(
            store.save(&id, &record(1, b"b"), None).await.unwrap(),
            SaveOutcome::Conflict,
            "create twice"
        );
        assert_eq!(
            store.save(&id, &record(2, b"c"), Some(1)).await.unwrap(),
            SaveOutcome::Saved
        );
        assert_eq!(
            store.save(&id, &record(2, b"d"), Some(1)).await.unwrap(),
            SaveOutcome::Conflict,
            "stale version"
        );
        let loaded = store.load(&id).await.unwrap().unwrap();
        assert_eq!(
            (loaded.version, loaded.data.as_slice()),
            (2, b"c".as_slice())
        );
        let new = SessionId::generate(32);
        assert_eq!(
            store.rename(&id, &new, &record(3, b"e"), 1).await.unwrap(),
            SaveOutcome::Conflict
        );
        assert_eq!(
            store.rename(&id, &new, &record(3, b"e"), 2).await.unwrap(),
            SaveOutcome::Saved
        );
        assert!(store.load(&id).await.unwrap().is_none());
        assert_eq!(store.load(&new).await.unwrap().unwrap().data, b"e");
        assert!(store.delete(&new).await.unwrap());
        assert!(!store.delete(&new).await.unwrap());
        assert_eq!(
            store.save(&new, &record(4, b"f"), Some(3)).await.unwrap(),
            SaveOutcome::Conflict,
            "gone"
        );
        h.teardown().await;
    }
}

/// Runs every behaviour against one store; stores that can be taken down
/// (a server behind a proxy, a folder) add `store_down_then_recovers`.
macro_rules! store_suite {
    ($store:ident, $make:path $(, $extra:ident)*) => {
        mod $store {
            use super::behaviours;

            store_suite!(@tests $make;
                ids_are_random_and_url_safe, signed_cookies_rotate_keys, strict_mode,
                expired_cookie_is_anonymous, lazy_and_counted, writes_only_changes,
                refresh_is_throttled, empty_is_never_stored, regenerate_replaces_atomically,
                destroy_kills_the_cookie, idle_and_absolute_lifetime, non_permanent_still_expires,
                cookie_attributes, cleanup_in_batches, concurrent_requests, update_loses_nothing,
                owner_sessions, json_format, scale_out, store_contract $(, $extra)*);
        }
    };
    (@tests $make:path; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                behaviours::$name($make).await;
            }
        )*
    };
}

// Memory cannot go down, and a SQLite file has no server to stop: they
// run every behaviour but the outage.
store_suite!(memory, crate::common::memory);
store_suite!(
    filesystem,
    crate::common::filesystem,
    store_down_then_recovers
);
store_suite!(sqlite, crate::common::sqlite);
store_suite!(postgres, crate::common::postgres, store_down_then_recovers);
store_suite!(mariadb, crate::common::mysql, store_down_then_recovers);
store_suite!(redis, crate::common::redis_store, store_down_then_recovers);
// The cluster has no proxy to stop (its client follows the addresses the
// nodes announce): every behaviour but the outage.
store_suite!(redis_cluster, crate::common::redis_cluster_store);

/// The members of the sorted set at `key`.
async fn members<C: ::redis::aio::ConnectionLike + Send>(conn: &mut C, key: &str) -> Vec<String> {
    ::redis::cmd("ZRANGE")
        .arg(key)
        .arg(0)
        .arg(-1)
        .query_async(conn)
        .await
        .unwrap()
}

/// The Redis owner index, on one server and on a cluster: an entry whose
/// session is not written yet (a cluster write adds the entry first) is
/// kept by listing, and its session is listed once written; an entry past
/// the grace period whose session is gone, or has another owner, is
/// dropped. A revoke fences the index while it runs (an owned write is
/// refused), deletes the owner's sessions and drops their entries at once,
/// and stops a write still on its way to a recent entry (a tombstone).
async fn owner_index_keeps_pending_entries<C>(h: Harness, conn: &mut C, prefix: &str)
where
    C: ::redis::aio::ConnectionLike + Send,
{
    let store = h.manager.store().clone();
    let owner = common::unique("user-");
    let index = format!("{prefix}owners:{owner}");
    let now = chrono::Utc::now();
    let record = |owner: &str| Record {
        data: b"d".to_vec(),
        version: 1,
        owner: Some(owner.to_owned()),
        created_at: now,
        expires_at: now + chrono::Duration::seconds(60),
    };
    let [pending, gone, moved, late] = [(); 4].map(|_| SessionId::generate(32));
    let long_ago = now.timestamp_millis() - 11 * 60 * 1000;
    assert_eq!(
        store
            .save(&moved, &record("someone-else"), None)
            .await
            .unwrap(),
        SaveOutcome::Saved
    );
    let zadd = |score: i64, id: &SessionId| {
        ::redis::cmd("ZADD")
            .arg(&index)
            .arg(score)
            .arg(id.as_str())
            .clone()
    };
    for (score, id) in [
        (now.timestamp_millis(), &pending),
        (long_ago, &gone),
        (long_ago, &moved),
    ] {
        let added: i64 = zadd(score, id).query_async(conn).await.unwrap();
        assert_eq!(added, 1);
    }
    assert!(store.list_by_owner(&owner).await.unwrap().is_empty());
    assert_eq!(
        members(conn, &index).await,
        vec![pending.as_str().to_owned()],
        "only the pending entry stays"
    );

    // The second step lands: the session is listed.
    assert_eq!(
        store.save(&pending, &record(&owner), None).await.unwrap(),
        SaveOutcome::Saved
    );
    let listed = store.list_by_owner(&owner).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, pending.as_str());
    let ttl: i64 = ::redis::cmd("PTTL")
        .arg(&index)
        .query_async(conn)
        .await
        .unwrap();
    assert!(
        ttl > 50_000,
        "the index lives as long as its sessions: {ttl}"
    );

    // A revoke while `late`'s write is between its two steps.
    let _: i64 = zadd(now.timestamp_millis(), &late)
        .query_async(conn)
        .await
        .unwrap();
    assert_eq!(store.delete_by_owner(&owner).await.unwrap(), 1);
    assert!(store.load(&pending).await.unwrap().is_none());
    assert_eq!(
        store.save(&late, &record(&owner), None).await.unwrap(),
        SaveOutcome::Conflict,
        "the write that was on its way is stopped"
    );
    assert!(store.load(&late).await.unwrap().is_none());
    assert!(
        store.load(&moved).await.unwrap().is_some(),
        "not this owner's"
    );
    assert_eq!(
        members(conn, &index).await,
        vec![late.as_str().to_owned()],
        "the revoked session's entry and the fence are gone"
    );

    // While a revoke runs (its fence stands), no session is written under
    // the owner; anonymous ones are.
    let fence = now.timestamp_millis() + 60_000;
    let _: i64 = ::redis::cmd("ZADD")
        .arg(&index)
        .arg(fence)
        .arg("~revoking")
        .query_async(conn)
        .await
        .unwrap();
    let err = store
        .save(&SessionId::generate(32), &record(&owner), None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("being ended"), "{err}");
    let anonymous = Record {
        owner: None,
        ..record(&owner)
    };
    assert_eq!(
        store
            .save(&SessionId::generate(32), &anonymous, None)
            .await
            .unwrap(),
        SaveOutcome::Saved
    );
    let _: i64 = ::redis::cmd("DEL")
        .arg(&index)
        .query_async(conn)
        .await
        .unwrap();
    assert!(store.delete(&moved).await.unwrap());
    h.teardown().await;
}

/// "Log out everywhere" while the owner's sessions are being regenerated
/// (each moves to a new id: on Redis the index is read, then each session
/// deleted, so a session can move between the two): every one of them ends.
async fn revoke_ends_sessions_being_regenerated(make: Maker) {
    let h = make(config()).await;
    let owner = common::unique("user-");
    let name = h.config.cookie_name.clone();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let cookie = h.start("k", "v").await;
        let reply = h.get(&format!("/owner/{owner}"), Some(&cookie)).await;
        let mut cookie = reply.cookie(&name).unwrap();
        let (app, name, stop) = (h.app.clone(), name.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut moves = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let reply = common::send(&app, &name, "/regenerate", Some(&cookie)).await;
                match reply.cookie(&name) {
                    Some(new) if !new.is_empty() => {
                        cookie = new;
                        moves += 1;
                    }
                    _ => tokio::task::yield_now().await,
                }
            }
            (cookie, moves)
        }));
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    h.manager.destroy_owner_sessions(&owner).await.unwrap();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut moves = 0;
    for task in tasks {
        let (cookie, n) = task.await.unwrap();
        moves += n;
        assert_eq!(
            h.get("/get/k", Some(&cookie)).await.body,
            "-",
            "a session regenerated during the revoke survived it"
        );
    }
    assert!(moves > 8, "the sessions were regenerating: {moves} moves");
    assert!(
        h.manager
            .list_owner_sessions(&owner)
            .await
            .unwrap()
            .is_empty()
    );
    h.teardown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_revoke_ends_sessions_being_regenerated() {
    revoke_ends_sessions_being_regenerated(common::redis_store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cluster_revoke_ends_sessions_being_regenerated() {
    revoke_ends_sessions_being_regenerated(common::redis_cluster_store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_owner_index_keeps_pending_entries() {
    let h = common::redis_store(config()).await;
    let common::Backend::Redis { url, prefix } = h.backend.clone() else {
        unreachable!()
    };
    let client = ::redis::Client::open(url.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    owner_index_keeps_pending_entries(h, &mut conn, &prefix).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cluster_owner_index_keeps_pending_entries() {
    let h = common::redis_cluster_store(config()).await;
    let common::Backend::RedisCluster { urls, prefix } = h.backend.clone() else {
        unreachable!()
    };
    let client = ::redis::cluster::ClusterClient::new(urls).unwrap();
    let mut conn = client.get_async_connection().await.unwrap();
    owner_index_keeps_pending_entries(h, &mut conn, &prefix).await;
}

/// The sessions of one owner, and the owner's index, spread over the
/// cluster's three masters: the test above would pass on one node too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cluster_spreads_keys_over_every_master() {
    let h = common::redis_cluster_store(config()).await;
    let owner = common::unique("user-");
    for _ in 0..24 {
        let cookie = h.start("k", "v").await;
        let reply = h.get(&format!("/owner/{owner}"), Some(&cookie)).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    }
    let common::Backend::RedisCluster { urls, prefix } = h.backend.clone() else {
        unreachable!()
    };
    for url in &urls {
        let client = ::redis::Client::open(url.as_str()).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        let keys: Vec<String> = ::redis::cmd("KEYS")
            .arg(format!("{prefix}*"))
            .query_async(&mut conn)
            .await
            .unwrap();
        assert!(!keys.is_empty(), "{url} holds some of the test's keys");
    }
    assert_eq!(
        h.manager.list_owner_sessions(&owner).await.unwrap().len(),
        24
    );
    assert_eq!(h.manager.destroy_owner_sessions(&owner).await.unwrap(), 24);
    assert!(
        h.manager
            .list_owner_sessions(&owner)
            .await
            .unwrap()
            .is_empty()
    );
    h.teardown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn periodic_cleanup_task_deletes_expired_records() {
    let store = unchained_session::store::MemoryStore::new();
    let config = SessionConfig {
        lifetime: Duration::from_secs(1),
        ..config()
    };
    let manager = common::manager(config.clone(), std::sync::Arc::new(store.clone()));
    let app = common::app(manager.clone());
    for _ in 0..3 {
        common::send(&app, "session", "/set/k/v", None).await;
    }
    assert_eq!(store.len(), 3);
    let task = manager.spawn_cleanup_task(Duration::from_secs(1));
    tokio::time::sleep(Duration::from_millis(3500)).await;
    task.abort();
    assert_eq!(store.len(), 0, "expired records removed by the task");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cleanup_every_n_requests() {
    let store = unchained_session::store::MemoryStore::new();
    let config = SessionConfig {
        lifetime: Duration::from_secs(1),
        cleanup_n_requests: Some(5),
        ..config()
    };
    let manager = common::manager(config, std::sync::Arc::new(store.clone()));
    let app = common::app(manager.clone());
    for _ in 0..2 {
        common::send(&app, "session", "/set/k/v", None).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for _ in 0..2 {
        common::send(&app, "session", "/anon", None).await;
    }
    assert_eq!(store.len(), 2, "4 requests: no cleanup yet");
    common::send(&app, "session", "/anon", None).await;
    for _ in 0..50 {
        if store.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(store.is_empty(), "the 5th request started a cleanup");
}

#[tokio::test]
async fn cleanup_command_output_shows_progress() {
    let store = unchained_session::store::MemoryStore::new();
    let manager = common::manager(
        SessionConfig {
            lifetime: Duration::from_secs(1),
            ..config()
        },
        std::sync::Arc::new(store.clone()),
    );
    let app = common::app(manager.clone());
    for _ in 0..5 {
        common::send(&app, "session", "/set/k/v", None).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut out = Vec::new();
    let deleted = unchained_session::cleanup::run(&manager, 2, &mut out)
        .await
        .unwrap();
    assert_eq!(deleted, 5);
    let text = String::from_utf8(out).unwrap();
    assert_eq!(
        text,
        "... 2 expired sessions deleted so far\n... 4 expired sessions deleted so far\n\
         Deleted 5 expired sessions from the memory store.\n"
    );
}

#[tokio::test]
async fn null_store_reads_empty_and_refuses_writes() {
    let manager = common::manager(
        config(),
        std::sync::Arc::new(unchained_session::store::NullStore),
    );
    let app = common::app(manager);
    let reply = common::send(&app, "session", "/read", None).await;
    assert_eq!((reply.status, reply.body.as_str()), (StatusCode::OK, "0"));
    let reply = common::send(&app, "session", "/incr", None).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(reply.cookie("session"), None);
}

#[tokio::test]
async fn filesystem_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let h: Harness = common::filesystem(config()).await;
    let cookie = h.start("k", "v").await;
    let common::Backend::Filesystem(dir) = &h.backend else {
        unreachable!()
    };
    let mode = std::fs::metadata(dir.join(h.id_of(&cookie).as_str()))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    // No temporary file is left behind: the session's file and the
    // writers' lock file, private too.
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, [".lock", h.id_of(&cookie).as_str()]);
    let lock_mode = std::fs::metadata(dir.join(".lock"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(lock_mode & 0o777, 0o600);
}

/// #9: the log says why a request got 503.
#[test]
fn store_failure_is_logged_with_the_reason() {
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Capture {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    // A current-thread runtime keeps every task on this thread, where the
    // subscriber is the default.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    tracing::subscriber::with_default(subscriber, || {
        runtime.block_on(async {
            let h = common::filesystem(config()).await;
            let cookie = h.start("k", "v").await;
            assert!(h.store_down().await);
            let reply = h.get("/get/k", Some(&cookie)).await;
            assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
            h.store_up().await;
        })
    });
    let log = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(
        log.contains("ERROR")
            && log.contains("filesystem session store unavailable")
            && log.contains("op=\"load\""),
        "{log}"
    );
}
