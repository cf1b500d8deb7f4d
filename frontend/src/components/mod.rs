//! One file per component.

pub mod auth_helper;
pub mod banner;
pub mod command_line;
pub mod compose_helper;
pub mod event_log;
pub mod explain_panel;
pub mod host_settings;
pub mod ladder_view;
pub mod lesson_list;
pub mod lesson_panel;
pub mod mailbox;
pub mod picker;
pub mod queue_panel;
pub mod replay_bar;
pub mod side_panel;
pub mod skip_controls;
pub mod tabs;
pub mod transcript_view;
pub mod world;
pub mod world_info;
pub mod world_strip;
