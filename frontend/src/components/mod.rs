//! One file per component.

pub mod banner;
pub mod command_line;
pub mod event_log;
pub mod explain_panel;
pub mod mailbox;
pub mod picker;
pub mod side_panel;
pub mod tabs;
pub mod transcript_view;
pub mod world;
