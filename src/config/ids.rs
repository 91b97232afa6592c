//! The names the administrator gives queues and menus, as newtypes so a queue id is
//! never passed where a menu id is meant. (Languages and prompt ids are media's:
//! [`crate::media::prompts::Lang`], [`crate::media::prompts::PromptId`].)

use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! id_newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            /// Wraps a name; validation has checked the ones from the file.
            pub fn new(s: impl Into<String>) -> Self {
                $name(s.into())
            }

            /// The name as written.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
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

id_newtype!(
    /// A department queue (`medical`, `fire`, ...): lowercase letters, digits, `_`.
    QueueId
);
id_newtype!(
    /// A menu of the IVR tree (`main`, ...).
    MenuId
);
