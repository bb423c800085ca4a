//! Release data: per product, its release cycles with release date, end-of-life date and
//! latest version (endoflife.date's meaning of those fields), and the date it was compiled.
