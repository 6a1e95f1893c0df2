//! Column code: `ColumnDef::new(...)` with its type, and the steps that
//! add or change a column on each backend.

use std::fmt::Write as _;

use sea_orm::DbBackend;
use sea_query::{ColumnType, StringLen};

use super::{MigrationWriter, lit, quote, raw_lit};
use crate::schema::{Column, render_column_type};

impl MigrationWriter {
    /// `ColumnDef::new(...)` with type, nullability, default and key.
    pub(super) fn column(&self, column: &Column, primary_key: bool) -> String {
        let mut code = format!(
            "ColumnDef::new({}){}",
            lit(&column.name),
            self.type_call(&column.col_type)
        );
        code.push_str(if column.nullable {
            ".null()"
        } else {
            ".not_null()"
        });
        if column.auto_increment {
            code.push_str(".auto_increment()");
        }
        if primary_key {
            code.push_str(".primary_key()");
        }
        if let Some(default) = &column.default {
            let _ = write!(code, ".default(Expr::cust({}))", lit(default));
        }
        code
    }

    /// The builder call that sets `ty`; a type with no builder method is
    /// written as the backend's SQL through `.custom(...)`.
    pub(super) fn type_call(&self, ty: &ColumnType) -> String {
        match ty {
            ColumnType::Char(Some(n)) => format!(".char_len({n})"),
            ColumnType::Char(None) => ".char()".into(),
            ColumnType::String(StringLen::N(n)) => format!(".string_len({n})"),
            ColumnType::String(StringLen::None) => ".string()".into(),
            ColumnType::Text => ".text()".into(),
            ColumnType::Blob => ".blob()".into(),
            ColumnType::TinyInteger => ".tiny_integer()".into(),
            ColumnType::SmallInteger => ".small_integer()".into(),
            ColumnType::Integer => ".integer()".into(),
            ColumnType::BigInteger => ".big_integer()".into(),
            ColumnType::TinyUnsigned => ".tiny_unsigned()".into(),
            ColumnType::SmallUnsigned => ".small_unsigned()".into(),
            ColumnType::Unsigned => ".unsigned()".into(),
            ColumnType::BigUnsigned => ".big_unsigned()".into(),
            ColumnType::Float => ".float()".into(),
            ColumnType::Double => ".double()".into(),
            ColumnType::Decimal(Some((p, s))) => format!(".decimal_len({p}, {s})"),
            ColumnType::Decimal(None) => ".decimal()".into(),
            ColumnType::DateTime => ".date_time()".into(),
            ColumnType::Timestamp => ".timestamp()".into(),
            ColumnType::TimestampWithTimeZone => ".timestamp_with_time_zone()".into(),
            ColumnType::Time => ".time()".into(),
            ColumnType::Date => ".date()".into(),
            ColumnType::Year => ".year()".into(),
            ColumnType::Binary(n) => format!(".binary_len({n})"),
            ColumnType::VarBinary(StringLen::N(n)) => format!(".var_binary({n})"),
            ColumnType::Boolean => ".boolean()".into(),
            ColumnType::Json => ".json()".into(),
            ColumnType::JsonBinary => ".json_binary()".into(),
            ColumnType::Uuid => ".uuid()".into(),
            other => format!(".custom({})", lit(&render_column_type(self.backend, other))),
        }
    }

    pub(super) fn add_column(&self, out: &mut String, table: &str, column: &Column) {
        let Some(fill) = self.fill_for_add(column) else {
            self.alter(
                out,
                table,
                &format!("add_column({})", self.column(column, false)),
            );
            return;
        };
        // Rows that exist need a value before NOT NULL can hold.
        let nullable = Column {
            nullable: true,
            ..column.clone()
        };
        self.alter(
            out,
            table,
            &format!("add_column({})", self.column(&nullable, false)),
        );
        let sql = format!(
            "UPDATE {} SET {} = {fill}",
            quote(self.backend, table),
            quote(self.backend, &column.name)
        );
        let _ = writeln!(
            out,
            "        db.execute_unprepared({}).await?;",
            raw_lit(&sql)
        );
        self.alter_column(out, table, &nullable, column);
    }

    pub(super) fn alter_column(&self, out: &mut String, table: &str, from: &Column, to: &Column) {
        if self.backend == DbBackend::MySql {
            // MODIFY COLUMN replaces the whole definition.
            self.alter(
                out,
                table,
                &format!("modify_column({})", self.column(to, false)),
            );
            return;
        }
        // PostgreSQL: ALTER COLUMN each changed part.
        let mut code = format!("ColumnDef::new({})", lit(&to.name));
        let mut changed = false;
        if crate::schema::type_key(self.backend, &from.col_type)
            != crate::schema::type_key(self.backend, &to.col_type)
        {
            code.push_str(&self.type_call(&to.col_type));
            changed = true;
        }
        if from.nullable != to.nullable {
            code.push_str(if to.nullable {
                ".null()"
            } else {
                ".not_null()"
            });
            changed = true;
        }
        if let Some(default) = &to.default
            && from.default.as_deref().map(crate::schema::default_key)
                != Some(crate::schema::default_key(default))
        {
            let _ = write!(code, ".default(Expr::cust({}))", lit(default));
            changed = true;
        }
        if changed {
            self.alter(out, table, &format!("modify_column({code})"));
        }
        if from.default.is_some() && to.default.is_none() {
            let sql = format!(
                "ALTER TABLE {} ALTER COLUMN {} DROP DEFAULT",
                quote(self.backend, table),
                quote(self.backend, &to.name)
            );
            let _ = writeln!(
                out,
                "        db.execute_unprepared({}).await?;",
                raw_lit(&sql)
            );
        }
    }
}
