//! `software:`: the release data `software` checks judge versions against: the table built
//! into picket, or a `software.data` file (endoflife.date's API v1 `/products/full` shape)
//! merged over it.

use std::path::PathBuf;
use std::sync::Arc;

use super::{Ctx, raw};
use crate::files::ReadError;
use crate::software::data::{self, Table};

/// The table of `raw`: the built-in one, or the built-in one with the file's products in
/// place of its own. A file that cannot be read is an error at the `software.data` key; a
/// malformed one, at its own line and column. Either way the built-in table stands in.
pub(super) fn compile_software(ctx: &mut Ctx<'_>, raw: &raw::Software) -> Arc<Table> {
    let builtin = data::builtin();
    let Some(key) = &raw.data else {
        return Arc::clone(builtin);
    };
    let path = PathBuf::from(&key.value);
    let bytes = match crate::files::read_regular(&path, data::MAX_DATA_BYTES) {
        Ok(bytes) => bytes,
        Err(e) => {
            let why = match &e {
                ReadError::Io(io) => io.to_string(),
                other => other.to_string(),
            };
            let hint = e.hint().unwrap_or(
                "a relative path is from the directory picket runs in; get the file with \
                 `curl -fsSL https://endoflife.date/api/v1/products/full > eol.json`",
            );
            ctx.err_hint(
                key,
                format!(
                    "cannot read software.data `{}`: {why}",
                    crate::term::escape_controls(&key.value)
                ),
                hint,
            );
            return Arc::clone(builtin);
        }
    };
    match crate::files::decode(&path, bytes).and_then(|text| data::parse_v1(&path, &text)) {
        Ok(table) => Arc::new(Table::clone(builtin).merged(table)),
        Err(d) => {
            ctx.at.diags.push(d);
            Arc::clone(builtin)
        }
    }
}
