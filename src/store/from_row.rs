//! `sqlx::FromRow` for the store's records, written out by `from_row!` instead of
//! `#[derive(sqlx::FromRow)]`: the derive lives in `sqlx-macros`, which once enabled compiles
//! sqlx's SQLite and PostgreSQL drivers (and SQLite's C source) a second time for the compiler
//! host, most of a minute of every clean build (see also `store::schema`).
//!
//! The impl is the derive's: generic over the row type, one `try_get` per field by column name,
//! so the generic `SqlStore<DB>` code reads these records on every database it runs on.

/// Wraps a struct definition and adds its `FromRow`: each field reads the column of its own
/// name, or the one a `#[column = "…"]` line (after the field's doc comment) names.
macro_rules! from_row {
    (
        $(#[$attr:meta])*
        $vis:vis struct $name:ident {
            $(
                $(#[doc = $doc:expr])*
                $(#[column = $column:literal])?
                $field_vis:vis $field:ident : $ty:ty
            ),+ $(,)?
        }
    ) => {
        $(#[$attr])*
        $vis struct $name {
            $($(#[doc = $doc])* $field_vis $field: $ty,)+
        }

        impl<'r, R: ::sqlx::Row> ::sqlx::FromRow<'r, R> for $name
        where
            &'r str: ::sqlx::ColumnIndex<R>,
            $($ty: ::sqlx::Decode<'r, R::Database> + ::sqlx::Type<R::Database>,)+
        {
            fn from_row(row: &'r R) -> Result<Self, ::sqlx::Error> {
                Ok($name {
                    $($field: ::sqlx::Row::try_get(row, from_row!(@column $field $($column)?))?,)+
                })
            }
        }
    };
    (@column $field:ident) => {
        stringify!($field)
    };
    (@column $field:ident $column:literal) => {
        $column
    };
}

pub(crate) use from_row;
