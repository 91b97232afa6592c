//! The names the administrator gives queues and menus, as newtypes so a queue id is
//! never passed where a menu id is meant. (Languages and prompt ids are media's:
//! [`crate::media::prompts::Lang`], [`crate::media::prompts::PromptId`].)

crate::name::name_type!(
    /// A department queue (`medical`, `fire`, ...): lowercase letters, digits, `_`.
    QueueId
);
crate::name::name_type!(
    /// A menu of the IVR tree (`main`, ...).
    MenuId
);
