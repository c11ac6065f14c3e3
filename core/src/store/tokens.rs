//! Sellers' API tokens (invariant 8). The store sees only the SHA-256 of a
//! token: [`token_hash`] is applied before any lookup or insert.

use super::entities::api_token;
use super::{now, Store};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
};
use sha2::{Digest, Sha256};

/// Hex SHA-256 of a token: what the store keeps and looks up.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A token as listed (never the token itself).
#[derive(Debug, Clone, serde::Serialize)]
pub struct TokenInfo {
    pub id: i64,
    pub seller_id: String,
    pub name: String,
    /// The token's first characters, to tell tokens apart.
    pub prefix: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub revoked_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl From<api_token::Model> for TokenInfo {
    fn from(m: api_token::Model) -> Self {
        TokenInfo {
            id: m.id,
            seller_id: m.seller_id,
            name: m.name,
            prefix: m.prefix,
            created_at: m.created_at,
            revoked_at: m.revoked_at,
        }
    }
}

impl Store {
    /// Store a new token for `seller_id`; returns its id.
    pub async fn create_token(
        &self,
        seller_id: &str,
        name: &str,
        token: &str,
    ) -> Result<i64, DbErr> {
        let prefix: String = token.chars().take(12).collect();
        let m = api_token::ActiveModel {
            seller_id: Set(seller_id.into()),
            name: Set(name.into()),
            token_hash: Set(token_hash(token)),
            prefix: Set(prefix),
            created_at: Set(now()),
            revoked_at: Set(None),
            ..Default::default()
        }
        .insert(&self.db)
        .await?;
        Ok(m.id)
    }

    /// Revoke a token; false when there is no such token or it was revoked.
    pub async fn revoke_token(&self, id: i64) -> Result<bool, DbErr> {
        let r = api_token::Entity::update_many()
            .col_expr(
                api_token::Column::RevokedAt,
                sea_orm::sea_query::Expr::value(now()),
            )
            .filter(api_token::Column::Id.eq(id))
            .filter(api_token::Column::RevokedAt.is_null())
            .exec(&self.db)
            .await?;
        Ok(r.rows_affected == 1)
    }

    /// The seller a live token belongs to.
    pub async fn seller_for_token(&self, token: &str) -> Result<Option<String>, DbErr> {
        Ok(api_token::Entity::find()
            .filter(api_token::Column::TokenHash.eq(token_hash(token)))
            .filter(api_token::Column::RevokedAt.is_null())
            .one(&self.db)
            .await?
            .map(|m| m.seller_id))
    }

    /// Every token (revoked ones too), optionally one seller's.
    pub async fn tokens(&self, seller_id: Option<&str>) -> Result<Vec<TokenInfo>, DbErr> {
        let mut q = api_token::Entity::find().order_by_asc(api_token::Column::Id);
        if let Some(s) = seller_id {
            q = q.filter(api_token::Column::SellerId.eq(s));
        }
        Ok(q.all(&self.db)
            .await?
            .into_iter()
            .map(TokenInfo::from)
            .collect())
    }
}
