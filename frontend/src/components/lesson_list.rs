//! The lesson list: every lesson by chapter, a tick for each completed in this browser, each a link to
//! `/?lesson=ID` (so it can be opened in a new tab or shared) that starts it in place; "Reset progress".

use yew::prelude::*;

use crate::app::use_ctx;
use crate::lesson::chapters;
use crate::state::Action;

#[function_component(LessonList)]
pub fn lesson_list() -> Html {
    let ctx = use_ctx();
    let s = &ctx.state;
    if s.catalogue.is_empty() {
        return html! {};
    }
    let current = s.lesson.as_ref().map(|r| r.lesson.id.clone());
    let embed = if s.preset.embed { "&embed=1" } else { "" };
    let done_count = s.catalogue.iter().filter(|e| s.done.contains(&e.id)).count();
    let d = s.dispatcher();
    let reset = Callback::from(move |_| d.dispatch(Action::ResetProgress));
    html! {
        <nav class="lesson-list" id="lesson-list" aria-label="Lessons">
            <p class="muted">{ format!("{done_count} of {} lessons done", s.catalogue.len()) }</p>
            { for chapters(&s.catalogue).into_iter().map(|(chapter, entries)| html! {
                <section class="chapter">
                    <h3>{ chapter }</h3>
                    <ol>{ for entries.into_iter().map(|e| {
                        let done = s.done.contains(&e.id);
                        let ctx = ctx.clone();
                        let id = e.id.clone();
                        let onclick = Callback::from(move |ev: MouseEvent| {
                            ev.prevent_default();
                            ctx.start_lesson(&id, false, false);
                        });
                        let here = current.as_deref() == Some(e.id.as_str());
                        html! {
                            <li class={classes!(done.then_some("done"), here.then_some("here"))}>
                                <a href={format!("?lesson={}{embed}", e.id)} data-lesson-entry={e.id.clone()}
                                    data-done={done.to_string()} {onclick} aria-current={here.then_some("true")}>
                                    <span class="tick" aria-hidden="true">{ if done { "✓" } else { "○" } }</span>
                                    { e.title.clone() }
                                    if done { <span class="sr-only">{ " (done)" }</span> }
                                </a>
                            </li>
                        }
                    }) }</ol>
                </section>
            }) }
            if done_count > 0 {
                <button id="reset-progress" onclick={reset}>{ "Reset progress" }</button>
            }
        </nav>
    }
}
