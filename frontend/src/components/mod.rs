//! One file per component.

pub mod auth_helper;
pub mod banner;
pub mod command_line;
pub mod compose_helper;
pub mod event_log;
pub mod explain_panel;
pub mod lesson_list;
pub mod lesson_panel;
pub mod mailbox;
pub mod picker;
pub mod side_panel;
pub mod skip_controls;
pub mod tabs;
pub mod transcript_view;
pub mod world;
