//! The job status API over the apalis tables, on SQLite and PostgreSQL:
//! list with filters, show, cancel, retry of exhausted jobs, and 4xx for bad
//! input.

mod common;

use common::*;
use sea_orm::ConnectionTrait;
use serde_json::Value;

async fn jobs_case(db: Db) {
    std::env::set_var("ORDERHUB_API_TOKEN", "ops-secret");
    let sb = Sandbox::start().await;
    let app = app(&fresh_db(db).await, &sb.base, "").await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(orderhub::server::serve(app.clone(), listener));
    // No workers run in this test: the job stays where we put it.
    app.queue
        .push_poll(orderhub::jobs::PollChannel {
            channel_id: "shop".into(),
        })
        .await
        .unwrap();
    let c = reqwest::Client::new();
    let get = |path: String| {
        c.get(format!("{base}{path}"))
            .bearer_auth("ops-secret")
            .send()
    };
    let post = |path: String| {
        c.post(format!("{base}{path}"))
            .bearer_auth("ops-secret")
            .send()
    };

    assert_eq!(
        c.get(format!("{base}/api/jobs"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    let list: Value = get("/api/jobs?channel=shop".into())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let jobs = list["jobs"].as_array().unwrap();
    assert_eq!(jobs.len(), 1, "{list}");
    assert_eq!(jobs[0]["status"], "Pending");
    assert_eq!(jobs[0]["args"]["channel_id"], "shop");
    let id = jobs[0]["id"].as_str().unwrap().to_string();
    let none: Value = get("/api/jobs?channel=other".into())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(none["jobs"].as_array().unwrap().len(), 0);
    assert_eq!(
        get("/api/jobs?status=Bogus".into()).await.unwrap().status(),
        400
    );
    assert_eq!(get("/api/jobs?limit=x".into()).await.unwrap().status(), 400);
    assert_eq!(get("/api/jobs/nope".into()).await.unwrap().status(), 404);
    assert_eq!(
        post("/api/jobs/nope/retry".into()).await.unwrap().status(),
        404
    );

    // Pending can be cancelled (once); a cancelled job can be retried.
    assert_eq!(
        post(format!("/api/jobs/{id}/cancel"))
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        post(format!("/api/jobs/{id}/cancel"))
            .await
            .unwrap()
            .status(),
        409
    );
    let shown: Value = get(format!("/api/jobs/{id}"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(shown["status"], "Killed");
    assert_eq!(
        post(format!("/api/jobs/{id}/retry"))
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        post(format!("/api/jobs/{id}/retry"))
            .await
            .unwrap()
            .status(),
        409,
        "pending: nothing to retry"
    );

    // An exhausted job stays visible as failed until retried with fresh attempts.
    let table = if db == Db::Sqlite {
        "Jobs"
    } else {
        "apalis.jobs"
    };
    app.store
        .db()
        .execute_unprepared(&format!(
            "UPDATE {table} SET status = 'Failed', attempts = max_attempts, last_result = '{{\"Err\":\"boom\"}}' WHERE id = '{id}'"
        ))
        .await
        .unwrap();
    let failed: Value = get("/api/jobs?status=Failed".into())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        failed["jobs"][0]["last_result"]
            .as_str()
            .unwrap()
            .contains("boom"),
        "{failed}"
    );
    assert_eq!(
        post(format!("/api/jobs/{id}/retry"))
            .await
            .unwrap()
            .status(),
        200
    );
    let shown: Value = get(format!("/api/jobs/{id}"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (shown["status"].as_str(), shown["attempts"].as_i64()),
        (Some("Pending"), Some(0))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_api_sqlite() {
    jobs_case(Db::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_api_postgres() {
    jobs_case(Db::Postgres).await
}
