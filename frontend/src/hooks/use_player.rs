//! `use_player`: times the lesson player. When a step is due ([`AppState::next_play`]), it waits the step's pace
//! (fast for the prelude, about a second for "Show me", so each exchange can be read), then dispatches the step and
//! sends its messages; while a step waits for its reply it only keeps a deadline, so a reply that never completes
//! stops the player instead of leaving the page stuck. The decisions are the reducer's; this hook only keeps time.

use gloo_timers::callback::Timeout;
use mailroom_core::wire::ClientMsg;
use yew::prelude::*;

use crate::lesson::STEP_TIMEOUT_MS;
use crate::state::{Action, AppState};

/// Plays the current lesson's steps on `send` (the session's own sender: played steps are not the learner's
/// actions).
#[hook]
pub fn use_player(state: UseReducerHandle<AppState>, send: Callback<ClientMsg>) {
    // The timer fires later: it must act on the state as it is then, not as it was when it was set.
    let latest = use_mut_ref(|| state.clone());
    *latest.borrow_mut() = state.clone();
    let key =
        state.lesson.as_ref().and_then(|r| r.player.as_ref().map(|p| (r.serial, p.next, p.wait.is_some())));
    let pace = state.lesson.as_ref().and_then(|r| r.player.as_ref()).map_or(0, |p| p.pace_ms());
    use_effect_with(key, move |key| {
        let timer = match *key {
            Some((_, _, false)) => Some(Timeout::new(pace, move || {
                let s = latest.borrow().clone();
                if let Some(play) = s.next_play() {
                    s.dispatch(play.action);
                    for m in play.msgs {
                        send.emit(m);
                    }
                }
            })),
            Some((_, _, true)) => {
                Some(Timeout::new(STEP_TIMEOUT_MS, move || latest.borrow().dispatch(Action::StopPlaying)))
            }
            None => None,
        };
        move || drop(timer)
    });
}
