//! Who is calling (invariant 8). Two kinds of bearer token:
//!
//! - the ops (admin) token, read from the environment variable
//!   `server.api_token_env` names: sees every seller;
//! - a seller's token (`orderhub tokens create --seller S`), stored only as a
//!   SHA-256: sees that seller's channels, orders, shipments, jobs and KPIs.
//!
//! The token comes in `Authorization: Bearer …` or, for the dashboard, in
//! the `orderhub_token` cookie (HttpOnly, set by `POST /login`).

use super::ApiError;
use crate::app::App;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use std::sync::Arc;

/// The dashboard's session cookie: the caller's token itself.
pub const TOKEN_COOKIE: &str = "orderhub_token";

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// `None` for the ops token (every seller); else the one seller this
    /// caller may see.
    pub seller: Option<String>,
}

impl Caller {
    pub fn admin() -> Caller {
        Caller { seller: None }
    }

    pub fn is_admin(&self) -> bool {
        self.seller.is_none()
    }

    /// Whether this caller may see a row owned by `seller_id`.
    pub fn sees(&self, seller_id: &str) -> bool {
        self.seller.as_deref().is_none_or(|s| s == seller_id)
    }

    /// A 404 (not a 403: another seller's ids are not confirmed to exist)
    /// unless this caller may see `seller_id`'s row.
    pub fn check(&self, seller_id: &str) -> Result<(), ApiError> {
        if self.sees(seller_id) {
            Ok(())
        } else {
            Err(not_found())
        }
    }

    /// The seller filter for store queries (`None` = all sellers).
    pub fn scope(&self) -> Option<&str> {
        self.seller.as_deref()
    }

    /// A 403 unless this is the ops token.
    pub fn require_admin(&self) -> Result<(), ApiError> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(ApiError(
                StatusCode::FORBIDDEN,
                "this needs the ops token".into(),
            ))
        }
    }
}

pub fn not_found() -> ApiError {
    ApiError(StatusCode::NOT_FOUND, "not found".into())
}

/// The token a request carries, from the header or the dashboard cookie.
pub fn token_of(parts: &Parts) -> Option<&str> {
    if let Some(v) = parts.headers.get(header::AUTHORIZATION) {
        return v.to_str().ok().and_then(|v| v.strip_prefix("Bearer "));
    }
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == TOKEN_COOKIE)
        .map(|(_, v)| v)
}

/// Who `token` is: the ops token, a live seller token, or nobody.
pub async fn resolve(app: &App, token: &str) -> Result<Option<Caller>, ApiError> {
    if token.is_empty() || token.len() > 512 {
        return Ok(None);
    }
    if let Some(expected) = &app.api_token {
        if constant_time_eq(expected.as_bytes(), token.as_bytes()) {
            return Ok(Some(Caller::admin()));
        }
    }
    // Looked up by hash: the comparison happens on a digest, in the database.
    Ok(app
        .store
        .seller_for_token(token)
        .await?
        .map(|seller| Caller {
            seller: Some(seller),
        }))
}

impl FromRequestParts<Arc<App>> for Caller {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, ApiError> {
        let unauthorized = || {
            ApiError(
                StatusCode::UNAUTHORIZED,
                "missing or wrong bearer token".into(),
            )
        };
        let token = token_of(parts).ok_or_else(unauthorized)?;
        resolve(app, token).await?.ok_or_else(unauthorized)
    }
}

pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
