//! `use_now`: the current time in milliseconds since the epoch, updated once a second (queue countdowns).

use gloo_timers::callback::Interval;
use yew::prelude::*;

/// The current time, re-rendering the caller every second.
#[hook]
pub fn use_now() -> f64 {
    let now = use_state(js_sys::Date::now);
    {
        let now = now.clone();
        use_effect_with((), move |_| {
            let iv = Interval::new(1000, move || now.set(js_sys::Date::now()));
            move || drop(iv)
        });
    }
    *now
}
