//! Names an administrator gives things in the config (queues, menus, languages,
//! prompts): each its own newtype over `String`, so a queue id is never passed where a
//! menu id is meant. One macro makes them all alike: `new`, `as_str`, `Display`, and
//! comparison with `&str`; serde sees the plain string.

/// A newtype over `String` for one kind of name.
macro_rules! name_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, ::serde::Serialize, ::serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            /// Wraps a name; the config validates the ones from its file.
            pub fn new(s: impl Into<String>) -> Self {
                $name(s.into())
            }

            /// The name as written.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
    };
}

pub(crate) use name_type;
