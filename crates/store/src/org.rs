//! The org tree as stored: official nodes copied from the division codes, local grids added.

use sqlx::Row;
use wardbook_domain::org::{OrgCode, OrgLevel};

use crate::{Result, Store};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgNode {
    pub code: OrgCode,
    pub parent: Option<String>,
    pub name: String,
}

fn node(r: &sqlx::any::AnyRow) -> Result<OrgNode> {
    let code: String = r.try_get("code")?;
    Ok(OrgNode {
        code: OrgCode::parse(&code).map_err(|_| crate::StoreError::Conflict("bad org code in database"))?,
        parent: r.try_get("parent_code")?,
        name: r.try_get("name")?,
    })
}

impl Store {
    /// Inserts or renames a node; re-running with the same tree changes nothing.
    pub async fn org_upsert(&self, code: &OrgCode, name: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO org_nodes (district_code, code, parent_code, level, name) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (district_code, code) DO UPDATE SET name = excluded.name",
        )
        .bind(code.district())
        .bind(code.as_str())
        .bind(code.parent().map(|p| p.as_str().to_string()))
        .bind(code.level().code())
        .bind(name)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn org_get(&self, code: &str) -> Result<OrgNode> {
        let r = sqlx::query("SELECT * FROM org_nodes WHERE district_code = $1 AND code = $2")
            .bind(code.get(..6).unwrap_or_default())
            .bind(code)
            .fetch_one(&self.pool)
            .await?;
        node(&r)
    }

    pub async fn org_children(&self, code: &OrgCode) -> Result<Vec<OrgNode>> {
        let rows = sqlx::query("SELECT * FROM org_nodes WHERE district_code = $1 AND parent_code = $2 ORDER BY code")
            .bind(code.district())
            .bind(code.as_str())
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(node).collect()
    }

    /// Codes of one level under a node (grids of a district, say).
    pub async fn org_codes_under(&self, under: &OrgCode, level: OrgLevel) -> Result<Vec<String>> {
        let rows = sqlx::query("SELECT code FROM org_nodes WHERE district_code = $1 AND level = $2 AND code LIKE $3")
            .bind(under.district())
            .bind(level.code())
            .bind(format!("{under}%"))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| Ok(r.try_get("code")?)).collect()
    }

    /// Nodes of one level under a node, with their names, by code (`under`: none for all).
    pub async fn org_nodes_at(&self, under: Option<&OrgCode>, level: OrgLevel) -> Result<Vec<OrgNode>> {
        let rows = sqlx::query("SELECT code, parent_code, name FROM org_nodes WHERE level = $1 AND code LIKE $2 ORDER BY code")
            .bind(level.code())
            .bind(format!("{}%", under.map(OrgCode::as_str).unwrap_or("")))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(node).collect()
    }

    /// The districts (区) this database holds.
    pub async fn districts(&self) -> Result<Vec<String>> {
        let rows = sqlx::query("SELECT code FROM org_nodes WHERE level = 'district' ORDER BY code").fetch_all(&self.pool).await?;
        rows.iter().map(|r| Ok(r.try_get("code")?)).collect()
    }

    pub async fn org_count(&self, level: OrgLevel) -> Result<i64> {
        let r = sqlx::query("SELECT COUNT(*) AS n FROM org_nodes WHERE level = $1").bind(level.code()).fetch_one(&self.pool).await?;
        Ok(r.try_get("n")?)
    }
}
