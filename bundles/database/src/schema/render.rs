//! SQL text of types and defaults, and the normalized keys the diff
//! compares (so that `int4` and `integer`, or `now()` and
//! `CURRENT_TIMESTAMP`, are not reported as changes).

use sea_orm::DbBackend;
use sea_query::{
    ColumnType, Expr, MysqlQueryBuilder, PostgresQueryBuilder, QueryBuilder, SqliteQueryBuilder,
    TableBuilder,
};

/// The backend's SQL for `ty`, e.g. `varchar(255)`.
pub fn render_column_type(backend: DbBackend, ty: &ColumnType) -> String {
    let mut sql = String::new();
    match backend {
        DbBackend::Postgres => PostgresQueryBuilder.prepare_column_type(ty, &mut sql),
        DbBackend::MySql => MysqlQueryBuilder.prepare_column_type(ty, &mut sql),
        _ => SqliteQueryBuilder.prepare_column_type(ty, &mut sql),
    }
    sql
}

/// The backend's SQL for a default expression, values inlined.
pub fn render_default(backend: DbBackend, expr: &Expr) -> String {
    let mut sql = String::new();
    match backend {
        DbBackend::Postgres => PostgresQueryBuilder.prepare_expr(expr, &mut sql),
        DbBackend::MySql => MysqlQueryBuilder.prepare_expr(expr, &mut sql),
        _ => SqliteQueryBuilder.prepare_expr(expr, &mut sql),
    }
    sql
}

/// A key equal for two types the database treats as the same.
pub fn type_key(backend: DbBackend, ty: &ColumnType) -> String {
    sql_type_key(backend, &render_column_type(backend, ty))
}

/// [`type_key`] of a type given as SQL text (e.g. a declared type).
pub fn sql_type_key(backend: DbBackend, sql: &str) -> String {
    let sql = sql.trim().to_ascii_lowercase();
    match backend {
        // SQLite keeps the declared type text; sea-schema parses it back
        // into a sea-query type, so pass the model's type the same way.
        DbBackend::Sqlite => {
            let parsed =
                sea_schema::sqlite::def::parse_type(sql.clone()).unwrap_or(ColumnType::custom(sql));
            render_column_type(backend, &parsed).to_ascii_lowercase()
        }
        DbBackend::Postgres => postgres_alias(&sql).to_owned(),
        _ => mysql_alias(&sql),
    }
}

fn postgres_alias(sql: &str) -> &str {
    match sql {
        "int" | "int4" | "serial" => "integer",
        "int2" | "smallserial" => "smallint",
        "int8" | "bigserial" => "bigint",
        "bool" => "boolean",
        "float4" => "real",
        "float8" => "double precision",
        "timestamp" => "timestamp without time zone",
        "timestamptz" => "timestamp with time zone",
        "time" => "time without time zone",
        "varchar" => "character varying",
        "decimal" => "numeric",
        other => other,
    }
}

fn mysql_alias(sql: &str) -> String {
    // `decimal(10, 2)` and `decimal(10,2)` are one type.
    let squashed = sql.replace(", ", ",");
    let sql = squashed.as_str();
    // MariaDB reports display widths (`int(11)`); MySQL 8 does not.
    let base = match sql.split_once('(') {
        Some((name, _))
            if ["int", "bigint", "smallint", "tinyint", "mediumint"].contains(&name.trim()) =>
        {
            let unsigned = sql.contains("unsigned");
            return if unsigned {
                format!("{} unsigned", name.trim())
            } else {
                name.trim().to_owned()
            };
        }
        _ => sql,
    };
    match base {
        "bool" | "boolean" => "tinyint".to_owned(),
        // MariaDB's JSON is an alias of LONGTEXT.
        "json" => "longtext".to_owned(),
        "integer" => "int".to_owned(),
        other => other.to_owned(),
    }
}

/// The SQL value existing rows get when a NOT NULL column without a
/// default is added: the type's "zero" (`''`, `0`, the current time...).
/// `None` for types with no obvious zero.
pub fn fill_value(backend: DbBackend, ty: &ColumnType) -> Option<String> {
    let value = match ty {
        ColumnType::Char(_) | ColumnType::String(_) | ColumnType::Text => "''",
        ColumnType::TinyInteger
        | ColumnType::SmallInteger
        | ColumnType::Integer
        | ColumnType::BigInteger
        | ColumnType::TinyUnsigned
        | ColumnType::SmallUnsigned
        | ColumnType::Unsigned
        | ColumnType::BigUnsigned
        | ColumnType::Float
        | ColumnType::Double
        | ColumnType::Decimal(_)
        | ColumnType::Money(_)
        | ColumnType::Year => "0",
        ColumnType::Boolean if backend == DbBackend::Postgres => "false",
        ColumnType::Boolean => "0",
        ColumnType::DateTime | ColumnType::Timestamp | ColumnType::TimestampWithTimeZone => {
            "CURRENT_TIMESTAMP"
        }
        ColumnType::Date => "CURRENT_DATE",
        ColumnType::Time => "CURRENT_TIME",
        ColumnType::Blob | ColumnType::Binary(_) | ColumnType::VarBinary(_) => match backend {
            DbBackend::Postgres => "''::bytea",
            DbBackend::Sqlite => "X''",
            _ => "''",
        },
        ColumnType::Json | ColumnType::JsonBinary => "'{}'",
        ColumnType::Uuid => "'00000000-0000-0000-0000-000000000000'",
        _ => return None,
    };
    Some(value.to_owned())
}

/// A key equal for two defaults the database treats as the same.
pub fn default_key(default: &str) -> String {
    let mut text = default.trim().to_ascii_lowercase();
    // PostgreSQL adds casts: 'x'::character varying, 0::bigint.
    if let Some(idx) = text.find("::")
        && (!text[..idx].contains('(') || text.starts_with('('))
    {
        text.truncate(idx);
    }
    while text.starts_with('(') && text.ends_with(')') {
        text = text[1..text.len() - 1].trim().to_owned();
    }
    match text.as_str() {
        "now()" | "current_timestamp()" | "current_timestamp" => "current_timestamp".to_owned(),
        "true" => "1".to_owned(),
        "false" => "0".to_owned(),
        _ => {
            // Quoted numbers and numbers are the same default; so are
            // SQLite's quoted booleans.
            let unquoted = text.trim_matches('\'');
            if unquoted == "true" {
                "1".to_owned()
            } else if unquoted == "false" {
                "0".to_owned()
            } else if unquoted.parse::<f64>().is_ok() {
                unquoted.trim_end_matches(".0").to_owned()
            } else {
                text
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_query::StringLen;

    #[test]
    fn equal_types_have_equal_keys() {
        let pg = DbBackend::Postgres;
        assert_eq!(type_key(pg, &ColumnType::Integer), "integer");
        assert_eq!(
            type_key(pg, &ColumnType::String(StringLen::N(255))),
            "varchar(255)"
        );
        assert_eq!(
            type_key(DbBackend::Sqlite, &ColumnType::Integer),
            type_key(DbBackend::Sqlite, &ColumnType::BigInteger)
        );
        assert_eq!(mysql_alias("int(11)"), "int");
        assert_eq!(mysql_alias("bool"), "tinyint");
    }

    #[test]
    fn equal_defaults_have_equal_keys() {
        assert_eq!(
            default_key("CURRENT_TIMESTAMP"),
            default_key("current_timestamp()")
        );
        assert_eq!(default_key("now()"), "current_timestamp");
        assert_eq!(default_key("'abc'::character varying"), "'abc'");
        assert_eq!(default_key("'0'"), default_key("0"));
        assert_ne!(default_key("'a'"), default_key("'b'"));
    }
}
