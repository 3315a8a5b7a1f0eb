//! The `when` expression language of a rule (written next).
